/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): self time by function and by package
 * or project folder, so a bench run's profile reads as "where the time goes".
 * Usage: node bench/profile-summary.ts <file.cpuprofile> [--top N]
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

/** `node_modules/<pkg>` or the project folder a script URL belongs to. */
export function area(url: string): string {
  if (!url) return '(native/gc/idle)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return url.split('/')[0]!.replace(/^node:internal.*/, 'node:internal');
  const m = /\/(producer-api|worker|protocol|scheduler|bench|client)\/(.*)$/.exec(url);
  return m ? `${m[1]}/${m[2]!.split('/')[0]}` : url;
}

function main(): void {
  const file = process.argv[2];
  if (!file) throw new Error('usage: profile-summary <file.cpuprofile> [--top N]');
  const top = Number(process.argv[process.argv.indexOf('--top') + 1]) || 25;
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  let total = 0;
  const fn = new Map<string, number>();
  const areas = new Map<string, number>();
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const name = n.callFrame.functionName || '(anonymous)';
    total += us;
    if (name === '(idle)' || name === '(program)' || name === '(garbage collector)') {
      fn.set(name, (fn.get(name) ?? 0) + us);
      areas.set(name, (areas.get(name) ?? 0) + us);
      continue;
    }
    const where = `${name} ${area(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
    fn.set(where, (fn.get(where) ?? 0) + us);
    const a = area(n.callFrame.url);
    areas.set(a, (areas.get(a) ?? 0) + us);
  }
  const busy = total - (fn.get('(idle)') ?? 0);
  // Inclusive time: a node's self time counted for every distinct function on its stack.
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const incl = new Map<string, number>();
  for (const [id, us] of self) {
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur)!;
      const name = `${n.callFrame.functionName || '(anonymous)'} ${area(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
      if (seen.has(name) || name.startsWith('(root)') || name.startsWith('(idle)')) continue;
      seen.add(name);
      incl.set(name, (incl.get(name) ?? 0) + us);
    }
  }
  const row = (k: string, us: number) => `| ${k} | ${(us / 1000).toFixed(0)} | ${((100 * us) / busy).toFixed(1)}% |`;
  console.log(`profile ${file}: ${(total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s not idle\n`);
  console.log('| area | self ms | of busy |\n| --- | ---: | ---: |');
  for (const [k, v] of [...areas].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(row(k, v));
  console.log('\n| function | self ms | of busy |\n| --- | ---: | ---: |');
  for (const [k, v] of [...fn].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(row(k, v));
  console.log('\n| function (inclusive) | total ms | of busy |\n| --- | ---: | ---: |');
  for (const [k, v] of [...incl].filter(([k]) => !k.startsWith('(program)') && !k.startsWith('(garbage')).sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(row(k, v));
}

if (import.meta.url === `file://${process.argv[1]}`) main();
