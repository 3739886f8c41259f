/**
 * A small GBNF interpreter for tests: parses the grammar text the schema compiler writes, says
 * whether a whole string is in its language (set-of-end-positions matching; no left recursion)
 * and draws random strings from it. The tree comes from the compiler's own GBNF reader.
 */
import { parseGbnf, type GbnfNode } from '../../protocol/json-schema/gbnf-parse.ts';

type Node = GbnfNode;
const parseRules = parseGbnf;

/** Characters a negated class may be sampled from (printable ASCII and a few wider ones). */
const POOL = [...Array.from({ length: 95 }, (_, i) => 0x20 + i), 0xe9, 0x416, 0x20ac, 0x1f600, 0x0a, 0x22, 0x5c];

/**
 * Random strings of a grammar's language: alternatives and repetition counts drawn with `rng`;
 * a draw that nests deeper than `maxDepth` rules is abandoned and drawn again.
 */
export function gbnfSampler(grammar: string): { sample: (rng: () => number, maxDepth?: number) => string } {
  const rules = parseRules(grammar);
  class TooDeep extends Error {}
  const pick = <T>(rng: () => number, xs: readonly T[]) => xs[Math.floor(rng() * xs.length)]!;
  const gen = (n: Node, rng: () => number, depth: number, maxDepth: number, out: number[]): void => {
    switch (n.k) {
      case 'lit':
        out.push(...n.cps);
        return;
      case 'class': {
        const inside = (cp: number) => n.ranges.some(([a, b]) => cp >= a && cp <= b);
        if (n.neg) {
          out.push(pick(rng, POOL.filter((cp) => !inside(cp))));
        } else {
          const [a, b] = pick(rng, n.ranges);
          out.push(a + Math.floor(rng() * (b - a + 1)));
        }
        return;
      }
      case 'ref':
        if (depth > maxDepth) throw new TooDeep();
        gen(rules.get(n.name)!, rng, depth + 1, maxDepth, out);
        return;
      case 'seq':
        for (const item of n.items) gen(item, rng, depth, maxDepth, out);
        return;
      case 'alt':
        gen(pick(rng, n.options), rng, depth, maxDepth, out);
        return;
      case 'rep': {
        const top = Math.min(n.max ?? n.min + 3, n.min + 3);
        const count = n.min + Math.floor(rng() * (top - n.min + 1));
        for (let i = 0; i < count; i++) gen(n.node, rng, depth, maxDepth, out);
        return;
      }
    }
  };
  return {
    sample(rng, maxDepth = 12) {
      for (;;) {
        const out: number[] = [];
        try {
          gen(rules.get('root')!, rng, 0, maxDepth, out);
          return String.fromCodePoint(...out);
        } catch (err) {
          if (!(err instanceof TooDeep)) throw err;
        }
      }
    },
  };
}

/** A matcher for a grammar: `accepts(text)` is whether the root rule derives exactly `text`. */
export function gbnfMatcher(grammar: string): { accepts: (text: string) => boolean } {
  const rules = parseRules(grammar);
  return {
    accepts(text: string) {
      const cps = [...text].map((ch) => ch.codePointAt(0)!);
      const memo = new Map<string, Set<number>>();
      const match = (n: Node, pos: number): Set<number> => {
        switch (n.k) {
          case 'lit':
            return n.cps.every((cp, j) => cps[pos + j] === cp) ? new Set([pos + n.cps.length]) : new Set();
          case 'class': {
            const cp = cps[pos];
            if (cp === undefined) return new Set();
            const inside = n.ranges.some(([a, b]) => cp >= a && cp <= b);
            return inside !== n.neg ? new Set([pos + 1]) : new Set();
          }
          case 'ref': {
            const key = `${n.name}@${pos}`;
            const hit = memo.get(key);
            if (hit) return hit;
            const r = match(rules.get(n.name)!, pos);
            memo.set(key, r);
            return r;
          }
          case 'seq':
            return n.items.reduce((ends, item) => new Set([...ends].flatMap((p) => [...match(item, p)])), new Set([pos]));
          case 'alt':
            return new Set(n.options.flatMap((o) => [...match(o, pos)]));
          case 'rep': {
            let frontier = new Set([pos]);
            const out = new Set<number>(n.min === 0 ? [pos] : []);
            for (let count = 1; frontier.size > 0 && (n.max === null || count <= n.max); count++) {
              const next = new Set([...frontier].flatMap((p) => [...match(n.node, p)].filter((e) => e > p)));
              if (count >= n.min) next.forEach((e) => out.add(e));
              frontier = next;
            }
            return out;
          }
        }
      };
      return match(rules.get('root')!, 0).has(cps.length);
    },
  };
}
