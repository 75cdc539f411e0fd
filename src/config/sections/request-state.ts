/** `request_state`: the keys that sign 2026-07-28 `requestState`, and how long it stays valid. */
import { z } from 'zod';
import { duration } from '../values.js';

/**
 * What is wrong with a key for signing, if anything: it must be text of at least 32 bytes, or
 * `base64:` followed by at least 32 bytes. Never repeats the key: it is a secret.
 */
function keyProblem(key: string): string | undefined {
  let bytes: number;
  if (key.startsWith('base64:')) {
    try {
      bytes = atob(key.slice(7)).length;
    } catch {
      return 'expected base64 after "base64:"';
    }
  } else {
    bytes = new TextEncoder().encode(key).byteLength;
  }
  return bytes < 32
    ? `expected a secret of at least 32 bytes (got ${bytes}; e.g. \`openssl rand -base64 32\` prefixed with "base64:")`
    : undefined;
}

function checkKey(key: string, ctx: z.RefinementCtx<string>): void {
  const problem = keyProblem(key);
  if (problem !== undefined) ctx.addIssue(problem);
}

/** "" (none) or a key. */
const secret = z.string({ error: 'expected text (the secret itself, usually a ${VAR} reference)' }).superRefine((value, ctx) => {
  if (value !== '') checkKey(value, ctx);
});

const listedSecret = z.string({ error: 'expected a non-empty secret' }).regex(/\S/, { abort: true }).trim().superRefine(checkKey);

/**
 * A comma-separated text's pieces at their places, an empty piece as a hole that the list skips:
 * a problem's index then counts the items as written, which is all a message about a secret can
 * point at.
 */
function pieces(value: unknown): unknown {
  return typeof value === 'string' ? value.split(',').map((piece) => piece.trim() || undefined) : value;
}

/** Secrets: a YAML sequence, or one comma-separated text. */
const secretList = z
  .preprocess(pieces, z.array(listedSecret.optional(), { error: 'expected a list of secrets (or one comma-separated string)' }))
  .transform((items) => items.filter((item) => item !== undefined));

export const requestStateSection = z.strictObject({
  /** Signs requestState for 2026-07-28 clients; empty = generated (kept in the database store). */
  secret: secret.default(''),
  /** Keys still accepted for state they signed (rotation); never used to sign. */
  previous_secrets: secretList.default([]),
  /** How long a client may take to answer an input request. */
  ttl: duration({ positive: true, max: 24 * 60 * 60_000 }).default(10 * 60_000),
});
