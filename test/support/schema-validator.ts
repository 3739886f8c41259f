/**
 * An independent judge for structured outputs: ajv (draft 2020-12 and draft-07 schemas) with
 * ajv-formats, which the lockfile already carries through kubernetes-models.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import AjvDraft7 from 'ajv';
import addFormatsModule from 'ajv-formats';

type AddFormats = (ajv: unknown) => unknown;
const addFormats = ((addFormatsModule as unknown as { default?: AddFormats }).default ?? addFormatsModule) as unknown as AddFormats;

const draft2020 = new Ajv2020({ strict: false, allErrors: true });
const draft7 = new (AjvDraft7 as unknown as typeof Ajv2020)({ strict: false, allErrors: true });
addFormats(draft2020);
addFormats(draft7);

const compiled = new WeakMap<object, { ajv: typeof draft2020; validate: ReturnType<typeof draft2020.compile> }>();

/** Validation errors of `value` against `schema` as text, or null when valid. */
export function schemaErrors(schema: Record<string, unknown>, value: unknown): string | null {
  let entry = compiled.get(schema);
  if (!entry) {
    // `definitions` is draft-07 and earlier.
    const ajv = schema.definitions !== undefined ? draft7 : draft2020;
    const { $schema: _ignored, ...rest } = schema;
    entry = { ajv, validate: ajv.compile(rest) };
    compiled.set(schema, entry);
  }
  return entry.validate(value) ? null : entry.ajv.errorsText(entry.validate.errors);
}
