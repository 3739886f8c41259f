/**
 * Reads a Lua script of this folder as Redis runs it: each `--- @include "includes/<name>"` line
 * replaced by that fragment (each fragment once per script, as BullMQ's loader does), then each
 * `{{NAME}}` by its constant. A script names what it includes, so no caller assembles Lua.
 */
import { readFileSync } from 'node:fs';

const DIR = new URL('./', import.meta.url);
const INCLUDE = /^--- @include "([\w/-]+)"[ \t]*$/gm;

/** The source of `<name>.lua` with its includes expanded and `constants` filled in. */
export function loadLua(name: string, constants: Readonly<Record<string, string | number>>): string {
  const included = new Set<string>();
  const expand = (file: string): string =>
    readFileSync(new URL(`${file}.lua`, DIR), 'utf8').replace(INCLUDE, (_line, inc: string) => {
      if (included.has(inc)) return '';
      included.add(inc);
      return expand(inc);
    });
  return expand(name).replace(/\{\{(\w+)\}\}/g, (_m, key: string) => {
    const v = constants[key];
    if (v === undefined) throw new Error(`Lua script ${name}: no constant ${key}`);
    return String(v);
  });
}
