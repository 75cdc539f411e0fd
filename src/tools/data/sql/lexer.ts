// A tokenizer for PostgreSQL's lexical rules: strings (standard, E'', U&'', dollar-quoted),
// quoted identifiers, nested block comments, line comments, parameters, operators. It does not
// parse; it lets the query checks look at words the way Postgres sees them, never inside a string
// or a comment, and it names what the statement calls and which names it mentions so that
// Postgres itself (to_regclass, pg_proc) can say what they are.

export type TokenKind = 'word' | 'quoted' | 'string' | 'number' | 'param' | 'punct' | 'op';

export interface Token {
  kind: TokenKind;
  /** Words lower-cased, quoted identifiers unescaped; the source text for everything else. */
  value: string;
  /** Offset in the source, 0-based. */
  start: number;
  end: number;
}

export class SqlSyntaxError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(message);
    this.name = 'SqlSyntaxError';
  }
}

const WORD_START = /[A-Za-z_\u0080-\uffff]/;
const WORD_PART = /[A-Za-z0-9_$\u0080-\uffff]/;
const DIGIT = /[0-9]/;
const PUNCT = new Set(['(', ')', '[', ']', ',', ';', '.']);
const OPERATOR_CHARS = /[+\-*/<>=~!@#%^&|`?:]/;

export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const at = (offset = 0) => source[i + offset] ?? '';

  while (i < source.length) {
    const c = at();
    const start = i;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '-' && at(1) === '-') {
      while (i < source.length && at() !== '\n') i++;
    } else if (c === '/' && at(1) === '*') {
      let depth = 0;
      do {
        if (at() === '/' && at(1) === '*') {
          depth++;
          i += 2;
        } else if (at() === '*' && at(1) === '/') {
          depth--;
          i += 2;
        } else if (i >= source.length) throw new SqlSyntaxError('unterminated /* comment', start);
        else i++;
      } while (depth > 0);
    } else if (c === "'" || (/[eEbBxXnN]/.test(c) && at(1) === "'") || (/[uU]/.test(c) && at(1) === '&' && at(2) === "'")) {
      const escapes = c === 'e' || c === 'E';
      i = source.indexOf("'", i) + 1;
      i = endOfQuoted(source, i, "'", escapes, start);
      tokens.push({ kind: 'string', value: source.slice(start, i), start, end: i });
    } else if (c === '"' || (/[uU]/.test(c) && at(1) === '&' && at(2) === '"')) {
      const open = source.indexOf('"', i);
      i = endOfQuoted(source, open + 1, '"', false, start);
      const value = source.slice(open + 1, i - 1).replace(/""/g, '"');
      if (value === '') throw new SqlSyntaxError('zero-length delimited identifier', start);
      tokens.push({ kind: 'quoted', value, start, end: i });
    } else if (c === '$' && DIGIT.test(at(1))) {
      i++;
      while (DIGIT.test(at())) i++;
      tokens.push({ kind: 'param', value: source.slice(start, i), start, end: i });
    } else if (c === '$') {
      const tag = /^\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(source.slice(i));
      if (!tag) throw new SqlSyntaxError('unexpected "$"', start);
      const close = source.indexOf(tag[0], i + tag[0].length);
      if (close < 0) throw new SqlSyntaxError(`unterminated dollar-quoted string ${tag[0]}`, start);
      i = close + tag[0].length;
      tokens.push({ kind: 'string', value: source.slice(start, i), start, end: i });
    } else if (WORD_START.test(c)) {
      while (i < source.length && WORD_PART.test(at())) i++;
      tokens.push({ kind: 'word', value: source.slice(start, i).toLowerCase(), start, end: i });
    } else if (DIGIT.test(c) || (c === '.' && DIGIT.test(at(1)))) {
      // Permissive: digits, separators, a fraction, an exponent, 0x/0o/0b prefixes.
      while (i < source.length && /[0-9A-Za-z_.]/.test(at())) {
        if (at() === '.' && at(1) === '.') break;
        if ((at() === 'e' || at() === 'E') && (at(1) === '+' || at(1) === '-')) i++;
        i++;
      }
      tokens.push({ kind: 'number', value: source.slice(start, i), start, end: i });
    } else if (c === ':' && at(1) === ':') {
      i += 2;
      tokens.push({ kind: 'punct', value: '::', start, end: i });
    } else if (PUNCT.has(c)) {
      i++;
      tokens.push({ kind: 'punct', value: c, start, end: i });
    } else if (OPERATOR_CHARS.test(c)) {
      while (i < source.length && OPERATOR_CHARS.test(at()) && !(at() === '-' && at(1) === '-') && !(at() === '/' && at(1) === '*')) {
        if (at() === ':' && at(1) === ':') break;
        i++;
      }
      tokens.push({ kind: 'op', value: source.slice(start, i), start, end: i });
    } else {
      throw new SqlSyntaxError(`unexpected character ${JSON.stringify(c)}`, start);
    }
  }
  return tokens;
}

/** Index just past the closing quote; a doubled quote is part of the text. */
function endOfQuoted(source: string, from: number, quote: string, backslashEscapes: boolean, start: number): number {
  let i = from;
  for (;;) {
    if (i >= source.length)
      throw new SqlSyntaxError(quote === "'" ? 'unterminated quoted string' : 'unterminated quoted identifier', start);
    const c = source[i];
    if (backslashEscapes && c === '\\') i += 2;
    else if (c === quote && source[i + 1] === quote) i += 2;
    else if (c === quote) return i + 1;
    else i++;
  }
}

/** The statements of a script, split at top-level semicolons (empty ones dropped). */
export function splitStatements(source: string): string[] {
  const out: string[] = [];
  let from = 0;
  for (const token of tokenize(source)) {
    if (token.kind === 'punct' && token.value === ';') {
      const text = source.slice(from, token.start).trim();
      if (text) out.push(text);
      from = token.end;
    }
  }
  const rest = source.slice(from).trim();
  if (rest && tokenize(rest).length > 0) out.push(rest);
  return out;
}

/** A dotted name as written: `orders`, `public.orders`, `"My Schema"."Orders"`. */
export interface NameChain {
  parts: string[];
  /** The token right after the chain (`(` makes it a function call). */
  next: Token | undefined;
  /** The token right before the chain. */
  previous: Token | undefined;
}

const isName = (t: Token | undefined) => t !== undefined && (t.kind === 'word' || t.kind === 'quoted');
const isDot = (t: Token | undefined) => t !== undefined && t.kind === 'punct' && t.value === '.';

/** Every dotted name in the tokens, longest chains only. */
export function nameChains(tokens: Token[]): NameChain[] {
  const chains: NameChain[] = [];
  for (let i = 0; i < tokens.length; i++) {
    if (!isName(tokens[i]) || isDot(tokens[i - 1])) continue;
    const parts = [tokens[i]!.value];
    let j = i;
    while (isDot(tokens[j + 1]) && isName(tokens[j + 2])) {
      parts.push(tokens[j + 2]!.value);
      j += 2;
    }
    chains.push({ parts, next: tokens[j + 1], previous: tokens[i - 1] });
    i = j;
  }
  return chains;
}

/** Names written as calls (`name(`), schema-qualified ones as their last part. */
export function calledNames(tokens: Token[]): Set<string> {
  const names = new Set<string>();
  for (const chain of nameChains(tokens)) {
    if (chain.next?.kind === 'punct' && chain.next.value === '(') names.add(chain.parts[chain.parts.length - 1]!);
  }
  return names;
}

/** Quotes an identifier the way Postgres's quote_ident would need it to survive unchanged. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
