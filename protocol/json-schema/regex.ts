/**
 * `pattern` to GBNF for a subset of ECMAScript regular expressions: literals, escapes (`\d \w
 * \s` and their negations, `\n`, `\uXXXX`...), classes, `.`, groups, alternation and the
 * quantifiers `* + ? {n} {n,} {n,m}` (lazy or not). Anchors may only open and close the whole
 * pattern. Lookarounds, backreferences, `\b`, `\p{...}` and flags-dependent syntax are refused.
 *
 * The grammar matches the JSON spelling of strings that match the pattern in full. JSON Schema
 * patterns are unanchored (a match anywhere passes), so full matches are a subset of what is
 * valid. Characters JSON must escape (`"`, `\`, controls) are emitted escaped where a pattern
 * names them literally; classes and `.` never produce them (a subset again).
 */
import { charClass, lit, repeat, type CodeRange } from './gbnf.ts';
import { refuse } from './refusal.ts';

/** Largest repetition count the grammars spell out. */
export const MAX_REPEAT = 1000;

/** Code points a JSON string holds only escaped, left out of classes. */
const JSON_SPECIAL: CodeRange[] = [
  { from: 0x00, to: 0x1f },
  { from: 0x22, to: 0x22 },
  { from: 0x5c, to: 0x5c },
  { from: 0x7f, to: 0x7f },
];
const DIGIT: CodeRange[] = [{ from: 0x30, to: 0x39 }];
const WORD: CodeRange[] = [{ from: 0x30, to: 0x39 }, { from: 0x41, to: 0x5a }, { from: 0x5f, to: 0x5f }, { from: 0x61, to: 0x7a }];
/** `\s` as a class member: the space only (tabs and newlines would need JSON escapes). */
const SPACE: CodeRange[] = [{ from: 0x20, to: 0x20 }];
const ALL_SPACE: CodeRange[] = [{ from: 0x09, to: 0x0d }, { from: 0x20, to: 0x20 }, { from: 0xa0, to: 0xa0 }, { from: 0x2028, to: 0x2029 }, { from: 0xfeff, to: 0xfeff }];
const LINE_ENDS: CodeRange[] = [{ from: 0x0a, to: 0x0a }, { from: 0x0d, to: 0x0d }, { from: 0x2028, to: 0x2029 }];

interface ClassSet {
  ranges: CodeRange[];
  negated: boolean;
}

/** GBNF for one character of a class: JSON specials are dropped from positive classes and added to negated ones. */
function classExpr(set: ClassSet): string {
  if (set.negated) return charClass([...set.ranges, ...JSON_SPECIAL], true);
  const kept: CodeRange[] = [];
  for (const r of set.ranges) {
    let from = r.from;
    for (const s of JSON_SPECIAL) {
      if (s.to < from || s.from > r.to) continue;
      if (s.from > from) kept.push({ from, to: s.from - 1 });
      from = Math.max(from, s.to + 1);
    }
    if (from <= r.to) kept.push({ from, to: r.to });
  }
  return kept.length === 0 ? '' : charClass(kept);
}

class RegexParser {
  private i = 0;

  private readonly src: string;
  private readonly path: string;
  constructor(
    src: string,
    path: string,
  ) {
    this.src = src;
    this.path = path;
  }

  private fail(message: string): never {
    return refuse('pattern', this.path, `${message} (in /${this.src}/)`);
  }

  private peek(): string | undefined {
    return this.src[this.i];
  }

  parse(): string {
    const expr = this.alternation();
    if (this.i < this.src.length) this.fail(`unexpected "${this.src[this.i]}" at offset ${this.i}`);
    return expr;
  }

  private alternation(): string {
    const branches = [this.sequence()];
    while (this.peek() === '|') {
      this.i++;
      branches.push(this.sequence());
    }
    return branches.length === 1 ? branches[0]! : `(${branches.map((b) => b || '""').join(' | ')})`;
  }

  private sequence(): string {
    const items: string[] = [];
    while (this.i < this.src.length && this.peek() !== '|' && this.peek() !== ')') {
      const atom = this.atom();
      items.push(this.quantified(atom));
    }
    return items.filter((x) => x.length > 0).join(' ');
  }

