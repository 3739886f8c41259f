/**
 * Usage per tenant: `GET /v1/usage?days=N` (a tenant sees its own, the admin every tenant it
 * knows of, or one with `?tenant=`), and the per-tenant Prometheus metrics, read from the shared
 * ledger at scrape time so every API instance reports the fleet's figures. Metric labels are the
 * configured tenants plus `unknown` (everyone else together), so the label set stays bounded.
 */
import { Router } from 'express';
import { Counter, Gauge } from 'prom-client';
import { registry } from '../../protocol/metrics.ts';
import type { TenantLedger } from '../../store/tenant-ledger.ts';
import type { TenantLimits } from '../../protocol/tenant-limits.ts';
import { badRequest } from '../http/http-error.ts';
import { ADMIN_TENANT } from '../middleware/auth.ts';

const MAX_DAYS = 90;

const tenantJobs = new Counter({ name: 'fabric_tenant_jobs_total', help: 'Jobs that reached a terminal status, per tenant (configured tenants, else unknown)', labelNames: ['tenant'] as const, registers: [registry] });
const tenantTokens = new Counter({ name: 'fabric_tenant_tokens_total', help: 'Tokens the engines reported, per tenant and kind (prompt, completion)', labelNames: ['tenant', 'kind'] as const, registers: [registry] });
const tenantGpuSeconds = new Counter({ name: 'fabric_tenant_gpu_seconds_total', help: 'Seconds jobs ran on an engine slot, per tenant', labelNames: ['tenant'] as const, registers: [registry] });
const tenantWaiting = new Gauge({ name: 'fabric_tenant_jobs', help: 'Jobs waiting or running across the fleet, per configured tenant', labelNames: ['tenant', 'state'] as const, registers: [registry] });

type Totals = Awaited<ReturnType<TenantLedger['totals']>>;

function setTotals(label: string, t: Totals): void {
  tenantJobs.inc({ tenant: label }, t.jobs);
  tenantTokens.inc({ tenant: label, kind: 'prompt' }, t.prompt_tokens);
  tenantTokens.inc({ tenant: label, kind: 'completion' }, t.completion_tokens);
  tenantGpuSeconds.inc({ tenant: label }, t.gpu_seconds);
}

/** Clears what collectTenantMetrics set (after a scrape, where several API processes' metrics are summed). */
export function clearTenantMetrics(): void {
  for (const m of [tenantJobs, tenantTokens, tenantGpuSeconds, tenantWaiting]) m.reset();
}

/** Refreshes the per-tenant metrics from the ledger (called on each scrape). */
export async function collectTenantMetrics(ledger: TenantLedger, limits: TenantLimits): Promise<void> {
  const tenants = [...limits.tenants];
  const [fleet, ...each] = await Promise.all([ledger.totals(null), ...tenants.map((t) => ledger.totals(t))]);
  const counts = await Promise.all(tenants.map((t) => ledger.counts(t)));
  for (const m of [tenantJobs, tenantTokens, tenantGpuSeconds]) m.reset();
  const rest = { ...fleet! };
  tenants.forEach((t, i) => {
    const u = each[i]!;
    setTotals(t, u);
    for (const k of ['jobs', 'succeeded', 'failed', 'prompt_tokens', 'completion_tokens', 'gpu_seconds'] as const) rest[k] -= u[k];
    tenantWaiting.set({ tenant: t, state: 'queued' }, counts[i]!.queued);
    tenantWaiting.set({ tenant: t, state: 'running' }, counts[i]!.running);
  });
  setTotals('unknown', { ...rest, jobs: Math.max(0, rest.jobs), prompt_tokens: Math.max(0, rest.prompt_tokens), completion_tokens: Math.max(0, rest.completion_tokens), gpu_seconds: Math.max(0, rest.gpu_seconds) });
}

export function usageRoutes(d: { ledger: TenantLedger; limits: TenantLimits; apiKeys: ReadonlyMap<string, string> }): Router {
  const r = Router();
  r.get('/v1/usage', async (req, res) => {
    const days = req.query.days === undefined ? 7 : Number(req.query.days);
    if (!Number.isInteger(days) || days < 1 || days > MAX_DAYS) throw badRequest('invalid_days', `days must be an integer from 1 to ${MAX_DAYS}`);
    const caller = res.locals.tenant as string;
    const asked = typeof req.query.tenant === 'string' ? req.query.tenant : null;
    let tenants: string[];
    if (caller === ADMIN_TENANT) tenants = asked ? [asked] : knownTenants(d.limits, d.apiKeys);
    else tenants = [caller];
    const data = await Promise.all(tenants.map(async (tenant) => ({ tenant, days: await d.ledger.usage(tenant, days) })));
    res.json({ object: 'list', data });
  });
  return r;
}

/** Tenants the API knows: configured under FABRIC_TENANT_LIMITS or keyed in FABRIC_API_KEYS (`default` without auth). */
export function knownTenants(limits: TenantLimits, apiKeys: ReadonlyMap<string, string>): string[] {
  const names = new Set([...limits.tenants, ...apiKeys.values()]);
  if (apiKeys.size === 0) names.add('default');
  return [...names].sort();
}

/** Waiting and running jobs of every known tenant (the cluster view's tenants table). */
export async function tenantCounts(ledger: TenantLedger, tenants: readonly string[]): Promise<{ tenant: string; waiting: number; running: number }[]> {
  return Promise.all(tenants.map(async (tenant) => {
    const c = await ledger.counts(tenant);
    return { tenant, waiting: c.queued, running: c.running };
  }));
}
