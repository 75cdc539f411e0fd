/**
 * The keys the configuration schema knows, read from the schema itself (its zod object shapes):
 * for the "did you mean" hint on an unknown key, and for checking what the environment overrides
 * name.
 */
import { z } from 'zod';
import type { KeyPath } from './errors.js';

/** The schema that reads values: defaults, optional markers and transforms looked through. */
function unwrap(schema: z.ZodType): z.ZodType {
  if (schema instanceof z.ZodDefault || schema instanceof z.ZodPrefault || schema instanceof z.ZodOptional) {
    return unwrap(schema.unwrap() as z.ZodType);
  }
  // A transform after a schema (the sessions defaults) reads with the schema; a preprocess is the reverse.
  if (schema instanceof z.ZodPipe) return unwrap((schema.in instanceof z.ZodTransform ? schema.out : schema.in) as z.ZodType);
  return schema;
}

/** The schema of the setting or section at `path`, or undefined when the schema has no such key. */
export function settingAt(schema: z.ZodType, path: KeyPath): z.ZodType | undefined {
  let node: z.ZodType | undefined = schema;
  for (const key of path) {
    const inner = unwrap(node);
    if (inner instanceof z.ZodObject) node = typeof key === 'string' ? (inner.shape as Record<string, z.ZodType>)[key] : undefined;
    // Mappings keyed by name (caching.toolsets.<name>) share one schema for every name.
    else if (inner instanceof z.ZodRecord) node = inner.valueType as z.ZodType;
    else node = undefined;
    if (node === undefined) return undefined;
  }
  return node;
}

/** The keys of the section at `path`, in the schema's order; undefined when `path` is not a section. */
export function keysAt(schema: z.ZodType, path: KeyPath): string[] | undefined {
  const setting = settingAt(schema, path);
  const inner = setting === undefined ? undefined : unwrap(setting);
  return inner instanceof z.ZodObject ? Object.keys(inner.shape) : undefined;
}

/** Closest known key by edit distance, for "did you mean" hints on typos. */
function suggest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(key.length / 3)) + 1;
  for (const candidate of known) {
    const distance = editDistance(key.toLowerCase(), candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, (previous[j - 1] as number) + cost);
    }
    previous = current;
  }
  return previous[b.length] as number;
}

/** The message for `key`, unknown in the section at `parent`: the closest known key and all of them. */
export function unknownKeyMessage(schema: z.ZodType, parent: KeyPath, key: string): string {
  const known = keysAt(schema, parent) ?? [];
  const guess = suggest(key, known);
  const hint = guess === undefined ? '' : `; did you mean "${guess}"?`;
  return `unknown key${hint} (known keys here: ${known.join(', ')})`;
}