  private quantified(atom: string): string {
    const c = this.peek();
    let min: number;
    let max: number | null;
    if (c === '*' || c === '+' || c === '?') {
      this.i++;
      [min, max] = c === '*' ? [0, null] : c === '+' ? [1, null] : [0, 1];
    } else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.i));
      if (!m) this.fail('a "{" that is not a quantifier must be escaped');
      this.i += m[0].length;
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === '' ? null : Number(m[3]);
      if (max !== null && max < min) this.fail('a quantifier {n,m} needs n <= m');
      if (min > MAX_REPEAT || (max ?? 0) > MAX_REPEAT) this.fail(`repetition counts above ${MAX_REPEAT} are not supported`);
    } else {
      return atom;
    }
    if (this.peek() === '?') this.i++; // lazy: the same set of full matches
    if (/^[*+?{]/.test(this.peek() ?? '')) this.fail('a quantifier cannot follow a quantifier');
    if (atom === '') this.fail('nothing to repeat');
    return repeat(atom, min, max); // atoms are single units: a group, a class or one literal
  }

  private atom(): string {
    const c = this.src[this.i++]!;
    if (c === '(') return this.group();
    if (c === '[') return this.charClassAtom();
    if (c === '.') return charClass([...LINE_ENDS, ...JSON_SPECIAL], true);
    if (c === '\\') return this.escapeAtom();
    if (c === '^' || c === '$') this.fail('anchors are supported only at the start and end of the whole pattern');
    if ('*+?{}]'.includes(c)) this.fail(`"${c}" must be escaped`);
    const cp = this.src.codePointAt(this.i - 1)!;
    if (cp > 0xffff) this.i++; // the second UTF-16 unit of the code point
    return this.literal(cp);
  }

  /** The JSON spelling of one character: `"` and `\` and controls escaped as JSON escapes them. */
  private literal(cp: number): string {
    return lit(JSON.stringify(String.fromCodePoint(cp)).slice(1, -1));
  }

  private group(): string {
    if (this.src.startsWith('?:', this.i)) this.i += 2;
    else if (this.peek() === '?') this.fail('lookarounds and named groups are not supported');
    const inner = this.alternation();
    if (this.peek() !== ')') this.fail('unclosed group');
    this.i++;
    return inner === '' ? '' : `(${inner})`;
  }

  private escapeAtom(): string {
    const set = this.classEscape();
    if (set) return classExpr(set);
    return this.literal(this.escapedCodePoint());
  }

  /** `\d \w \s \D \W \S` as a class, or null for other escapes (not consumed). */
  private classEscape(): ClassSet | null {
    const c = this.peek();
    const table: Record<string, ClassSet> = {
      d: { ranges: DIGIT, negated: false },
      w: { ranges: WORD, negated: false },
      s: { ranges: SPACE, negated: false },
      D: { ranges: DIGIT, negated: true },
      W: { ranges: WORD, negated: true },
      S: { ranges: ALL_SPACE, negated: true },
    };
    if (c === undefined || !(c in table)) return null;
    this.i++;
    return table[c]!;
  }

  /** The code point of a single-character escape (after the backslash). */
  private escapedCodePoint(): number {
    const c = this.src[this.i++];
    if (c === undefined) this.fail('trailing backslash');
    const controls: Record<string, number> = { n: 0x0a, r: 0x0d, t: 0x09, f: 0x0c, v: 0x0b, '0': 0 };
    if (c in controls && !(c === '0' && /\d/.test(this.peek() ?? ''))) return controls[c]!;
    const hex = c === 'x' ? /^[0-9a-fA-F]{2}/.exec(this.src.slice(this.i)) : c === 'u' ? /^[0-9a-fA-F]{4}/.exec(this.src.slice(this.i)) : null;
    if (hex) {
      this.i += hex[0].length;
      return parseInt(hex[0], 16);
    }
    if (/[\^$\\.*+?()[\]{}|/\-]/.test(c)) return c.codePointAt(0)!;
    return this.fail(`the escape "\\${c}" is not supported`);
  }

  private charClassAtom(): string {
    const negated = this.peek() === '^';
    if (negated) this.i++;
    const ranges: CodeRange[] = [];
    while (this.peek() !== ']') {
      if (this.i >= this.src.length) this.fail('unclosed character class');
      const from = this.classMember();
      if (typeof from !== 'number') {
        if (from.negated) this.fail('\\D, \\W and \\S inside a class are not supported');
        // Excluding \s must exclude every space; producing one only needs the plain space.
        ranges.push(...(negated && from.ranges === SPACE ? ALL_SPACE : from.ranges));
        continue;
      }
      if (this.peek() === '-' && this.i + 1 < this.src.length && this.src[this.i + 1] !== ']') {
        this.i++;
        const to = this.classMember();
        if (typeof to !== 'number' || to < from) this.fail('invalid range in a character class');
        ranges.push({ from, to });
      } else {
        ranges.push({ from, to: from });
      }
    }
    this.i++;
    const expr = classExpr({ ranges, negated });
    if (expr === '') this.fail('a character class that only holds characters JSON must escape is not supported');
    return expr;
  }

  /** One member of a class: a code point, or the set of a class escape. */
  private classMember(): number | ClassSet {
    const c = this.src[this.i++]!;
    if (c !== '\\') {
      const cp = this.src.codePointAt(this.i - 1)!;
      if (cp > 0xffff) this.i++;
      return cp;
    }
    const set = this.classEscape();
    if (set) return set;
    if (this.peek() === 'b') {
      this.i++;
      return 0x08;
    }
    return this.escapedCodePoint();
  }
}

/** Whether the character at `i` is preceded by an odd number of backslashes. */
function escaped(src: string, i: number): boolean {
  let n = 0;
  while (i - 1 - n >= 0 && src[i - 1 - n] === '\\') n++;
  return n % 2 === 1;
}

/** GBNF for the JSON string body (without quotes) of strings that fully match `pattern`. */
export function patternGrammar(pattern: string, path: string): string {
  let src = pattern;
  if (src.startsWith('^')) src = src.slice(1);
  if (src.endsWith('$') && !escaped(src, src.length - 1)) src = src.slice(0, -1);
  const body = new RegexParser(src, path).parse();
  return body === '' ? '""' : body;
}
