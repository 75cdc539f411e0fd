/**
 * `${VAR}` / `${VAR:-default}` expansion over the string values of a parsed YAML tree.
 *
 * - `${VAR}`: the variable's value; an error when it is unset.
 * - `${VAR:-default}`: the default when VAR is unset or empty (shell semantics). The default may be
 *   empty and may itself contain references, e.g. `${A:-${B:-x}}`.
 * - `$$`: a literal `$`.
 * - `$NAME` without braces is an error rather than silently left as text; any other `$` is literal.
 * Keys are never expanded, and values from the environment are not expanded again.
 */
import type { KeyPath } from './errors.js';
import { readEnv, type EnvRecord } from './env.js';

interface Reference {
  readonly name: string;
  /** Parts of the `:-` default, or undefined when there is none. */
  readonly fallback: readonly Part[] | undefined;
}

type Part = string | Reference;

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;
const FORMS = 'write ${NAME} or ${NAME:-default}, or $$ for a literal $';

class TemplateParser {
  private index = 0;

  constructor(private readonly text: string) {}

  parse(): Part[] {
    return this.parts(false);
  }

  private parts(inFallback: boolean): Part[] {
    const { text } = this;
    const parts: Part[] = [];
    let literal = '';
    while (this.index < text.length) {
      const ch = text[this.index] as string;
      if (inFallback && ch === '}') break;
      if (ch !== '$') {
        literal += ch;
        this.index += 1;
        continue;
      }
      const next = text[this.index + 1];
      if (next === '$') {
        literal += '$';
        this.index += 2;
      } else if (next === '{') {
        if (literal !== '') parts.push(literal);
        literal = '';
        parts.push(this.reference());
      } else if (next !== undefined && /[A-Za-z_]/.test(next)) {
        const name = NAME.exec(text.slice(this.index + 1))?.[0] ?? next;
        throw new Error(`"$${name}" is not expanded: write \${${name}} for the variable, or $$ for a literal $`);
      } else {
        literal += '$';
        this.index += 1;
      }
    }
    if (literal !== '') parts.push(literal);
    return parts;
  }

  private reference(): Reference {
    const { text } = this;
    const start = this.index;
    this.index += 2; // "${"
    const name = NAME.exec(text.slice(this.index))?.[0];
    if (name === undefined) throw this.invalid(start);
    this.index += name.length;
    if (text[this.index] === '}') {
      this.index += 1;
      return { name, fallback: undefined };
    }
    if (text.startsWith(':-', this.index)) {
      this.index += 2;
      const fallback = this.parts(true);
      if (text[this.index] !== '}') throw this.unterminated(start);
      this.index += 1;
      return { name, fallback };
    }
    throw this.invalid(start);
  }

  private invalid(start: number): Error {
    const end = this.text.indexOf('}', start);
    if (end === -1) return this.unterminated(start);
    return new Error(`invalid reference "${this.text.slice(start, end + 1)}": ${FORMS}`);
  }

  private unterminated(start: number): Error {
    return new Error(`"\${" at position ${start + 1} has no closing "}": ${FORMS}`);
  }
}

function evaluate(parts: readonly Part[], env: EnvRecord, missing: string[]): string {
  let out = '';
  for (const part of parts) {
    if (typeof part === 'string') {
      out += part;
      continue;
    }
    const value = readEnv(env, part.name);
    if (part.fallback === undefined) {
      if (value === undefined) missing.push(part.name);
      else out += value;
    } else {
      out += value === undefined || value === '' ? evaluate(part.fallback, env, missing) : value;
    }
  }
  return out;
}

/** Expands one string. Throws an Error naming every unset variable or the syntax problem. */
export function expandString(text: string, env: EnvRecord): string {
  const missing: string[] = [];
  const value = evaluate(new TemplateParser(text).parse(), env, missing);
  if (missing.length > 0) {
    const unique = [...new Set(missing)];
    throw new Error(
      unique.length === 1 ? `environment variable ${unique[0]} is not set` : `environment variables ${unique.join(', ')} are not set`,
    );
  }
  return value;
}

export interface ExpansionIssue {
  readonly path: KeyPath;
  readonly message: string;
}

export interface ExpansionResult {
  /** A copy of the tree with strings expanded; strings that failed are replaced by undefined. */
  readonly value: unknown;
  readonly issues: ExpansionIssue[];
}

/** Expands every string value (not key) of a parsed YAML tree, collecting all problems. */
export function expandTree(tree: unknown, env: EnvRecord): ExpansionResult {
  const issues: ExpansionIssue[] = [];
  const walk = (node: unknown, path: PropertyKey[]): unknown => {
    if (typeof node === 'string') {
      try {
        return expandString(node, env);
      } catch (error) {
        issues.push({ path, message: (error as Error).message });
        return undefined;
      }
    }
    if (Array.isArray(node)) return node.map((item, index) => walk(item, [...path, index]));
    if (typeof node === 'object' && node !== null) {
      const out: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(node)) {
        // defineProperty, so a "__proto__" key stays a key (and is reported as unknown).
        Object.defineProperty(out, key, {
          value: walk(value, [...path, key]),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    }
    return node;
  };
  return { value: walk(tree, []), issues };
}
