/** `request_state`: the keys that sign 2026-07-28 `requestState`, and how long it stays valid. */
import { duration, leaf, section } from '../values.js';

/**
 * A key for signing: text of at least 32 bytes, or `base64:` followed by at least 32 bytes.
 * Never echoed: it is a secret.
 */
function secretKey(item: string): string | undefined {
  let bytes: number;
  if (item.startsWith('base64:')) {
    try {
      bytes = atob(item.slice(7)).length;
    } catch {
      return 'expected base64 after "base64:"';
    }
  } else {
    bytes = new TextEncoder().encode(item).byteLength;
  }
  return bytes < 32
    ? `expected a secret of at least 32 bytes (got ${bytes}; e.g. \`openssl rand -base64 32\` prefixed with "base64:")`
    : undefined;
}

function secret() {
  return leaf((value, report): string => {
    if (typeof value !== 'string') {
      report('expected text (the secret itself, usually a ${VAR} reference)');
      return '';
    }
    const problem = value === '' ? undefined : secretKey(value);
    if (problem) report(problem);
    return value;
  });
}

/** Secrets in a list: problems are reported without the value. */
function secretList() {
  return leaf((value, report): string[] => {
    const items = typeof value === 'string' ? value.split(',') : Array.isArray(value) ? value : undefined;
    if (items === undefined) {
      report('expected a list of secrets (or one comma-separated string)');
      return [];
    }
    const out: string[] = [];
    items.forEach((item, index) => {
      const trimmed = typeof item === 'string' ? item.trim() : '';
      if (trimmed === '') {
        if (typeof value !== 'string') report('expected a non-empty secret', [index]);
        return;
      }
      const problem = secretKey(trimmed);
      if (problem) report(problem, [index]);
      else out.push(trimmed);
    });
    return out;
  });
}

export const requestStateSection = section({
  /** Signs requestState for 2026-07-28 clients; empty = generated (kept in the database store). */
  secret: secret().default(''),
  /** Keys still accepted for state they signed (rotation); never used to sign. */
  previous_secrets: secretList().default([]),
  /** How long a client may take to answer an input request. */
  ttl: duration({ positive: true, max: 24 * 60 * 60_000 }).default(10 * 60_000),
});
