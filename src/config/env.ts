/**
 * Environment variables that override configuration keys. On Workers and Vercel, where there is no
 * file, these are the way to configure the platform; on Node they win over `baton.yaml`.
 */
import { isMapping, type Tree } from './yaml.js';

/**
 * Process environment or Worker bindings. Only string values count (Workers `[vars]` may also be
 * numbers or booleans, which are read as text); bindings such as KV namespaces are ignored.
 */
export type EnvRecord = Readonly<Record<string, unknown>>;

/** The variable's text, or undefined when it is unset or not a plain value. */
export function readEnv(env: EnvRecord, name: string): string | undefined {
  const value = env[name];
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

export interface EnvOverride {
  /** Dotted key path in the configuration file that the variable replaces. */
  readonly path: string;
  readonly description: string;
}

/**
 * Variable name -> configuration key it replaces. An empty (or blank) variable counts as unset.
 * List values are comma-separated; spaces around items are trimmed and empty items dropped.
 */
export const ENV_OVERRIDES = {
  PORT: { path: 'server.port', description: 'Port the Node server listens on (1-65535).' },
  DATABASE_URL: { path: 'database.dsn', description: 'Postgres connection URL (postgres://...).' },
  DATABASE_DIRECT_URL: {
    path: 'database.direct_dsn',
    description: 'pg: a Postgres URL without a pooler, for LISTEN and migrations when DATABASE_URL is pooled.',
  },
  DATABASE_POOLER: {
    path: 'database.pooler',
    description: 'pg: auto, transaction or none: whether DATABASE_URL goes through a pooler in transaction mode.',
  },
  DATABASE_DRIVER: {
    path: 'database.driver',
    description: 'Database driver: auto, pg, neon-http or pglite.',
  },
  DATABASE_HTTP_ENDPOINT: {
    path: 'database.http_endpoint',
    description: 'neon-http only: URL of the HTTP query endpoint to use instead of Neon (e.g. the local dev endpoint).',
  },
  SESSIONS_STORE: { path: 'sessions.store', description: 'Session store: memory or database.' },
  SESSIONS_TTL: { path: 'sessions.ttl', description: 'Session lifetime, e.g. 30m.' },
  SESSIONS_IDLE_TIMEOUT: {
    path: 'sessions.idle_timeout',
    description: 'Idle time after which a session is evicted, e.g. 30m.',
  },
  SESSIONS_CLEANUP_INTERVAL: {
    path: 'sessions.cleanup_interval',
    description: 'How often expired and idle sessions are removed, e.g. 1m.',
  },
  SESSIONS_MAX_PER_CREDENTIAL: {
    path: 'sessions.max_per_credential',
    description:
      'Live sessions one credential may hold (anonymous callers share one count; a new one ends the least recently active); 0 for no limit.',
  },
  SESSIONS_MAX_INITIALIZE_BYTES: {
    path: 'sessions.max_initialize_bytes',
    description: 'Largest initialize capabilities + clientInfo (JSON bytes) a session stores.',
  },
  SESSIONS_MAX_SUBSCRIPTIONS: {
    path: 'sessions.max_subscriptions',
    description: 'Resources one session may be subscribed to at once; 0 for no limit.',
  },
  SESSIONS_MAX_STATE_BYTES: {
    path: 'sessions.max_state_bytes',
    description: 'Largest session state (JSON bytes) a request may leave.',
  },
  BATON_AUTH_REQUIRED: { path: 'auth.required', description: 'true to refuse requests without valid credentials.' },
  BATON_API_KEYS: {
    path: 'auth.api_keys',
    description: 'Comma-separated API keys (or sha256:<hex> digests) accepted as credentials.',
  },
  BATON_AUTH_SECRET: { path: 'auth.secret', description: 'Server secret that keys credential hashes (HMAC).' },
  DATASOURCE_URL: { path: 'datasource.dsn', description: 'Postgres URL the data tools query.' },
  DATASOURCE_ALLOW_UNAUTHENTICATED: {
    path: 'datasource.allow_unauthenticated',
    description: 'true to serve the datasource on Workers and Vercel without auth.required.',
  },
  BATON_TOOLSETS: {
    path: 'toolsets',
    description: 'Comma-separated toolsets to enable, e.g. conformance.',
  },
  BATON_REQUEST_STATE_SECRET: {
    path: 'request_state.secret',
    description: 'Key (at least 32 bytes, or base64:...) that signs requestState for 2026-07-28 clients.',
  },
  BATON_REQUEST_STATE_PREVIOUS_SECRETS: {
    path: 'request_state.previous_secrets',
    description: 'Comma-separated earlier keys, still accepted for requestState they signed (rotation).',
  },
  BATON_ALLOWED_HOSTS: {
    path: 'server.allowed_hosts',
    description: 'Comma-separated Host header values to accept, e.g. api.example.com.',
  },
  BATON_ALLOWED_ORIGINS: {
    path: 'server.allowed_origins',
    description: 'Comma-separated Origin values to accept, e.g. https://app.example.com.',
  },
} as const satisfies Record<string, EnvOverride>;

export type EnvOverrideName = keyof typeof ENV_OVERRIDES;

/** Variables that say where the configuration comes from (not overrides of single keys). */
export const CONFIG_SOURCE_VARIABLES = {
  BATON_CONFIG: 'Path of the YAML configuration file (Node); default baton.yaml in the working directory.',
  BATON_CONFIG_YAML: 'The YAML configuration itself, for Workers and Vercel where there is no file.',
} as const;

export interface AppliedOverride {
  readonly variable: EnvOverrideName;
  readonly path: readonly string[];
}

/**
 * Writes the set override variables into the (already expanded) configuration tree, as text; the
 * schema then reads them exactly like file values. Returns the overrides applied, so that errors
 * at those keys can name the variable instead of the file.
 */
export function applyEnvOverrides(tree: Tree, env: EnvRecord): AppliedOverride[] {
  const applied: AppliedOverride[] = [];
  for (const [variable, { path }] of Object.entries(ENV_OVERRIDES) as [EnvOverrideName, EnvOverride][]) {
    const value = readEnv(env, variable);
    if (value === undefined || value.trim() === '') continue;
    const keys = path.split('.');
    let node: Tree = tree;
    let reachable = true;
    for (const key of keys.slice(0, -1)) {
      const child = node[key];
      if (child === undefined) {
        const created: Tree = {};
        node[key] = created;
        node = created;
      } else if (isMapping(child)) {
        node = child;
      } else {
        // The file has a non-mapping here; the schema reports that at the file's key.
        reachable = false;
        break;
      }
    }
    if (!reachable) continue;
    node[keys[keys.length - 1] as string] = value;
    applied.push({ variable, path: keys });
  }
  return applied;
}
