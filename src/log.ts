// Structured logs, one JSON object per line on stderr/stdout. Callers pass fields, never raw
// credentials: session ids are shortened to a prefix and tokens are not logged at all.
import { isSpanContextValid, trace } from '@opentelemetry/api';
import { ConfigError, describeValue } from './config/errors.js';
import { readEnv, type EnvRecord } from './config/env.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

const ORDER: LogLevel[] = ['debug', 'info', 'warn', 'error'];

// Defence in depth: no call site passes credentials (each was checked), and a field whose name
// says it holds one is blanked anyway, in case a future call site gets it wrong.
const SECRET_FIELD = /authorization|token|secret|password|api[-_]?key|credential|cookie/i;

function redact(fields: LogFields | undefined): LogFields | undefined {
  if (!fields) return fields;
  let out: LogFields | undefined;
  for (const key of Object.keys(fields)) {
    if (SECRET_FIELD.test(key)) (out ??= { ...fields })[key] = '[redacted]';
  }
  return out ?? fields;
}

export function createLogger(level: LogLevel = 'info', sink: (line: string, level: LogLevel) => void = defaultSink): Logger {
  const min = ORDER.indexOf(level);
  const emit = (at: LogLevel) => (message: string, fields?: LogFields) => {
    if (ORDER.indexOf(at) < min) return;
    sink(JSON.stringify({ time: new Date().toISOString(), level: at, msg: message, ...traceIds(), ...redact(fields) }), at);
  };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}

/** The active span's ids, so that a log line leads to its trace (none without an SDK). */
function traceIds(): { trace_id: string; span_id: string } | undefined {
  const span = trace.getActiveSpan()?.spanContext();
  return span && isSpanContextValid(span) ? { trace_id: span.traceId, span_id: span.spanId } : undefined;
}

/**
 * Each level through the console method of its name: on Node warn and error go to stderr and the
 * rest to stdout; on Workers and Vercel the platform's log shows the level (wrangler marks
 * console.error "[ERROR]", which a warning is not).
 */
function defaultSink(line: string, level: LogLevel): void {
  console[level](line);
}

/**
 * LOG_LEVEL: unset or blank means info; any other value must name a level, and a ConfigError
 * names the variable otherwise, like every other setting.
 */
export function parseLogLevel(value: string | undefined): LogLevel {
  if (value === undefined || value.trim() === '') return 'info';
  if ((ORDER as string[]).includes(value)) return value as LogLevel;
  throw new ConfigError('environment', [
    { path: 'LOG_LEVEL (environment)', message: `expected one of ${ORDER.map((l) => `"${l}"`).join(', ')}, got ${describeValue(value)}` },
  ]);
}

/**
 * The `logger` option of the public API: a logger object as it is, or JSON lines at the level it
 * names; without one, at `fallback` when given, else at LOG_LEVEL from `env`. Throws ConfigError
 * for a level that is none.
 */
export function loggerFor(option: Logger | LogLevel | undefined, env: EnvRecord, fallback?: LogLevel): Logger {
  if (typeof option === 'object') return option;
  if (option === undefined) return createLogger(fallback ?? parseLogLevel(readEnv(env, 'LOG_LEVEL')));
  if (!(ORDER as string[]).includes(option)) {
    throw new ConfigError('createBaton options', [
      {
        path: 'logger',
        message: `expected one of ${ORDER.map((l) => `"${l}"`).join(', ')} or a logger object, got ${JSON.stringify(option)}`,
      },
    ]);
  }
  return createLogger(option);
}

/**
 * An error as logs may show it. Query errors (drizzle's) carry the statement's parameters in
 * their message and stack: full session ids and credential digests. Those are left out; the
 * statement text and the driver's own error stay.
 */
export function errorText(error: unknown, options: { stack?: boolean } = {}): string {
  if (isQueryError(error))
    return `failed query (parameters withheld): ${error.query.slice(0, 200)}: ${error.cause === undefined ? 'no cause' : errorText(error.cause)}`;
  if (error instanceof Error) return (options.stack && error.stack) || error.message;
  return String(error);
}

/**
 * Text of an error that may quote a connection URL (a driver's connection failure): the password
 * in any `scheme://user:password@` is replaced, so that the line can go to logs.
 */
export function withoutUrlPasswords(text: string): string {
  return text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]*):[^\s@/]*@/gi, '$1:[redacted]@');
}

/** drizzle's DrizzleQueryError, recognised by shape (drivers may bundle their own copy). */
export function isQueryError(error: unknown): error is Error & { query: string; params: unknown[] } {
  return (
    error instanceof Error &&
    typeof (error as { query?: unknown }).query === 'string' &&
    Array.isArray((error as { params?: unknown }).params)
  );
}
