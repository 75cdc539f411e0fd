/**
 * The kinds of value a setting can hold, as zod schemas.
 *
 * Leaves read "unknown" input on purpose: values may come from YAML (numbers, booleans), from
 * `${VAR}` expansion or environment overrides (always text), so `port: ${PORT:-8080}` and
 * `PORT=8080` must mean the same as `port: 8080`. Each leaf writes its own message, naming the
 * expected form and the value it got.
 */
import { z } from 'zod';
import { formatDuration, parseDuration } from './duration.js';
import { describeValue } from './errors.js';

/** setTimeout/setInterval fire at once for longer delays, so timer-driven durations stop here. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

type Report = (message: string, path?: PropertyKey[]) => void;

/** A leaf whose reader reports problems (possibly several, e.g. one per list item). */
export function leaf<T>(read: (value: unknown, report: Report) => T) {
  return z.unknown().transform((value, ctx): T => {
    let failed = false;
    const result = read(value, (message, path) => {
      failed = true;
      ctx.addIssue({ code: 'custom', message, input: value, ...(path ? { path } : {}) });
    });
    return failed ? z.NEVER : result;
  });
}

export function integer(min: number, max: number, expected: string) {
  return leaf((value, report): number => {
    const number = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
    if (typeof number !== 'number' || !Number.isInteger(number) || number < min || number > max) {
      report(`expected ${expected}, got ${describeValue(value)}`);
      return 0;
    }
    return number;
  });
}

export function boolean() {
  return leaf((value, report): boolean => {
    if (typeof value === 'boolean') return value;
    if (value === 'true' || value === 'false') return value === 'true';
    report(`expected true or false, got ${describeValue(value)}`);
    return false;
  });
}

export function oneOf<const T extends readonly string[]>(values: T) {
  return leaf((value, report): T[number] => {
    if (typeof value === 'string' && (values as readonly string[]).includes(value)) return value as T[number];
    const expected = values.map((v) => `"${v}"`).join(', ');
    report(`expected one of ${expected}, got ${describeValue(value)}`);
    return values[0] as T[number];
  });
}

export function text(options: { allowEmpty: boolean }) {
  return leaf((value, report): string => {
    if (typeof value !== 'string') {
      report(`expected text, got ${describeValue(value)}`);
      return '';
    }
    if (!options.allowEmpty && value.trim() === '') report('must not be empty');
    return value;
  });
}

/** Postgres URL or "" for none. Never echoes the value: it usually holds a password. */
export function postgresUrl() {
  return leaf((value, report): string => {
    if (typeof value !== 'string') {
      report(`expected a postgres URL such as "postgres://user:password@host:5432/db", got ${describeValue(value)}`);
      return '';
    }
    if (value === '' || /^postgres(ql)?:\/\/\S+$/i.test(value)) return value;
    const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(value)?.[1];
    const got = scheme === undefined ? 'a value that is not a URL' : `a "${scheme}://" URL`;
    report(`expected a postgres URL such as "postgres://user:password@host:5432/db" (or "" for none), got ${got}`);
    return '';
  });
}

interface DurationRule {
  /** Zero makes no sense (a lifetime, a timeout, an interval). */
  readonly positive: boolean;
  /** Upper bound, for durations used as timer delays. */
  readonly max?: number;
}

export function duration(rule: DurationRule) {
  return leaf((value, report): number => {
    let ms: number;
    if (typeof value === 'number' && value === 0) {
      ms = 0; // a bare 0 is unambiguous
    } else if (typeof value === 'number') {
      report(`a bare number is not a duration: add a unit, e.g. "${value}s" or "${value}m" (units: ms, s, m, h, d)`);
      return 0;
    } else if (typeof value === 'string') {
      try {
        ms = parseDuration(value);
      } catch (error) {
        report((error as Error).message);
        return 0;
      }
    } else {
      report(`expected a duration such as "30s", "1m" or "1h30m", got ${describeValue(value)}`);
      return 0;
    }
    if (rule.positive && ms <= 0) {
      report(`must be longer than zero, got ${describeValue(value)}`);
    } else if (rule.max !== undefined && ms > rule.max) {
      report(`must be at most ${formatDuration(rule.max)}, got ${describeValue(value)}`);
    }
    return ms;
  });
}

/**
 * A list of strings: a YAML sequence, or one comma-separated string (as `${VAR}` expansion and
 * environment overrides give). Items are trimmed and duplicates dropped.
 */
export function stringList(check?: (item: string) => string | undefined) {
  return leaf((value, report): string[] => {
    let items: unknown[];
    if (typeof value === 'string') {
      items = value
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item !== '');
    } else if (Array.isArray(value)) {
      items = value;
    } else {
      report(`expected a list of strings (or one comma-separated string), got ${describeValue(value)}`);
      return [];
    }
    const out: string[] = [];
    items.forEach((item, index) => {
      if (typeof item !== 'string' || item.trim() === '') {
        report(`expected a non-empty string, got ${describeValue(item)}`, [index]);
        return;
      }
      const trimmed = item.trim();
      const problem = check?.(trimmed);
      if (problem !== undefined) report(`${problem}, got ${describeValue(trimmed)}`, [index]);
      else if (!out.includes(trimmed)) out.push(trimmed);
    });
    return out;
  });
}

/** A strict mapping (unknown keys are errors) that is optional and filled from its defaults. */
export function section<Shape extends z.ZodRawShape>(shape: Shape) {
  return z.strictObject(shape, {
    error: (issue) => (issue.code === 'invalid_type' ? `expected a mapping of settings, got ${describeValue(issue.input)}` : undefined),
  });
}
