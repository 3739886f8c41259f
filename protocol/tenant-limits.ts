/**
 * Per-tenant limits and fair-share weights, configured in one place: `FABRIC_TENANT_LIMITS`
 * holds JSON, or `@/path/to/file.json` names a file with the same JSON. Shape:
 *
 *   { "default": { "requestsPerSecond": 20, "burst": 40 },
 *     "tenants": { "team-a": { "requestsPerSecond": 5, "burst": 10, "maxWaiting": 200,
 *                              "maxRunning": 4, "dailyTokens": 1000000, "weight": 2 } } }
 *
 * A tenant named under `tenants` takes its own fields over `default`'s. Every limit is
 * optional; 0 or absent means unlimited. The tenant set named here also bounds the `tenant`
 * label of the usage metrics (any other tenant is counted as `unknown`).
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from './env.ts';

export interface TenantLimit {
  /** Sustained requests per second (token bucket refill); 0: no rate limit. */
  readonly requestsPerSecond: number;
  /** Bucket size: requests allowed at once after a quiet spell. Defaults to max(1, requestsPerSecond). */
  readonly burst: number;
  /** Jobs the tenant may have waiting across the fleet; 0: no cap. Batch lines are exempt. */
  readonly maxWaiting: number;
  /** Jobs the tenant may have running at once across the fleet (Batch lines included); 0: no cap. */
  readonly maxRunning: number;
  /** Prompt + completion tokens per UTC day; 0: no budget. */
  readonly dailyTokens: number;
  /** Share of a model's queue when tenants compete (fair share). */
  readonly weight: number;
}

export interface TenantLimits {
  /** Limits of `tenant` (its own entry over the default). */
  forTenant(tenant: string): TenantLimit;
  /** Tenants named in the configuration (the bounded metric label set). */
  readonly tenants: ReadonlySet<string>;
}

// No defaults here: an entry's absent fields must not override the default entry's.
const limitSchema = z
  .object({
    requestsPerSecond: z.number().min(0).optional(),
    burst: z.number().int().min(1).optional(),
    maxWaiting: z.number().int().min(0).optional(),
    maxRunning: z.number().int().min(0).optional(),
    dailyTokens: z.number().int().min(0).optional(),
    weight: z.number().positive().max(1000).optional(),
  })
  .strict();

const fileSchema = z
  .object({
    default: limitSchema.default({}),
    tenants: z.record(z.string().min(1).max(64), limitSchema).default({}),
  })
  .strict();

export const NO_LIMITS: TenantLimit = Object.freeze({ requestsPerSecond: 0, burst: 1, maxWaiting: 0, maxRunning: 0, dailyTokens: 0, weight: 1 });

function complete(l: z.infer<typeof limitSchema>): TenantLimit {
  const rate = l.requestsPerSecond ?? 0;
  return Object.freeze({
    requestsPerSecond: rate,
    burst: l.burst ?? Math.max(1, Math.ceil(rate)),
    maxWaiting: l.maxWaiting ?? 0,
    maxRunning: l.maxRunning ?? 0,
    dailyTokens: l.dailyTokens ?? 0,
    weight: l.weight ?? 1,
  });
}

/** Builds the limits from the parsed configuration object; throws ConfigError naming the problem. */
export function tenantLimits(config: unknown = {}): TenantLimits {
  const parsed = fileSchema.safeParse(config);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`FABRIC_TENANT_LIMITS: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const base = parsed.data.default;
  const byTenant = new Map(Object.entries(parsed.data.tenants).map(([t, l]) => [t, complete({ ...base, ...l })]));
  const fallback = complete(base);
  return { forTenant: (t) => byTenant.get(t) ?? fallback, tenants: new Set(byTenant.keys()) };
}

/** Reads `FABRIC_TENANT_LIMITS`: JSON text, `@file` with JSON, or empty (no limits). */
export function tenantLimitsFromText(text: string): TenantLimits {
  const trimmed = text.trim();
  if (!trimmed) return tenantLimits({});
  let json: string;
  try {
    json = trimmed.startsWith('@') ? readFileSync(trimmed.slice(1), 'utf8') : trimmed;
  } catch (err) {
    throw new ConfigError(`FABRIC_TENANT_LIMITS: cannot read ${trimmed.slice(1)}: ${(err as Error).message}`);
  }
  try {
    return tenantLimits(JSON.parse(json));
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`FABRIC_TENANT_LIMITS is not valid JSON: ${(err as Error).message}`);
  }
}

/** The metric label for a tenant: configured tenants by name, anything else `unknown`. */
export function tenantLabel(limits: TenantLimits, tenant: string): string {
  return limits.tenants.has(tenant) ? tenant : 'unknown';
}
