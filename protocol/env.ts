/** Typed readers for environment variables with clear errors (`FABRIC_X must be ...`). */

export class ConfigError extends Error {}

/** A process environment (or any map of variable names to values). */
export type Env = Readonly<Record<string, string | undefined>>;

export function envString(env: Env, name: string, fallback: string): string {
  const v = env[name];
  return v === undefined || v === '' ? fallback : v;
}

export function envInt(env: Env, name: string, fallback: number, min = 0): number {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new ConfigError(`${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}

export function envBool(env: Env, name: string, fallback: boolean): boolean {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  throw new ConfigError(`${name} must be a boolean (1/0, true/false), got ${JSON.stringify(v)}`);
}

export function envList(env: Env, name: string): string[] {
  return (env[name] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses `1500ms`, `30s`, `5m`, `1h`, `1h30m` or a bare number of seconds into milliseconds. */
export function parseDurationMs(text: string): number {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let total = 0;
  let consumed = 0;
  for (const m of t.matchAll(re)) {
    total += Number(m[1]) * UNIT_MS[m[2] as string]!;
    consumed += m[0].length;
  }
  if (consumed !== t.length || consumed === 0) throw new ConfigError(`invalid duration ${JSON.stringify(text)}`);
  return Math.round(total);
}

export function envDurationMs(env: Env, name: string, fallbackMs: number): number {
  const v = env[name];
  if (v === undefined || v === '') return fallbackMs;
  try {
    return parseDurationMs(v);
  } catch {
    throw new ConfigError(`${name} must be a duration like 500ms, 30s, 5m, got ${JSON.stringify(v)}`);
  }
}

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };

/** Parses `10mb`, `24GiB` or a bare number of bytes. */
export function parseBytes(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = (m?.[2] || 'b').toLowerCase();
  if (!m || SIZE_UNITS[unit] === undefined) throw new ConfigError(`invalid size ${JSON.stringify(text)}`);
  return Math.round(Number(m[1]) * SIZE_UNITS[unit]!);
}

export function envBytes(env: Env, name: string, fallback: number): number {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  try {
    return parseBytes(v);
  } catch {
    throw new ConfigError(`${name} must be a size like 10mb or 24GiB, got ${JSON.stringify(v)}`);
  }
}

/** A share between 0 and 1, written `0.1` or `10%`. */
export function envRatio(env: Env, name: string, fallback: number): number {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$/.exec(v);
  const n = m ? Number(m[1]) / (m[2] ? 100 : 1) : NaN;
  if (!(n >= 0 && n < 1)) throw new ConfigError(`${name} must be a share like 0.1 or 10%, got ${JSON.stringify(v)}`);
  return n;
}
