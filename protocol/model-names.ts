/**
 * Model names as users write them (`llama3.1:8b`, `hf.co/org/repo:Q4_K_M`) and the BullMQ
 * queue names they map onto. The mapping is reversible: [a-z0-9._-] plus `~` escapes, then the
 * model's hash tag in braces, so a model's whole queue shares one Redis Cluster slot with its
 * jobs' records (protocol/slot-tags.ts).
 */
import { modelTag } from './slot-tags.ts';

const MODEL_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._\-/]*(:[A-Za-z0-9._\-]+)?$/;
const MAX_MODEL_NAME = 200;

export class InvalidModelNameError extends Error {}

/** Canonical form: a name without a tag gets `:latest`, as Ollama does. */
export function canonicalModelName(name: string): string {
  const trimmed = name.trim();
  if (trimmed.length === 0 || trimmed.length > MAX_MODEL_NAME || !MODEL_NAME_RE.test(trimmed)) {
    throw new InvalidModelNameError(`invalid model name ${JSON.stringify(name)}`);
  }
  const lastSegment = trimmed.slice(trimmed.lastIndexOf('/') + 1);
  return lastSegment.includes(':') ? trimmed : `${trimmed}:latest`;
}

/**
 * Queue name for a canonical model name: `model-<name>{<model tag>}`, where every character of
 * the name outside [a-z0-9._-] becomes `~hh`.
 */
export function queueNameFor(model: string): string {
  let out = 'model-';
  for (const ch of model) {
    if (/[a-z0-9._-]/.test(ch)) out += ch;
    else out += [...Buffer.from(ch, 'utf8')].map((b) => `~${b.toString(16).padStart(2, '0')}`).join('');
  }
  return `${out}{${modelTag(model)}}`;
}

/** Inverse of `queueNameFor`. */
export function modelNameForQueue(queue: string): string | undefined {
  const m = /^model-([^{]*)\{[0-9a-f]+\}$/.exec(queue);
  if (!m) return undefined;
  const body = m[1]!;
  const bytes: number[] = [];
  for (let i = 0; i < body.length; i++) {
    if (body[i] === '~') {
      bytes.push(parseInt(body.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(body.charCodeAt(i));
  }
  return Buffer.from(bytes).toString('utf8');
}
