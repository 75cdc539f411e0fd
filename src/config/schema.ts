/**
 * The configuration schema: keys, defaults and checks. `Config` is its output type, with durations
 * already converted to milliseconds.
 *
 * Leaves read "unknown" input on purpose: values may come from YAML (numbers, booleans), from
 * `${VAR}` expansion or environment overrides (always text), so `port: ${PORT:-8080}` and
 * `PORT=8080` must mean the same as `port: 8080`. Each leaf writes its own message, naming the
 * expected form and the value it got.
 */
import { z } from 'zod';
import { formatDuration, parseDuration } from './duration.js';
import { describeValue, type KeyPath } from './errors.js';

export const DATABASE_DRIVERS = ['auto', 'pg', 'neon-http', 'pglite'] as const;
export type DatabaseDriver = (typeof DATABASE_DRIVERS)[number];

/** database.pooler: whether the URL goes through a pooler in transaction mode (`auto`: find out). */
export const POOLER_MODES = ['auto', 'transaction', 'none'] as const;
export type PoolerMode = (typeof POOLER_MODES)[number];

export const SESSION_STORES = ['memory', 'database'] as const;
export type SessionStore = (typeof SESSION_STORES)[number];

/** setTimeout/setInterval fire at once for longer delays, so timer-driven durations stop here. */
const MAX_TIMER_MS = 2 ** 31 - 1;

type Report = (message: string, path?: PropertyKey[]) => void;

/** A leaf whose reader reports problems (possibly several, e.g. one per list item). */
function leaf<T>(read: (value: unknown, report: Report) => T) {
  return z.unknown().transform((value, ctx): T => {
    let failed = false;
    const result = read(value, (message, path) => {
      failed = true;
      ctx.addIssue({ code: 'custom', message, input: value, ...(path ? { path } : {}) });
    });
    return failed ? z.NEVER : result;
  });
}

function integer(min: number, max: number, expected: string) {
  return leaf((value, report): number => {
    const number = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
    if (typeof number !== 'number' || !Number.isInteger(number) || number < min || number > max) {
      report(`expected ${expected}, got ${describeValue(value)}`);
      return 0;
    }
    return number;
  });
}

function boolean() {
  return leaf((value, report): boolean => {
    if (typeof value === 'boolean') return value;
    if (value === 'true' || value === 'false') return value === 'true';
    report(`expected true or false, got ${describeValue(value)}`);
    return false;
  });
}

function oneOf<const T extends readonly string[]>(values: T) {
  return leaf((value, report): T[number] => {
    if (typeof value === 'string' && (values as readonly string[]).includes(value)) return value as T[number];
    const expected = values.map((v) => `"${v}"`).join(', ');
    report(`expected one of ${expected}, got ${describeValue(value)}`);
    return values[0] as T[number];
  });
}

