/**
 * Priority classes as bands of BullMQ priorities. BullMQ takes the lowest priority number first
 * (1 .. 2^21); each class owns a band of 2^19 numbers, and within a band a job's place is its
 * fair-share start tag (store/scripts/includes/admission.lua). So a class always runs before the
 * classes below it, and within a class the waiting tenants take turns by weight.
 */
import type { Priority } from './job.ts';

export type PriorityClass = Priority | 'batch';

const BAND = 2 ** 19;
const ORDER: Record<PriorityClass, number> = { high: 0, normal: 1, low: 2, batch: 3 };

/** The class's lowest BullMQ priority and how many follow it. */
export function priorityBand(cls: PriorityClass): { base: number; size: number } {
  return { base: ORDER[cls] * BAND + 1, size: BAND - 1 };
}

/** Batch API lines (jobs carrying `metadata.batch_id`) run below every interactive class. */
export function priorityClassOf(priority: Priority, metadata: Record<string, unknown> | null | undefined): PriorityClass {
  return metadata && typeof metadata.batch_id === 'string' ? 'batch' : priority;
}
