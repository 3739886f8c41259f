/**
 * A schema the fabric cannot enforce in full is refused, never loosened: the refusal names the
 * keyword and where it sits (a JSON pointer into the schema, `#` for the root) so the caller can
 * change exactly that part.
 */
export interface SchemaRefusal {
  /** The JSON Schema keyword that cannot be enforced (`pattern`, `not`, `$ref`...). */
  readonly keyword: string;
  /** JSON pointer of the schema object holding the keyword, `#` for the root. */
  readonly path: string;
  /** Why, in a sentence. */
  readonly message: string;
}

/** Thrown inside the compiler and caught at its entry point; callers only see `SchemaRefusal`. */
export class SchemaRefusedError extends Error {
  readonly refusal: SchemaRefusal;
  constructor(refusal: SchemaRefusal) {
    super(describeRefusal(refusal));
    this.refusal = refusal;
    this.name = 'SchemaRefusedError';
  }
}

export function refuse(keyword: string, path: string, message: string): never {
  throw new SchemaRefusedError({ keyword, path, message });
}

/** The sentence API errors carry: `keyword "pattern" at path "#/properties/zip" cannot be enforced: ...`. */
export function describeRefusal(r: SchemaRefusal): string {
  return `keyword "${r.keyword}" at path "${r.path}" cannot be enforced: ${r.message}`;
}

/** `#/a/b` + `c` -> `#/a/b/c`, escaped as JSON pointers escape (`~0`, `~1`). */
export function childPath(path: string, ...parts: Array<string | number>): string {
  return parts.reduce<string>((p, part) => `${p}/${String(part).replace(/~/g, '~0').replace(/\//g, '~1')}`, path);
}
