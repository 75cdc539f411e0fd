/**
 * The kinds of value a setting can hold, as zod schemas.
 *
 * Values may come from YAML (numbers, booleans, lists), from `${VAR}` expansion or from environment
 * overrides (always text), so `port: ${PORT:-8080}` and `PORT=8080` must mean the same as
 * `port: 8080`, and `BATON_TOOLSETS=a,b` the same as `toolsets: [a, b]`. Messages name the
 * expected form and the value given (see ./messages.ts); secrets and URLs, which may hold a
 * password, are never repeated.
 */
import { z } from 'zod';
import { formatDuration, parseDuration } from './duration.js';
import { describeValue } from './errors.js';
import { expected } from './messages.js';

/** setTimeout/setInterval fire at once for longer delays, so timer-driven durations stop here. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A whole number may also come as text, digits only: `z.coerce.number()` would also read "" (an
 * empty `${PORT:-}`) as 0, true as 1 and "1e3" as 1000.
 */
const DIGITS = /^\s*\d+\s*$/;

/**
 * A whole number from min to max; `what` words the expectation, e.g. "a positive whole number of
 * bytes". The range is checked before text becomes a number, so the message repeats what was written.
 */
export function integer(min: number, max: number, what: string) {
  const error = expected(what);
  return z
    .union([z.int(), z.string().regex(DIGITS, { abort: true })], { error })
    .refine((value) => Number(value) >= min && Number(value) <= max, { error })
    .transform(Number);
}

/** true or false, also as the text "true" or "false" (exactly: "yes" or "1" are errors). */
export function boolean() {
  const text = z.stringbool({ truthy: ['true'], falsy: ['false'], case: 'sensitive' });
  return z.union([z.boolean(), text], { error: expected('true or false') });
}

/** Text that is not empty or blank. */
export function nonEmptyText() {
  return z.string().refine((value) => value.trim() !== '', { error: 'must not be empty' });
}

const POSTGRES_URL = /^(postgres(ql)?:\/\/\S+)?$/i;

/** What a URL that is not a postgres one looks like, without its text (it usually holds a password). */
function urlKind(value: unknown): string {
  const scheme = typeof value === 'string' ? /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(value)?.[1] : undefined;
  return scheme === undefined ? 'a value that is not a URL' : `a "${scheme}://" URL`;
}

/** A Postgres URL, or "" for none. */
export function postgresUrl() {
  const example = 'a postgres URL such as "postgres://user:password@host:5432/db"';
  return z
    .string({ error: expected(example) })
    .regex(POSTGRES_URL, { error: (issue) => `expected ${example} (or "" for none), got ${urlKind(issue.input)}` });
}

interface DurationRule {
  /** Zero makes no sense (a lifetime, a timeout, an interval). */
  readonly positive: boolean;
  /** Upper bound, for durations used as timer delays. */
  readonly max?: number;
}

/** Milliseconds of a duration: text as ./duration.ts reads it; of numbers, only 0 (any other needs a unit). */
function milliseconds(value: number | string): number {
  if (typeof value === 'string') return parseDuration(value);
  if (value === 0) return 0;
  throw new Error(`a bare number is not a duration: add a unit, e.g. "${value}s" or "${value}m" (units: ms, s, m, h, d)`);
}

/**
 * A duration such as "1h30m", as milliseconds. The bounds are checked before the value becomes a
 * number, so that their messages repeat what was written.
 */
export function duration(rule: DurationRule) {
  const written = z.union([z.number(), z.string()], { error: expected('a duration such as "30s", "1m" or "1h30m"') });
  return written.transform((value, ctx) => {
    let problem: string | undefined;
    let ms = 0;
    try {
      ms = milliseconds(value);
    } catch (error) {
      problem = (error as Error).message;
    }
    if (problem === undefined && rule.positive && ms <= 0) problem = `must be longer than zero, got ${describeValue(value)}`;
    if (problem === undefined && rule.max !== undefined && ms > rule.max) {
      problem = `must be at most ${formatDuration(rule.max)}, got ${describeValue(value)}`;
    }
    if (problem === undefined) return ms;
    ctx.addIssue({ code: 'custom', message: problem, input: value });
    return z.NEVER;
  });
}

/** One text of comma-separated items (as `${VAR}` expansion and environment overrides give) -> its items, trimmed, empty ones dropped. */
function commaText(value: unknown): unknown {
  return typeof value === 'string'
    ? value
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item !== '')
    : value;
}

/** An item of a list: text that is not blank, trimmed. Narrow it with `.refine(..., { error: expected(...) })`. */
export function listItem() {
  return z
    .string({ error: expected('a non-empty string') })
    .regex(/\S/, { abort: true })
    .trim();
}

/** A list of strings: a YAML sequence, or one comma-separated text. Duplicates are dropped. */
export function stringList(item: z.ZodType<string, string> = listItem()) {
  return z
    .preprocess(commaText, z.array(item, { error: expected('a list of strings (or one comma-separated string)') }))
    .transform((items) => [...new Set(items)]);
}