function text(options: { allowEmpty: boolean }) {
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
function postgresUrl() {
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

function duration(rule: DurationRule) {
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
function stringList(check?: (item: string) => string | undefined) {
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

function checkHost(item: string): string | undefined {
  if (/[\s/]/.test(item) || item.includes('://')) {
    return 'expected a host such as "api.example.com" or "localhost:8080" (no scheme or path)';
  }
  return undefined;
}

function checkOrigin(item: string): string | undefined {
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/\s?#]+$/.test(item)) {
    return 'expected an origin such as "https://app.example.com" (scheme and host, no path or trailing slash)';
  }
  return undefined;
}

const knownKeys = new Map<string, readonly string[]>();

/** A strict mapping (unknown keys are errors) that is optional and filled from its defaults. */
function section<Shape extends z.ZodRawShape>(path: string, shape: Shape) {
  knownKeys.set(path, Object.keys(shape));
  return z.strictObject(shape, {
    error: (issue) => (issue.code === 'invalid_type' ? `expected a mapping of settings, got ${describeValue(issue.input)}` : undefined),
  });
}

const serverSchema = section('server', {
  // 0: any free port, which the "listening" log line names (tests start many servers at once).
  port: integer(0, 65535, 'an integer between 0 and 65535 (0: any free port)').default(8080),
  max_body_bytes: integer(1, Number.MAX_SAFE_INTEGER, 'a positive whole number of bytes').default(4 * 1024 * 1024),
  allowed_hosts: stringList(checkHost).default([]),
  allowed_origins: stringList(checkOrigin).default([]),
  streamable: section('server.streamable', {
    session_timeout: duration({ positive: true }).default(30 * 60_000),
  }).prefault({}),
  shutdown: section('server.shutdown', {
    grace_period: duration({ positive: false, max: MAX_TIMER_MS }).default(25_000),
    pre_shutdown_delay: duration({ positive: false, max: MAX_TIMER_MS }).default(2_000),
  }).prefault({}),
});

const databaseSchema = section('database', {
  dsn: postgresUrl().default(''),
  /**
   * pg: a URL that reaches Postgres without a pooler, for what needs a connection of its own (the
   * channel's LISTEN, migrations) when `dsn` goes through one. Empty: `dsn` serves everything.
   */
  direct_dsn: postgresUrl().default(''),
  /** pg: whether `dsn` goes through a pooler in transaction mode; auto finds out on first use. */
  pooler: oneOf(POOLER_MODES).default('auto'),
  driver: oneOf(DATABASE_DRIVERS).default('auto'),
  auto_migrate: boolean().default(true),
  pglite_dir: text({ allowEmpty: false }).default('.data/pglite'),
  /** neon-http only: where the driver sends queries instead of Neon (the local endpoint in dev). */
  http_endpoint: text({ allowEmpty: true }).default(''),
  /** Upper bound for every session-store statement. */
  statement_timeout: duration({ positive: true, max: MAX_TIMER_MS }).default(5_000),
});

const sessionsSchema = section('sessions', {
  store: oneOf(SESSION_STORES).default('memory'),
  /** What a session is bound to: the raw credential, or the JWT's issuer and subject. */
  bind: oneOf(['token', 'principal'] as const).default('token'),
  /** Defaults to server.streamable.session_timeout. */
  ttl: duration({ positive: true }).optional(),
  /** Defaults to server.streamable.session_timeout. */
  idle_timeout: duration({ positive: true }).optional(),
  cleanup_interval: duration({ positive: true, max: MAX_TIMER_MS }).default(60_000),
  /**
   * Largest `initialize` capabilities + clientInfo (as JSON, bytes) a session stores: they are the
   * client's to choose and are kept for the session's whole life.
   */
  max_initialize_bytes: integer(1, Number.MAX_SAFE_INTEGER, 'a positive whole number of bytes').default(64 * 1024),
  /**
   * Live sessions one credential may hold (all anonymous callers count as one); 0 = no limit. A
   * new session past it ends the credential's least recently active one.
   */
  max_per_credential: integer(0, 1_000_000_000, 'a whole number from 0 (no limit) to 1000000000').default(1_000),
  /** Resources one session may be subscribed to at once; 0 = no limit. */
  max_subscriptions: integer(0, 1_000_000_000, 'a whole number from 0 (no limit) to 1000000000').default(100),
  /**
   * Largest session state (as JSON, bytes) a request may leave: every request of the session loads
   * it, and tools, middleware and subscriptions all add to it.
   */
  max_state_bytes: integer(1, Number.MAX_SAFE_INTEGER, 'a positive whole number of bytes').default(64 * 1024),
});

const channelSchema = section('channel', {
  /** neon-http: how often an instance that waits for a message from another instance reads the table. */
  poll_interval: duration({ positive: true, max: MAX_TIMER_MS }).default(500),
  /** How long messages between instances (stream events among them) are kept: the resumption window. */
  retention: duration({ positive: true }).default(5 * 60_000),
  /**
   * Longest a GET event stream stays open before the server closes it (the client reconnects
   * with Last-Event-ID); 0 = no limit. Default: 60s on neon-http, no limit otherwise.
   */
  stream_timeout: duration({ positive: false, max: MAX_TIMER_MS }).optional(),
  /** The reconnection delay event streams advise clients (SSE `retry`). */
  retry: duration({ positive: true, max: MAX_TIMER_MS }).default(1_000),
});

const authSchema = section('auth', {
  /** Refuse requests without valid credentials (401). */
  required: boolean().default(false),
  /** API keys: the keys themselves (usually `${ENV}` references) or `sha256:<hex>` digests. */
  api_keys: stringList().default([]),
  jwt: section('auth.jwt', {
    /** JWKS document URL of the token issuer. */
    jwks_url: text({ allowEmpty: true }).default(''),
    /** Static verification keys: PEM (SPKI) public keys or JWK JSON objects as text. */
    public_keys: stringList().default([]),
    /** Shared secret for HMAC-signed tokens (HS256/384/512). */
    secret: text({ allowEmpty: true }).default(''),
    issuer: text({ allowEmpty: true }).default(''),
    audience: text({ allowEmpty: true }).default(''),
    clock_skew: duration({ positive: false }).default(30_000),
    algorithms: stringList().default([]),
  }).prefault({}),
  /** Keys credential hashes (HMAC-SHA-256) when set; plain SHA-256 otherwise. */
  secret: text({ allowEmpty: true }).default(''),
  /** Public URL of this MCP server (the protected resource), for OAuth metadata. */
  resource_url: text({ allowEmpty: true }).default(''),
  /** Authorization servers that issue tokens for this resource, for OAuth metadata. */
  authorization_servers: stringList().default([]),
});

const datasourceSchema = section('datasource', {
  /** Postgres the data tools query; empty = the embedded demo dataset (Node only). */
  dsn: postgresUrl().default(''),
  statement_timeout: duration({ positive: true, max: MAX_TIMER_MS }).default(5_000),
  /** Rows a query result carries at most. */
  row_limit: integer(1, 100_000, 'a whole number between 1 and 100000').default(200),
  /** Optional catalog file (YAML): owners, tags, glossary terms, deprecation notes. */
  catalog: text({ allowEmpty: true }).default(''),
  /**
   * Workers and Vercel refuse to serve a datasource to callers nobody authenticated (that would
   * publish the database to the internet) unless this says it is meant.
   */
  allow_unauthenticated: boolean().default(false),
});

const enrichmentSchema = section('enrichment', {
  session_dedup: section('enrichment.session_dedup', {
    enabled: boolean().default(true),
    /** What a result carries for context already sent in this session. */
    mode: oneOf(['reference', 'summary', 'none'] as const).default('reference'),
    /** After this long, the full context is sent again. */
    entry_ttl: duration({ positive: true }).default(60 * 60_000),
  }).prefault({}),
});

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

const requestStateSchema = section('request_state', {
  /** Signs requestState for 2026-07-28 clients; empty = generated (kept in the database store). */
  secret: secret().default(''),
  /** Keys still accepted for state they signed (rotation); never used to sign. */
  previous_secrets: secretList().default([]),
  /** How long a client may take to answer an input request. */
  ttl: duration({ positive: true, max: 24 * 60 * 60_000 }).default(10 * 60_000),
});

const CACHE_SCOPES = ['private', 'public'] as const;

const cacheOverride = section('caching.toolsets.*', {
  list_ttl: duration({ positive: false }).optional(),
  read_ttl: duration({ positive: false }).optional(),
  scope: oneOf(CACHE_SCOPES).optional(),
});

const cachingSchema = section('caching', {
  /** ttlMs on tools/list, prompts/list, resources/list and resources/templates/list (2026-07-28). */
  list_ttl: duration({ positive: false }).default(5 * 60_000),
  /** ttlMs on resources/read. */
  read_ttl: duration({ positive: false }).default(0),
  /** cacheScope: "private" (one client's cache) or "public" (shared caches may keep it). */
  scope: oneOf(CACHE_SCOPES).default('private'),
  /** Per toolset, by name: any of list_ttl, read_ttl and scope. */
  toolsets: z.record(z.string(), cacheOverride).default({}),
});

export const configSchema = section('', {
  server: serverSchema.prefault({}),
  database: databaseSchema.prefault({}),
  sessions: sessionsSchema.prefault({}),
  channel: channelSchema.prefault({}),
  auth: authSchema.prefault({}),
  datasource: datasourceSchema.prefault({}),
  enrichment: enrichmentSchema.prefault({}),
  request_state: requestStateSchema.prefault({}),
  caching: cachingSchema.prefault({}),
  toolsets: stringList().default([]),
}).transform(({ server, database, sessions, channel, auth, datasource, enrichment, request_state, caching, toolsets }) => ({
  server,
  database,
  sessions: {
    store: sessions.store,
    ttl: sessions.ttl ?? server.streamable.session_timeout,
    idle_timeout: sessions.idle_timeout ?? server.streamable.session_timeout,
    cleanup_interval: sessions.cleanup_interval,
    bind: sessions.bind,
    max_initialize_bytes: sessions.max_initialize_bytes,
    max_per_credential: sessions.max_per_credential,
    max_subscriptions: sessions.max_subscriptions,
    max_state_bytes: sessions.max_state_bytes,
  },
  channel,
  auth,
  datasource,
  enrichment,
  request_state,
  caching,
  toolsets,
}));

/** The validated configuration; durations are milliseconds. */
export type Config = z.output<typeof configSchema>;

export interface SchemaIssue {
  readonly path: KeyPath;
  readonly message: string;
}

export type ValidationResult = { ok: true; config: Config } | { ok: false; issues: SchemaIssue[] };

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

function unknownKeyMessage(parent: KeyPath, key: string): string {
  const path = parent.map(String);
  // Mappings keyed by name (caching.toolsets.<name>) share one set of keys.
  const known = knownKeys.get(path.join('.')) ?? knownKeys.get([...path.slice(0, -1), '*'].join('.')) ?? [];
  const guess = suggest(key, known);
  const hint = guess === undefined ? '' : `; did you mean "${guess}"?`;
  return `unknown key${hint} (known keys here: ${known.join(', ')})`;
}

/** Relations between keys that single-key checks cannot see. */
function checkRelations(config: Config): SchemaIssue[] {
  const issues: SchemaIssue[] = [];
  const { driver, dsn } = config.database;
  if ((driver === 'pg' || driver === 'neon-http') && dsn === '') {
    issues.push({
      path: ['database', 'driver'],
      message: `driver "${driver}" needs a connection URL in database.dsn (or DATABASE_URL)`,
    });
  }
  return issues;
}

/** Validates an expanded, overridden tree. */
export function validateConfig(tree: unknown): ValidationResult {
  const result = configSchema.safeParse(tree);
  if (!result.success) {
    const issues: SchemaIssue[] = [];
    for (const issue of result.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) {
          issues.push({ path: [...issue.path, key], message: unknownKeyMessage(issue.path, key) });
        }
      } else {
        issues.push({ path: issue.path, message: issue.message });
      }
    }
    return { ok: false, issues };
  }
  const issues = checkRelations(result.data);
  return issues.length > 0 ? { ok: false, issues } : { ok: true, config: result.data };
}
