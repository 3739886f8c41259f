/**
 * Operators' say over residency, kept in one Redis hash (`keys.operatorHolds()`, field: model,
 * value: JSON): an operator's unload puts a `hold` on the model (the scheduler neither loads nor
 * pre-warms it), an operator's load clears the hold and may `pin` it (never evicted or trimmed).
 * Each lasts until `until` (epoch ms), or until the next operator command when `until` is 0.
 */

export type OperatorHoldKind = 'hold' | 'pin';

export interface OperatorHold {
  readonly kind: OperatorHoldKind;
  /** Epoch ms it lapses; 0: until the next operator load/unload of the model. */
  readonly until: number;
  /** Epoch ms it was set. */
  readonly at: number;
}

/** Whether the hold or pin still applies at `now`. */
export function isActive(h: OperatorHold | undefined, now: number): h is OperatorHold {
  return !!h && (h.until === 0 || h.until > now);
}

/** Parses the hash; malformed fields are skipped (a hold is advice, never a reason to fail a read). */
export function parseHolds(raw: Record<string, string>): Map<string, OperatorHold> {
  const out = new Map<string, OperatorHold>();
  for (const [model, text] of Object.entries(raw)) {
    try {
      const h = JSON.parse(text) as OperatorHold;
      if ((h.kind === 'hold' || h.kind === 'pin') && Number.isFinite(h.until) && Number.isFinite(h.at)) out.set(model, { kind: h.kind, until: h.until, at: h.at });
    } catch {
      // skipped
    }
  }
  return out;
}

/** The API's view of a hold: kind and ISO end time (null: until the next operator command). */
export function holdView(h: OperatorHold | undefined, now: number): { kind: OperatorHoldKind; until: string | null } | null {
  return isActive(h, now) ? { kind: h.kind, until: h.until === 0 ? null : new Date(h.until).toISOString() } : null;
}
