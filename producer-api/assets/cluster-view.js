// The cluster view's script (served at /admin/cluster/cluster-view.js, behind the admin key); see producer-api/routes/cluster-view-page.ts.
(function () {
  'use strict';
  var POLL_MS = 2000;
  // Absolute URLs from location.origin: a page opened as http://user:key@host/... has credentials
  // in its own URL, and fetch refuses any URL that carries them (a relative one inherits them).
  var BASE = window.location.origin;
  var DATA_URL = BASE + '/admin/cluster/models';
  var DECISIONS_URL = BASE + '/admin/cluster/decisions';
  var TENANTS_URL = BASE + '/admin/cluster/tenants';
  var PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

  function esc(v) {
    return String(v == null ? '' : v).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  /** Every size on the page goes through here: binary units (GiB, MiB), as nvidia-smi reports memory. */
  function gb(n) {
    if (n == null || !isFinite(n)) return '–';
    if (n >= 1073741824) return (n / 1073741824).toFixed(1) + ' GiB';
    if (n >= 1048576) return (n / 1048576).toFixed(0) + ' MiB';
    if (n >= 1024) return (n / 1024).toFixed(0) + ' KiB';
    return Math.round(n) + ' B';
  }
  function hashColor(name) {
    var h = 0;
    for (var i = 0; i < name.length; i++) h = (Math.imul(h, 31) + name.charCodeAt(i)) >>> 0;
    return PALETTE[h % PALETTE.length];
  }
  function pct(part, whole) {
    return whole > 0 ? Math.max(0, Math.min(100, (part / whole) * 100)) : 0;
  }
  function ago(iso) {
    var s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    return s + ' s ago';
  }

  /** One bar: total capacity, segments [{model, bytes, loading, active}] drawn to scale. */
  function bar(testid, key, total, segments, usedBytes) {
    var html = '<div class="bar" data-testid="' + esc(testid) + '" data-key="' + esc(key) + '" data-total-bytes="' + esc(total) + '">';
    var drawn = 0;
    segments.forEach(function (s) {
      var w = pct(s.bytes, total);
      drawn += s.bytes;
      var label = s.model + ' ' + gb(s.bytes) + (s.loading ? ' (loading)' : s.active ? ' · ' + s.active + ' active' : '');
      html += '<div class="seg' + (s.loading ? ' loading' : '') + '" data-testid="segment" data-model="' + esc(s.model) +
        '" data-bytes="' + esc(s.bytes) + '" data-state="' + (s.loading ? 'loading' : 'resident') + '" title="' + esc(label) +
        '" style="width:' + w.toFixed(3) + '%;--c:' + hashColor(s.model) + '"><span>' + esc(label) + '</span></div>';
    });
    if (usedBytes != null && usedBytes > drawn) {
      html += '<div class="seg other" title="' + esc('other use ' + gb(usedBytes - drawn)) + '" style="width:' + pct(usedBytes - drawn, total).toFixed(3) + '%"></div>';
    }
    return html + '</div>';
  }

  function render(body) {
    var models = body.data || [];
    var workers = (body.workers || []).slice().sort(function (a, b) { return a.id < b.id ? -1 : a.id > b.id ? 1 : 0; });
    var byWorker = {};
    workers.forEach(function (w) { byWorker[w.id] = []; });
    models.forEach(function (m) {
      (m.resident_on || []).forEach(function (r) {
        (byWorker[r.worker] = byWorker[r.worker] || []).push({ model: m.id, bytes: r.estimated_bytes || r.size_bytes || 0, active: r.active_jobs || 0 });
      });
      (m.loading_on || []).forEach(function (l) {
        var est = (m.footprint && (m.footprint.measured_bytes || m.footprint.estimated_bytes)) || m.size_bytes || 0;
        (byWorker[l.worker] = byWorker[l.worker] || []).push({ model: m.id, bytes: est, loading: true });
      });
    });

    var wh = '';
    workers.forEach(function (w) {
      var segs = byWorker[w.id] || [];
      // Memory used is the worker's own figure, the one /v1/models reports (used_bytes).
      var used = w.used_bytes != null ? w.used_bytes : segs.filter(function (s) { return !s.loading; }).reduce(function (a, s) { return a + s.bytes; }, 0);
      wh += '<section class="worker" data-testid="worker" data-worker-id="' + esc(w.id) + '">' +
        '<h3><span data-testid="worker-id">' + esc(w.id) + '</span> <small>' + esc(w.engine) + ' · ' + esc(w.state) +
        (w.engine_healthy === false ? ' · <b class="bad">engine unhealthy</b>' : '') +
        ' · ' + esc(w.active_jobs) + ' active · ' + esc(w.free_slots) + ' free slots · ' +
        '<span data-testid="worker-used" data-bytes="' + esc(used) + '">' + esc(gb(used)) + ' used of ' + esc(gb(w.capacity_bytes)) + '</span></small></h3>' +
        bar('worker-bar', w.id, w.capacity_bytes, segs, null);
      (w.gpus || []).forEach(function (g) {
        wh += '<div class="gpu" data-testid="gpu" data-gpu-uuid="' + esc(g.uuid) + '"><div class="gpu-label">GPU ' + esc(g.index) + ' ' + esc(g.name) +
          ' · ' + esc(gb(g.memory_used_bytes)) + ' used of ' + esc(gb(g.memory_total_bytes)) + '</div>' +
          bar('gpu-bar', g.uuid, g.memory_total_bytes, w.gpus.length === 1 ? segs : [], g.memory_used_bytes) + '</div>';
      });
      wh += '</section>';
    });
    if (!workers.length) wh = '<p class="empty">No workers are sending heartbeats.</p>';
    document.getElementById('workers').innerHTML = wh;

    var th = '';
    models.forEach(function (m) {
      var q = m.queue || {};
      var replicas = (m.resident_on || []).map(function (r) { return r.worker; });
      var loading = (m.loading_on || []).map(function (l) { return l.worker; });
      th += '<tr data-testid="model-row" data-model="' + esc(m.id) + '">' +
        '<td><i class="swatch" style="--c:' + hashColor(m.id) + '"></i><span data-testid="model-name">' + esc(m.id) + '</span></td>' +
        '<td class="num">' + esc(gb(m.size_bytes)) + '</td>' +
        '<td class="num">' + esc(gb(m.footprint && (m.footprint.measured_bytes || m.footprint.estimated_bytes))) + '</td>' +
        '<td class="num" data-testid="queue-waiting">' + esc(q.waiting || 0) + '</td>' +
        '<td class="num" data-testid="queue-active">' + esc(q.active || 0) + '</td>' +
        '<td class="num" data-testid="replicas">' + esc(replicas.length) + '</td>' +
        '<td>' + esc(replicas.join(', ')) + (loading.length ? ' <em>loading on ' + esc(loading.join(', ')) + '</em>' : '') + '</td>' +
        '<td data-testid="operator">' + (m.operator ? esc(m.operator.kind) + (m.operator.until ? ' until ' + esc(new Date(m.operator.until).toLocaleTimeString()) : ' until the next operator command') : '') + '</td></tr>';
    });
    document.getElementById('models').innerHTML = th || '<tr><td colspan="8" class="empty">No models in the catalog.</td></tr>';

    var lh = '';
    models.forEach(function (m) {
      (m.loading_on || []).forEach(function (l) {
        lh += '<li data-testid="loading-entry">load <b>' + esc(m.id) + '</b> on ' + esc(l.worker) + ' · started ' + esc(ago(l.since)) + '</li>';
      });
    });
    document.getElementById('loads').innerHTML = lh || '<li class="empty">No loads in flight.</li>';
    fetch(DECISIONS_URL, { credentials: 'same-origin', cache: 'no-store' })
      .then(function (res) { return res.ok ? res.json() : { data: [] }; })
      .then(function (b) {
        var dh = '';
        (b.data || []).forEach(function (x) {
          var what = x.action === 'scale' ? 'scale to ' + esc(x.desiredWorkers) + ' workers' : esc(x.action) + ' <b>' + esc(x.model) + '</b> on ' + esc(x.worker);
          dh += '<li data-testid="decision">' + what + ' · <span data-testid="decision-reason">' + esc(x.reason) + '</span>' +
            (x.forModel ? ' (for ' + esc(x.forModel) + ')' : '') + ' · ' + esc(ago(new Date(x.at).toISOString())) + '</li>';
        });
        document.getElementById('decisions').innerHTML = dh || '<li class="empty">No decisions yet.</li>';
      })
      .catch(function () {});

    fetch(TENANTS_URL, { credentials: 'same-origin', cache: 'no-store' })
      .then(function (res) { return res.ok ? res.json() : { data: [] }; })
      .then(function (b) {
        var rows = '';
        (b.data || []).forEach(function (t) {
          rows += '<tr data-testid="tenant-row" data-tenant="' + esc(t.tenant) + '"><td>' + esc(t.tenant) + '</td>' +
            '<td class="num" data-testid="tenant-waiting">' + esc(t.waiting) + '</td><td class="num" data-testid="tenant-running">' + esc(t.running) + '</td></tr>';
        });
        document.getElementById('tenants').innerHTML = rows || '<tr><td colspan="3" class="empty">No tenants.</td></tr>';
      })
      .catch(function () {});

    var st = document.getElementById('status');
    st.textContent = 'Updated ' + new Date().toLocaleTimeString() + ' · ' + workers.length + ' workers · ' + models.length + ' models';
    st.className = 'ok';
    document.body.setAttribute('data-updated', String(Date.now()));
  }

  function poll() {
    fetch(DATA_URL, { credentials: 'same-origin', cache: 'no-store' })
      .then(function (res) {
        if (!res.ok) throw new Error('HTTP ' + res.status);
        return res.json();
      })
      .then(render)
      .catch(function (err) {
        var st = document.getElementById('status');
        st.textContent = 'Update failed: ' + err.message;
        st.className = 'bad';
      })
      .then(function () { setTimeout(poll, POLL_MS); });
  }
  poll();
})();
