/**
 * The scheduler's recent actions with their reasons, in a capped stream
 * (`keys.schedulerDecisions()`, field `decision`): written by the scheduler, read by the
 * API's cluster view.
 */
import { z } from 'zod';

export const schedulerDecisionSchema = z.discriminatedUnion('action', [
  z.object({ at: z.number(), action: z.enum(['load', 'unload', 'stage']), model: z.string(), worker: z.string(), reason: z.string(), forModel: z.string().optional() }),
  z.object({ at: z.number(), action: z.literal('drain'), worker: z.string(), reason: z.string(), costMs: z.number(), worthMs: z.number() }),
  z.object({
    at: z.number(),
    action: z.literal('scale'),
    desiredWorkers: z.number().int(),
    reason: z.string(),
    models: z.array(z.string()),
    pool: z.string().optional(),
    /** The drained worker a scale-down removes. */
    release: z.string().optional(),
  }),
]);
export type SchedulerDecision = z.infer<typeof schedulerDecisionSchema>;

/** Entries kept in the decision stream (approximate trim). */
export const DECISIONS_MAX_LEN = 200;

