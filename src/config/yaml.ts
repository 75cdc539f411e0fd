/** YAML text -> plain data, with syntax errors as ConfigError (file name, line and column). */
import { parseDocument } from 'yaml';
import { ConfigError } from './errors.js';

/** A YAML mapping as plain data. */
export type Tree = Record<string, unknown>;

/** A mapping (not a list, not null): what a section or the whole file must be. */
export function isMapping(value: unknown): value is Tree {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses YAML configuration text; an empty document (or only comments) gives `{}`. */
export function parseYaml(text: string, source: string): unknown {
  const doc = parseDocument(text);
  // Later errors are mostly consequences of the first one, so only the first is reported.
  const error = doc.errors[0];
  if (error !== undefined) {
    const position = error.linePos?.[0];
    const where = position === undefined ? '(YAML)' : `line ${position.line}, column ${position.col}`;
    // The library's message repeats the position and adds a code excerpt after the first line.
    const message = (error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
    throw new ConfigError(source, [{ path: where, message: `YAML syntax error: ${message}` }]);
  }
  try {
    return doc.toJS() ?? {};
  } catch (error) {
    // Raised while resolving aliases (unknown anchor, alias bomb); the document itself parsed.
    throw new ConfigError(source, [{ path: '(YAML)', message: (error as Error).message }]);
  }
}
