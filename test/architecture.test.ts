/**
 * The layering rules README's architecture section states, checked on the source: protocol/
 * imports no Redis client, Lua runs only through the script registry, no file imports from a
 * folder above its own within a deployable, and no import cycle.
 */
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(new URL(import.meta.url).pathname), '..');
const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '*.ts'], { cwd: ROOT, encoding: 'utf8' })
  .split('\n')
  .filter((f) => f !== '' && !f.startsWith('node_modules/'));
const source = new Map(files.map((f) => [f, readFileSync(join(ROOT, f), 'utf8')] as const));

/** Relative imports of `file`, as repository paths (`.js` read as `.ts`); `types` false skips `import type`. */
function importsOf(file: string, types = true): string[] {
  const out: string[] = [];
  for (const m of source.get(file)!.matchAll(/^\s*(?:import|export)\s+(type\s+)?[^'";]*?from\s+'(\.[^']+)'/gm)) {
    if (!types && m[1]) continue;
    out.push(normalize(join(dirname(file), m[2]!.replace(/\.js$/, '.ts'))));
  }
  return out;
}

describe('layering', () => {
  it('keeps protocol/ free of Redis clients and of store/', () => {
    const offending = files.filter(
      (f) =>
        f.startsWith('protocol/') && (/from '(ioredis|bullmq)'/.test(source.get(f)!) || importsOf(f).some((i) => i.startsWith('store/'))),
    );
    expect(offending).toEqual([]);
  });

  it('sends Lua only through the script registry', () => {
    // Spelled in pieces so this file does not match what it looks for.
    const sendsLua = new RegExp(['\\.ev' + 'al\\(', 'ev' + 'alsha', 'define' + 'Command'].join('|'));
    const offending = files.filter((f) => f !== 'store/scripts/registry.ts' && sendsLua.test(source.get(f)!));
    expect(offending).toEqual([]);
  });

  it('has no file of a deployable import a module of a folder above its own', () => {
    const up: string[] = [];
    for (const f of files.filter((x) => /^(producer-api|worker|scheduler|store|protocol|sim|bench|bin|tools)\//.test(x))) {
      for (const target of importsOf(f)) {
        const [dir, tdir] = [dirname(f), dirname(target)];
        if (target.split('/')[0] === f.split('/')[0] && tdir !== dir && `${dir}/`.startsWith(`${tdir}/`)) up.push(`${f} -> ${target}`);
      }
    }
    expect(up).toEqual([]);
  });

  it('has no import cycle', () => {
    const graph = new Map(files.map((f) => [f, importsOf(f).filter((i) => source.has(i))] as const));
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (f: string, path: string[]) => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') return void cycles.push([...path.slice(path.indexOf(f)), f].join(' -> '));
      state.set(f, 'open');
      for (const next of graph.get(f) ?? []) visit(next, [...path, f]);
      state.set(f, 'done');
    };
    for (const f of files) visit(f, []);
    expect(cycles).toEqual([]);
  });
});
