/**
 * The cluster view at `/admin/cluster` (behind the admin key): a server-rendered shell and a
 * small inline script that polls the fleet every 2 s and draws each worker (and GPU) as a bar
 * of its memory, resident models as segments to scale, loading models hatched, and a table of
 * models with their queues and replicas.
 *
 * The script polls `/admin/cluster/models`, which answers exactly what `GET /v1/models` does
 * (the same handler, mounted again) but behind the admin key: an operator's browser holds the
 * admin key, which is not a tenant key, so it could not read `/v1/models` when tenants are set.
 *
 * Scheduler decisions and their reasons are not stored anywhere the API can read (they go to
 * the scheduler's log and its `fabric_scheduler_decisions_total` counter), so the page shows
 * what the API does know: loads in flight, with when they started.
 */
import { Router, type RequestHandler } from 'express';
import type { Redis } from 'ioredis';
import { readDecisions } from '../../protocol/decisions.js';
import type { Keys } from '../../protocol/keys.js';
import type { ClusterView } from '../fleet/cluster-view.js';
import type { ModelQueues } from '../jobs/model-queues.js';
import { BULL_BOARD_PATH } from './admin.js';
import { modelRoutes } from './models.js';

export const CLUSTER_VIEW_PATH = '/admin/cluster';
export const CLUSTER_VIEW_POLL_MS = 2_000;

export interface ClusterViewPageDeps {
  admin: RequestHandler;
  cluster: ClusterView;
  queues: ModelQueues;
  redis: Redis;
  keys: Keys;
}

export function clusterViewRoutes(d: ClusterViewPageDeps): Router {
  // The admin check runs first, so the models router's tenant check is not needed here.
  const pass: RequestHandler = (_req, _res, next) => next();
  const models = modelRoutes({ ...d, tenant: pass });
  const r = Router();
  r.get(`${CLUSTER_VIEW_PATH}/models`, d.admin, (req, res, next) => {
    req.url = '/v1/models';
    models(req, res, next);
  });
  // The scheduler's recent actions with their reasons, newest first.
  r.get(`${CLUSTER_VIEW_PATH}/decisions`, d.admin, async (_req, res) => {
    const data = await readDecisions(d.redis, d.keys, 30);
    res.set('cache-control', 'no-store').json({ data });
  });
  r.get(CLUSTER_VIEW_PATH, d.admin, (_req, res) => {
    res.set('cache-control', 'no-store').type('html').send(PAGE);
  });
  return r;
}

const SCRIPT = String.raw`
(function () {
  'use strict';
  var POLL_MS = ${CLUSTER_VIEW_POLL_MS};
  var DATA_URL = ${JSON.stringify(`${CLUSTER_VIEW_PATH}/models`)};
  var DECISIONS_URL = ${JSON.stringify(`${CLUSTER_VIEW_PATH}/decisions`)};
  var PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

  function esc(v) {
    return String(v == null ? '' : v).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  function gb(n) {
    if (n == null || !isFinite(n)) return '–';
    if (n >= 1e9) return (n / 1e9).toFixed(1) + ' GB';
    if (n >= 1e6) return (n / 1e6).toFixed(0) + ' MB';
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
      var resident = segs.filter(function (s) { return !s.loading; }).reduce(function (a, s) { return a + s.bytes; }, 0);
      wh += '<section class="worker" data-testid="worker" data-worker-id="' + esc(w.id) + '">' +
        '<h3><span data-testid="worker-id">' + esc(w.id) + '</span> <small>' + esc(w.engine) + ' · ' + esc(w.state) +
        (w.engine_healthy === false ? ' · <b class="bad">engine unhealthy</b>' : '') +
        ' · ' + esc(w.active_jobs) + ' active · ' + esc(w.free_slots) + ' free slots · ' +
        esc(gb(resident)) + ' of ' + esc(gb(w.capacity_bytes)) + '</small></h3>' +
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
        '<td>' + esc(replicas.join(', ')) + (loading.length ? ' <em>loading on ' + esc(loading.join(', ')) + '</em>' : '') + '</td></tr>';
    });
    document.getElementById('models').innerHTML = th || '<tr><td colspan="7" class="empty">No models in the catalog.</td></tr>';

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
`;

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>inference-fabric · cluster</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0 24px 24px; color: #222; background: #fafafa; }
  header { display: flex; align-items: baseline; gap: 16px; border-bottom: 1px solid #ddd; margin-bottom: 12px; }
  header h1 { font-size: 20px; margin: 12px 0; }
  header a { color: #2a6ebb; }
  #status.ok { color: #2e7d32; } #status.bad, .bad { color: #c62828; }
  h2 { font-size: 16px; margin: 20px 0 8px; }
  .worker { background: #fff; border: 1px solid #e0e0e0; border-radius: 6px; padding: 8px 12px; margin-bottom: 10px; }
  .worker h3 { font-size: 14px; margin: 0 0 6px; } .worker small { color: #666; font-weight: normal; }
  .bar { position: relative; display: flex; height: 28px; background: #eceff1; border: 1px solid #cfd8dc; border-radius: 4px; overflow: hidden; }
  .seg { background: var(--c); color: #fff; border-right: 1px solid #fff; overflow: hidden; white-space: nowrap; min-width: 2px; }
  .seg span { display: block; padding: 5px 6px; font-size: 12px; text-overflow: ellipsis; overflow: hidden; text-shadow: 0 0 2px rgba(0,0,0,.6); }
  .seg.loading { background: repeating-linear-gradient(45deg, var(--c) 0 6px, #fff 6px 10px); opacity: .75; }
  .seg.loading span { display: inline-block; color: #222; text-shadow: none; background: rgba(255,255,255,.9); margin: 4px; padding: 1px 6px; border-radius: 3px; }
  .seg.other { background: repeating-linear-gradient(90deg, #90a4ae 0 2px, #b0bec5 2px 4px); }
  .gpu { margin: 6px 0 0 16px; } .gpu-label { font-size: 12px; color: #555; } .gpu .bar { height: 18px; } .gpu .seg span { padding: 1px 6px; }
  table { border-collapse: collapse; background: #fff; min-width: 60%; }
  th, td { border: 1px solid #e0e0e0; padding: 4px 8px; text-align: left; } td.num, th.num { text-align: right; }
  .swatch { display: inline-block; width: 10px; height: 10px; background: var(--c); margin-right: 6px; border-radius: 2px; }
  .empty { color: #888; } .note { color: #666; font-size: 12px; }
</style>
</head>
<body>
<header>
  <h1>inference-fabric · cluster</h1>
  <span id="status">Loading…</span>
  <a href="${BULL_BOARD_PATH}">Queues (Bull Board)</a>
</header>
<h2>Workers and GPUs</h2>
<p class="note">Each bar is a worker's (or GPU's) memory; segments are resident models drawn to scale, hatched ones are loading.</p>
<div id="workers" data-testid="workers"></div>
<h2>Models</h2>
<table data-testid="models-table">
  <thead><tr><th>Model</th><th class="num">Size</th><th class="num">Footprint</th><th class="num">Waiting</th><th class="num">Active</th><th class="num">Replicas</th><th>Resident on</th></tr></thead>
  <tbody id="models"></tbody>
</table>
<h2>Scheduler activity</h2>
<p class="note">Loads in flight, then the scheduler's recent decisions with their reasons (newest first).</p>
<ul id="loads" data-testid="loads"></ul>
<ul id="decisions" data-testid="decisions"></ul>
<script>${SCRIPT}</script>
</body>
</html>
`;
