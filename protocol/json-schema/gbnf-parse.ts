/**
 * Reads back the GBNF the compiler writes (literals, classes, rule references, groups,
 * alternation, `* + ? {m} {m,} {m,n}`) into a tree, so whole-grammar properties can be checked
 * before llama.cpp sees it: every part can finish, and no rule reaches itself before a character.
 */
export type GbnfNode =
  | { k: 'lit'; cps: number[] }
  | { k: 'class'; ranges: Array<[number, number]>; neg: boolean }
  | { k: 'ref'; name: string }
  | { k: 'seq'; items: GbnfNode[] }
  | { k: 'alt'; options: GbnfNode[] }
  | { k: 'rep'; node: GbnfNode; min: number; max: number | null };

class Parser {
  private i = 0;

  private readonly s: string;
  constructor(s: string) {
    this.s = s;
  }

  private ws(): void {
    while (this.s[this.i] === ' ' || this.s[this.i] === '\t') this.i++;
  }

  private escape(): number {
    const c = this.s[this.i++]!;
    const hex = (n: number) => {
      const v = parseInt(this.s.slice(this.i, this.i + n), 16);
      this.i += n;
      return v;
    };
    if (c === 'x') return hex(2);
    if (c === 'u') return hex(4);
    if (c === 'U') return hex(8);
    return ({ n: 10, r: 13, t: 9 } as Record<string, number>)[c] ?? c.codePointAt(0)!;
  }

  private char(): number {
    const cp = this.s.codePointAt(this.i)!;
    this.i += cp > 0xffff ? 2 : 1;
    return cp === 0x5c ? this.escape() : cp;
  }

  alt(): GbnfNode {
    const options = [this.seq()];
    while (this.s[this.i] === '|') {
      this.i++;
      options.push(this.seq());
    }
    return options.length === 1 ? options[0]! : { k: 'alt', options };
  }

  private seq(): GbnfNode {
    const items: GbnfNode[] = [];
    for (;;) {
      this.ws();
      const c = this.s[this.i];
      if (c === undefined || c === '|' || c === ')') break;
      items.push(this.postfix(this.atom()));
    }
    return { k: 'seq', items };
  }

  private atom(): GbnfNode {
    const c = this.s[this.i]!;
    if (c === '"') {
      this.i++;
      const cps: number[] = [];
      while (this.s[this.i] !== '"') cps.push(this.char());
      this.i++;
      return { k: 'lit', cps };
    }
    if (c === '[') {
      this.i++;
      const neg = this.s[this.i] === '^';
      if (neg) this.i++;
      const ranges: Array<[number, number]> = [];
      while (this.s[this.i] !== ']') {
        const from = this.char();
        if (this.s[this.i] === '-' && this.s[this.i + 1] !== ']') {
          this.i++;
          ranges.push([from, this.char()]);
        } else ranges.push([from, from]);
      }
      this.i++;
      return { k: 'class', ranges, neg };
    }
    if (c === '(') {
      this.i++;
      const inner = this.alt();
      this.ws();
      this.i++; // ')'
      return inner;
    }
    const m = /^[a-zA-Z0-9-]+/.exec(this.s.slice(this.i));
    if (!m) throw new Error(`GBNF: unexpected ${JSON.stringify(c)} at ${this.i} in ${this.s}`);
    this.i += m[0].length;
    return { k: 'ref', name: m[0] };
  }

  private postfix(node: GbnfNode): GbnfNode {
    const c = this.s[this.i];
    if (c === '*' || c === '+' || c === '?') {
      this.i++;
      return { k: 'rep', node, min: c === '+' ? 1 : 0, max: c === '?' ? 1 : null };
    }
    const m = /^\{(\d+)(,(\d*))?\}/.exec(this.s.slice(this.i));
    if (!m) return node;
    this.i += m[0].length;
    return { k: 'rep', node, min: Number(m[1]), max: m[2] === undefined ? Number(m[1]) : m[3] === '' ? null : Number(m[3]) };
  }
}

/** The rules of a grammar text (`name ::= body` per line), by name. */
export function parseGbnf(grammar: string): Map<string, GbnfNode> {
  const rules = new Map<string, GbnfNode>();
  for (const line of grammar.split('\n')) {
    const at = line.indexOf(' ::= ');
    if (at > 0) rules.set(line.slice(0, at), new Parser(line.slice(at + 5)).alt());
  }
  return rules;
}
