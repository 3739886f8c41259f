/**
 * Whole-grammar checks llama.cpp needs to generate well: every part of the grammar can finish
 * (a required property that holds its own object has no finite value, and a sampler that
 * entered it would write until the token limit), and no rule reaches itself before writing a
 * character (left recursion, which llama.cpp refuses to parse).
 */
import { parseGbnf, type GbnfNode } from './gbnf-parse.ts';

function children(n: GbnfNode): GbnfNode[] {
  return n.k === 'seq' ? n.items : n.k === 'alt' ? n.options : n.k === 'rep' ? [n.node] : [];
}

/** Rules that derive at least one finite string, by least fixpoint. */
function productiveRules(rules: Map<string, GbnfNode>): Set<string> {
  const done = new Set<string>();
  const productive = (n: GbnfNode): boolean => {
    switch (n.k) {
      case 'lit':
      case 'class':
        return true;
      case 'ref':
        return done.has(n.name);
      case 'seq':
        return n.items.every(productive);
      case 'alt':
        return n.options.some(productive);
      case 'rep':
        return n.min === 0 || productive(n.node);
    }
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (const [name, body] of rules) {
      if (!done.has(name) && productive(body)) {
        done.add(name);
        changed = true;
      }
    }
  }
  return done;
}

/** Whether a node can derive the empty string. */
function nullableRules(rules: Map<string, GbnfNode>): (n: GbnfNode) => boolean {
  const nullable = new Set<string>();
  const test = (n: GbnfNode): boolean => {
    switch (n.k) {
      case 'lit':
        return n.cps.length === 0;
      case 'class':
        return false;
      case 'ref':
        return nullable.has(n.name);
      case 'seq':
        return n.items.every(test);
      case 'alt':
        return n.options.some(test);
      case 'rep':
        return n.min === 0 || test(n.node);
    }
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (const [name, body] of rules) {
      if (!nullable.has(name) && test(body)) {
        nullable.add(name);
        changed = true;
      }
    }
  }
  return test;
}

/** Rules a node can reach before writing any character. */
function leftmostRefs(n: GbnfNode, nullable: (n: GbnfNode) => boolean, out: Set<string>): void {
  if (n.k === 'ref') out.add(n.name);
  else if (n.k === 'alt' || n.k === 'rep') children(n).forEach((c) => leftmostRefs(c, nullable, out));
  else if (n.k === 'seq') {
    for (const item of n.items) {
      leftmostRefs(item, nullable, out);
      if (!nullable(item)) break;
    }
  }
}

/** What is wrong with a grammar, and the rules where it shows. */
export interface GrammarFault {
  readonly kind: 'unproductive' | 'left-recursive';
  readonly rules: readonly string[];
}

/** The first fault found in a grammar text, or null when llama.cpp can generate from every part of it. */
export function grammarFault(grammar: string): GrammarFault | null {
  const rules = parseGbnf(grammar);
  const productive = productiveRules(rules);
  const stuck = (n: GbnfNode): boolean => (n.k === 'ref' ? !productive.has(n.name) : n.k === 'rep' ? stuck(n.node) : children(n).some(stuck));
  const stuckRules = [...rules].filter(([, body]) => stuck(body)).map(([name]) => name);
  if (stuckRules.length > 0) return { kind: 'unproductive', rules: stuckRules };
  const nullable = nullableRules(rules);
  const edges = new Map([...rules].map(([name, body]) => {
    const out = new Set<string>();
    leftmostRefs(body, nullable, out);
    return [name, out] as const;
  }));
  const state = new Map<string, 'open' | 'closed'>();
  const visit = (name: string): string | null => {
    if (state.get(name) === 'closed') return null;
    if (state.get(name) === 'open') return name;
    state.set(name, 'open');
    for (const next of edges.get(name) ?? []) {
      const found = visit(next);
      if (found) return found;
    }
    state.set(name, 'closed');
    return null;
  };
  for (const name of rules.keys()) {
    const rule = visit(name);
    if (rule) return { kind: 'left-recursive', rules: [rule] };
  }
  return null;
}
