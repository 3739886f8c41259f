/** Up-front validation of a component's merged options: one bound per numeric knob, one error naming it. */
import { ConfigError } from './env.ts';

export interface Bound {
  readonly min: number;
  /** `min` itself is excluded. */
  readonly gt?: boolean;
  readonly max?: number;
  readonly int?: boolean;
  /** Infinity allowed (an open upper limit). */
  readonly infinite?: boolean;
  /** The environment variable the knob is read from, named in the error. */
  readonly env?: string;
}

/**
 * Throws a ConfigError for the first knob of `opts` outside its bound: one line naming the knob
 * (and its environment variable when the bound gives one). Every component's options go through it.
 */
export function checkBounds<T extends object>(component: string, opts: T, bounds: Readonly<Partial<Record<keyof T & string, Bound>>>): void {
  for (const [key, b] of Object.entries(bounds) as [keyof T & string, Bound][]) {
    const v = opts[key] as unknown;
    const ok = typeof v === 'number' && !Number.isNaN(v) && (b.gt ? v > b.min : v >= b.min) && (b.max === undefined || v <= b.max) && (!b.int || Number.isInteger(v)) && (b.infinite || Number.isFinite(v));
    if (!ok) throw new ConfigError(`${b.env ? `${b.env} (${component} ${key})` : `${component} ${key}`} must be ${b.int ? 'an integer ' : ''}${b.gt ? '>' : '>='} ${b.min}${b.max !== undefined ? ` and <= ${b.max}` : ''}, got ${v}`);
  }
}
