import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ConfigError,
  ENV_OVERRIDES,
  configFromEnv,
  defaultConfig,
  expandString,
  formatDuration,
  parseConfig,
  parseDuration,
  type Config,
  type EnvOverrideName,
} from '../src/config/index.js';
import { keysAt, settingAt } from '../src/config/keys.js';
import { loadConfig } from '../src/config/load-file.js';
import { configSchema } from '../src/config/schema.js';

/** Runs fn, expects a ConfigError, returns it. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError, but nothing was thrown');
}

const MINUTE = 60_000;

const tempDirs: string[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'baton-config-test-'));
  tempDirs.push(dir);
  return dir;
}

/** Writes baton YAML to a fresh temp directory; returns the directory and the file path. */
function writeConfig(yaml: string, name = 'baton.yaml'): { dir: string; file: string } {
  const dir = tempDir();
  const file = join(dir, name);
  writeFileSync(file, yaml);
  return { dir, file };
}

/** Loads YAML text as a file through BATON_CONFIG, as the Node server does. */
function loadYaml(yaml: string, env: Record<string, string> = {}): { config: Config; source: string } {
  const { dir, file } = writeConfig(yaml, 'custom.yaml');
  return loadConfig({ ...env, BATON_CONFIG: file }, dir);
}

afterEach(() => {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('defaults', () => {
  it('has every documented default', () => {
    expect(defaultConfig()).toEqual({
      server: {
        port: 8080,
        max_body_bytes: 4 * 1024 * 1024,
        allowed_hosts: [],
        allowed_origins: [],
        streamable: { session_timeout: 30 * MINUTE },
        shutdown: { grace_period: 25_000, pre_shutdown_delay: 2_000 },
      },
      database: {
        dsn: '',
        direct_dsn: '',
        pooler: 'auto',
        driver: 'auto',
        auto_migrate: true,
        pglite_dir: '.data/pglite',
        http_endpoint: '',
        statement_timeout: 5_000,
      },
      sessions: {
        store: 'memory',
        ttl: 30 * MINUTE,
        idle_timeout: 30 * MINUTE,
        cleanup_interval: MINUTE,
        bind: 'token',
        max_initialize_bytes: 64 * 1024,
        max_per_credential: 1_000,
        max_open_tasks: 100,
        max_subscriptions: 100,
        max_state_bytes: 64 * 1024,
      },
      tasks: { lease: 30_000, takeover_interval: 5_000 },
      channel: { poll_interval: 500, retention: 5 * MINUTE, retry: 1_000 },
      auth: {
        required: false,
        api_keys: [],
        jwt: { jwks_url: '', public_keys: [], secret: '', issuer: '', audience: '', clock_skew: 30_000, algorithms: [] },
        secret: '',
        resource_url: '',
        authorization_servers: [],
      },
      datasource: { dsn: '', statement_timeout: 5_000, row_limit: 200, catalog: '', allow_unauthenticated: false },
      enrichment: { session_dedup: { enabled: true, mode: 'reference', entry_ttl: 60 * MINUTE } },
      request_state: { secret: '', previous_secrets: [], ttl: 10 * MINUTE },
      caching: { list_ttl: 5 * MINUTE, read_ttl: 0, scope: 'private', toolsets: {} },
      toolsets: [],
    });
  });

  it('gives the same result for an empty mapping, null (empty file) and no environment', () => {
    expect(parseConfig({}, {})).toEqual(defaultConfig());
    expect(parseConfig(null, {})).toEqual(defaultConfig());
    expect(parseConfig(undefined, {})).toEqual(defaultConfig());
  });

  it('takes ttl and idle_timeout from session_timeout when only session_timeout is set', () => {
    const config = parseConfig({ server: { streamable: { session_timeout: '2h' } } }, {});
    expect(config.server.streamable.session_timeout).toBe(120 * MINUTE);
    expect(config.sessions.ttl).toBe(120 * MINUTE);
    expect(config.sessions.idle_timeout).toBe(120 * MINUTE);
  });

  it('keeps an explicit ttl or idle_timeout instead of session_timeout', () => {
    const config = parseConfig({ server: { streamable: { session_timeout: '2h' } }, sessions: { ttl: '1h', store: 'database' } }, {});
    expect(config.sessions.ttl).toBe(60 * MINUTE);
    expect(config.sessions.idle_timeout).toBe(120 * MINUTE);
    expect(config.sessions.store).toBe('database');
  });

  it('treats keys left empty (YAML null) as unset, including whole sections', () => {
    const { config } = loadYaml('server:\n  port:\nsessions:\n  # store: database\ndatabase:\n  dsn:\n');
    expect(config).toEqual(defaultConfig());
  });

  it('reads a complete file with every key', () => {
    const { config } = loadYaml(`
server:
  port: 9000
  max_body_bytes: 1048576
  allowed_hosts: [api.example.com, "localhost:9000"]
  allowed_origins:
    - https://app.example.com
  streamable:
    session_timeout: 45m
  shutdown:
    grace_period: 20s
    pre_shutdown_delay: 0
database:
  dsn: postgres://user:pw@pooler:6432/baton
  direct_dsn: postgres://user:pw@db:5432/baton
  pooler: transaction
  driver: pg
  auto_migrate: false
  pglite_dir: /var/lib/baton
sessions:
  store: database
  ttl: 1h
  idle_timeout: 10m
  cleanup_interval: 30s
  bind: principal
  max_initialize_bytes: 8192
  max_per_credential: 0
  max_open_tasks: 5
  max_subscriptions: 10
  max_state_bytes: 4096
tasks:
  lease: 10s
  takeover_interval: 2s
channel:
  poll_interval: 250ms
  retention: 10m
  stream_timeout: 30s
  retry: 2s
auth:
  required: true
  api_keys: [key-one, "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]
  jwt:
    jwks_url: https://issuer.example.com/.well-known/jwks.json
    issuer: https://issuer.example.com/
    audience: mcp-baton
    clock_skew: 1m
    algorithms: [RS256]
  secret: server-secret
  resource_url: https://mcp.example.com/mcp
  authorization_servers: [https://issuer.example.com/]
datasource:
  dsn: postgres://reader@db:5432/shop
  statement_timeout: 2s
  row_limit: 50
  catalog: catalog.yaml
  allow_unauthenticated: true
enrichment:
  session_dedup:
    enabled: false
    mode: summary
    entry_ttl: 10m
request_state:
  secret: a-request-state-secret-of-32-bytes-or-more
  previous_secrets: [an-older-request-state-secret-of-32-bytes]
  ttl: 5m
caching:
  list_ttl: 1m
  read_ttl: 10s
  scope: public
  toolsets:
    conformance: { read_ttl: 0, scope: private }
toolsets: [conformance, echo]
`);
    expect(config).toEqual({
      server: {
        port: 9000,
        max_body_bytes: 1_048_576,
        allowed_hosts: ['api.example.com', 'localhost:9000'],
        allowed_origins: ['https://app.example.com'],
        streamable: { session_timeout: 45 * MINUTE },
        shutdown: { grace_period: 20_000, pre_shutdown_delay: 0 },
      },
      database: {
        dsn: 'postgres://user:pw@pooler:6432/baton',
        direct_dsn: 'postgres://user:pw@db:5432/baton',
        pooler: 'transaction',
        driver: 'pg',
        auto_migrate: false,
        pglite_dir: '/var/lib/baton',
        http_endpoint: '',
        statement_timeout: 5_000,
      },
      sessions: {
        store: 'database',
        ttl: 60 * MINUTE,
        idle_timeout: 10 * MINUTE,
        cleanup_interval: 30_000,
        bind: 'principal',
        max_initialize_bytes: 8192,
        max_per_credential: 0,
        max_open_tasks: 5,
        max_subscriptions: 10,
        max_state_bytes: 4096,
      },
      tasks: { lease: 10_000, takeover_interval: 2_000 },
      channel: { poll_interval: 250, retention: 10 * MINUTE, stream_timeout: 30_000, retry: 2_000 },
      auth: {
        required: true,
        api_keys: ['key-one', 'sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'],
        jwt: {
          jwks_url: 'https://issuer.example.com/.well-known/jwks.json',
          public_keys: [],
          secret: '',
          issuer: 'https://issuer.example.com/',
          audience: 'mcp-baton',
          clock_skew: MINUTE,
          algorithms: ['RS256'],
        },
        secret: 'server-secret',
        resource_url: 'https://mcp.example.com/mcp',
        authorization_servers: ['https://issuer.example.com/'],
      },
      datasource: {
        dsn: 'postgres://reader@db:5432/shop',
        statement_timeout: 2_000,
        row_limit: 50,
        catalog: 'catalog.yaml',
        allow_unauthenticated: true,
      },
      enrichment: { session_dedup: { enabled: false, mode: 'summary', entry_ttl: 10 * MINUTE } },
      request_state: {
        secret: 'a-request-state-secret-of-32-bytes-or-more',
        previous_secrets: ['an-older-request-state-secret-of-32-bytes'],
        ttl: 5 * MINUTE,
      },
      caching: { list_ttl: MINUTE, read_ttl: 10_000, scope: 'public', toolsets: { conformance: { read_ttl: 0, scope: 'private' } } },
      toolsets: ['conformance', 'echo'],
    });
  });
});

describe('durations', () => {
  it.each([
    ['30m', 30 * MINUTE],
    ['1m', MINUTE],
    ['25s', 25_000],
    ['1h30m', 90 * MINUTE],
    ['500ms', 500],
    ['1.5h', 90 * MINUTE],
    ['0', 0],
    ['0s', 0],
    ['1h2m3s', 3_723_000],
    ['2d', 2 * 24 * 60 * MINUTE],
    ['1s500ms', 1_500],
    ['.5s', 500],
    [' 10s ', 10_000],
  ])('parses %j as %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    ['', /empty duration/],
    ['   ', /empty duration/],
    ['-5m', /negative duration "-5m"/],
    ['5y', /unknown unit "y" in duration "5y"/],
    ['10M', /unknown unit "M"/],
    ['30', /missing unit in duration "30": write e\.g\. "30s"/],
    ['1h30', /missing unit in duration "1h30": write e\.g\. "30s"/],
    ['soon', /invalid duration "soon"/],
    ['1h 30m', /invalid duration "1h 30m"/],
    ['h', /invalid duration "h"/],
    ['1.2.3s', /invalid duration "1\.2\.3s"/],
    ['1e3s', /unknown unit "e"/],
  ])('rejects %j', (text, message) => {
    expect(() => parseDuration(text)).toThrow(message);
  });

  it('shows examples of valid durations in its errors', () => {
    expect(() => parseDuration('soon')).toThrow(/e\.g\. "30s", "1m", "1h30m"/);
  });

  it('formats milliseconds the way it parses them', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(90 * MINUTE)).toBe('1h30m');
    expect(formatDuration(1_500)).toBe('1s500ms');
    expect(formatDuration(25_000)).toBe('25s');
    expect(formatDuration(86_400_000 + 61_001)).toBe('1d1m1s1ms');
    for (const ms of [1, 999, 1_000, 59_999, 3_723_000, 2 ** 31 - 1]) {
      expect(parseDuration(formatDuration(ms))).toBe(ms);
    }
  });

  it('converts durations in the file and names the key of a bad one', () => {
    const config = parseConfig({ server: { shutdown: { grace_period: '1m30s' } } }, {});
    expect(config.server.shutdown.grace_period).toBe(90_000);
    const error = configError(() => parseConfig({ server: { shutdown: { grace_period: '-1s' } } }, {}));
    expect(error.message).toContain('server.shutdown.grace_period: negative duration "-1s"');
  });

  it('rejects zero where zero makes no sense, and allows it for shutdown delays', () => {
    const error = configError(() =>
      parseConfig(
        {
          server: { streamable: { session_timeout: '0s' } },
          sessions: { ttl: '0', idle_timeout: '0ms', cleanup_interval: 0 },
        },
        {},
      ),
    );
    expect(error.issues.map((i) => i.path)).toEqual([
      'server.streamable.session_timeout',
      'sessions.ttl',
      'sessions.idle_timeout',
      'sessions.cleanup_interval',
    ]);
    for (const issue of error.issues) expect(issue.message).toContain('must be longer than zero');

    const config = parseConfig({ server: { shutdown: { grace_period: '0s', pre_shutdown_delay: 0 } } }, {});
    expect(config.server.shutdown).toEqual({ grace_period: 0, pre_shutdown_delay: 0 });
  });

  it('refuses task leases and takeover intervals too short to be safe, saying why', () => {
    const error = configError(() => parseConfig({ tasks: { lease: '500ms', takeover_interval: '10ms' } }, {}));
    expect(error.issues.map((i) => i.path)).toEqual(['tasks.lease', 'tasks.takeover_interval']);
    expect(error.message).toContain('tasks.lease: must be at least 1s: a lease is renewed every third of it');
    expect(error.message).toContain('tasks.takeover_interval: must be at least 100ms');
    expect(configError(() => parseConfig({ tasks: { lease: 'soon' } }, {})).message).toContain('tasks.lease: invalid duration "soon"');
  });

  it('rejects timer durations that JavaScript timers cannot wait for', () => {
    const error = configError(() => parseConfig({ sessions: { cleanup_interval: '30d' } }, {}));
    expect(error.message).toContain('sessions.cleanup_interval: must be at most 24d20h31m23s647ms, got "30d"');
  });
});

describe('${VAR} expansion', () => {
  it('replaces a set variable, inside other text too', () => {
    const config = parseConfig(
      { database: { dsn: 'postgres://app:${DB_PASSWORD}@${DB_HOST}:5432/app' } },
      { DB_PASSWORD: 's3cret', DB_HOST: 'db.internal' },
    );
    expect(config.database.dsn).toBe('postgres://app:s3cret@db.internal:5432/app');
  });

  it('uses the default when the variable is unset or empty', () => {
    const raw = { database: { pglite_dir: '${PGLITE_DIR:-/data/pglite}' } };
    expect(parseConfig(raw, {}).database.pglite_dir).toBe('/data/pglite');
    expect(parseConfig(raw, { PGLITE_DIR: '' }).database.pglite_dir).toBe('/data/pglite');
    expect(parseConfig(raw, { PGLITE_DIR: '/srv/pg' }).database.pglite_dir).toBe('/srv/pg');
  });

  it('allows an empty default', () => {
    expect(parseConfig({ database: { dsn: '${DB_URL:-}' } }, {}).database.dsn).toBe('');
    expect(expandString('a${X:-}b', {})).toBe('ab');
  });

  it('reports an unset variable without default with the key path and the variable name', () => {
    const error = configError(() => parseConfig({ database: { dsn: '${DATABASE_URL}' } }, {}, 'baton.yaml'));
    expect(error.issues).toEqual([{ path: 'database.dsn', message: 'environment variable DATABASE_URL is not set' }]);
    expect(error.message).toContain('baton.yaml');
    expect(error.message).toContain('database.dsn: environment variable DATABASE_URL is not set');
  });

  it('names the list index of an unset variable inside a list', () => {
    const error = configError(() => parseConfig({ toolsets: ['echo', '${EXTRA_TOOLSET}'] }, {}));
    expect(error.issues).toEqual([{ path: 'toolsets[1]', message: 'environment variable EXTRA_TOOLSET is not set' }]);
  });

  it('treats $$ as a literal $', () => {
    expect(parseConfig({ database: { pglite_dir: '/data/$$HOME/x' } }, {}).database.pglite_dir).toBe('/data/$HOME/x');
    expect(expandString('cost: $$5 and $$${X}', { X: '7' })).toBe('cost: $5 and $7');
  });

  it('leaves a $ that is not followed by a name or brace alone', () => {
    expect(expandString('price $5, end $', {})).toBe('price $5, end $');
  });

  it('rejects $NAME without braces instead of leaving it unexpanded', () => {
    const error = configError(() => parseConfig({ database: { dsn: '$DATABASE_URL' } }, {}));
    expect(error.message).toContain('database.dsn: "$DATABASE_URL" is not expanded: write ${DATABASE_URL}');
  });

  it('rejects malformed references with the forms that work', () => {
    expect(() => expandString('${X', {})).toThrow(/no closing "}".*\$\{NAME:-default\}/);
    expect(() => expandString('${X-y}', {})).toThrow(/invalid reference "\$\{X-y\}"/);
    expect(() => expandString('${}', {})).toThrow(/invalid reference "\$\{\}"/);
  });

  it('expands nested defaults, only when needed', () => {
    expect(expandString('${A:-${B:-fallback}}', {})).toBe('fallback');
    expect(expandString('${A:-${B:-fallback}}', { B: 'b' })).toBe('b');
    expect(expandString('${A:-${B}}', { A: 'a' })).toBe('a');
    expect(() => expandString('${A:-${B}}', {})).toThrow('environment variable B is not set');
  });

  it('does not expand keys, nor text coming from the environment', () => {
    const error = configError(() => parseConfig({ '${KEY}': 'x' }, { KEY: 'server' }));
    expect(error.issues[0]?.path).toBe('${KEY}');
    expect(error.issues[0]?.message).toContain('unknown key');
    expect(parseConfig({ database: { pglite_dir: '${DIR}' } }, { DIR: '${NOT_EXPANDED}' }).database.pglite_dir).toBe('${NOT_EXPANDED}');
  });

  it('lets expanded text fill numbers, booleans, durations and lists', () => {
    const config = parseConfig(
      {
        server: { port: '${APP_PORT:-9090}', streamable: { session_timeout: '${TIMEOUT}' } },
        database: { auto_migrate: '${MIGRATE}' },
        toolsets: '${TOOLSETS}',
      },
      { TIMEOUT: '15m', MIGRATE: 'false', TOOLSETS: 'a, b' },
    );
    expect(config.server.port).toBe(9090);
    expect(config.server.streamable.session_timeout).toBe(15 * MINUTE);
    expect(config.sessions.ttl).toBe(15 * MINUTE);
    expect(config.database.auto_migrate).toBe(false);
    expect(config.toolsets).toEqual(['a', 'b']);
  });

  it('reports every unset variable at once, and no follow-on errors for them', () => {
    const error = configError(() => parseConfig({ server: { port: '${P}' }, database: { dsn: '${D}' }, sessions: { ttl: '${T}' } }, {}));
    expect(error.issues.map((i) => `${i.path}: ${i.message}`)).toEqual([
      'server.port: environment variable P is not set',
      'database.dsn: environment variable D is not set',
      'sessions.ttl: environment variable T is not set',
    ]);
  });
});

describe('environment overrides', () => {
  const file = {
    server: { port: 9000, allowed_hosts: ['file.example.com'], allowed_origins: ['https://file.example.com'] },
    database: { dsn: 'postgres://file/db', driver: 'pglite' },
    sessions: { store: 'memory', ttl: '1h', idle_timeout: '20m', cleanup_interval: '5m' },
    toolsets: ['from-file'],
  };

  it.each<[EnvOverrideName, string, (c: Config) => unknown, unknown]>([
    ['PORT', '3000', (c) => c.server.port, 3000],
    ['DATABASE_URL', 'postgres://env:pw@host/db', (c) => c.database.dsn, 'postgres://env:pw@host/db'],
    ['DATABASE_DRIVER', 'neon-http', (c) => c.database.driver, 'neon-http'],
    ['SESSIONS_STORE', 'database', (c) => c.sessions.store, 'database'],
    ['SESSIONS_TTL', '2h', (c) => c.sessions.ttl, 120 * MINUTE],
    ['SESSIONS_IDLE_TIMEOUT', '90s', (c) => c.sessions.idle_timeout, 90_000],
    ['SESSIONS_CLEANUP_INTERVAL', '10s', (c) => c.sessions.cleanup_interval, 10_000],
    ['SESSIONS_MAX_PER_CREDENTIAL', '0', (c) => c.sessions.max_per_credential, 0],
    ['DATASOURCE_ALLOW_UNAUTHENTICATED', 'true', (c) => c.datasource.allow_unauthenticated, true],
    ['SESSIONS_MAX_INITIALIZE_BYTES', '4096', (c) => c.sessions.max_initialize_bytes, 4096],
    ['SESSIONS_MAX_SUBSCRIPTIONS', '0', (c) => c.sessions.max_subscriptions, 0],
    ['SESSIONS_MAX_STATE_BYTES', '2048', (c) => c.sessions.max_state_bytes, 2048],
    ['BATON_TOOLSETS', ' conformance , ,echo,', (c) => c.toolsets, ['conformance', 'echo']],
    ['BATON_ALLOWED_HOSTS', 'a.example.com, b.example.com:8443', (c) => c.server.allowed_hosts, ['a.example.com', 'b.example.com:8443']],
    [
      'BATON_ALLOWED_ORIGINS',
      'https://a.example.com,http://localhost:3000',
      (c) => c.server.allowed_origins,
      ['https://a.example.com', 'http://localhost:3000'],
    ],
  ])('%s=%j wins over the file', (variable, value, read, expected) => {
    expect(read(parseConfig(file, {}))).not.toEqual(expected);
    expect(read(parseConfig(file, { [variable]: value }))).toEqual(expected);
    // and works with no file at all (Workers, Vercel); neon-http needs a URL there
    const needsUrl = variable === 'DATABASE_DRIVER' ? { DATABASE_URL: 'postgres://neon/db' } : {};
    expect(read(configFromEnv({ [variable]: value, ...needsUrl }))).toEqual(expected);
  });

  it('lists every override in ENV_OVERRIDES with the key path it sets', () => {
    expect(Object.keys(ENV_OVERRIDES).sort()).toEqual(
      [
        'BATON_ALLOWED_HOSTS',
        'BATON_ALLOWED_ORIGINS',
        'BATON_API_KEYS',
        'BATON_AUTH_REQUIRED',
        'BATON_AUTH_SECRET',
        'BATON_REQUEST_STATE_PREVIOUS_SECRETS',
        'BATON_REQUEST_STATE_SECRET',
        'DATASOURCE_URL',
        'DATASOURCE_ALLOW_UNAUTHENTICATED',
        'BATON_TOOLSETS',
        'DATABASE_DIRECT_URL',
        'DATABASE_DRIVER',
        'DATABASE_POOLER',
        'DATABASE_HTTP_ENDPOINT',
        'DATABASE_URL',
        'PORT',
        'SESSIONS_CLEANUP_INTERVAL',
        'SESSIONS_IDLE_TIMEOUT',
        'SESSIONS_MAX_INITIALIZE_BYTES',
        'SESSIONS_MAX_PER_CREDENTIAL',
        'SESSIONS_MAX_STATE_BYTES',
        'SESSIONS_MAX_SUBSCRIPTIONS',
        'SESSIONS_STORE',
        'SESSIONS_TTL',
      ].sort(),
    );
    // Every path names a key that exists in the configuration.
    for (const [variable, { path, description }] of Object.entries(ENV_OVERRIDES)) {
      expect(description.length).toBeGreaterThan(10);
      const keys = path.split('.');
      let node: unknown = defaultConfig();
      for (const key of keys) node = (node as Record<string, unknown>)[key];
      expect(node, `${variable} -> ${path}`).not.toBeUndefined();
    }
  });

  it('sets through every override a value that the schema declares, not a section', () => {
    for (const [variable, { path }] of Object.entries(ENV_OVERRIDES)) {
      const keys = path.split('.');
      expect(settingAt(configSchema, keys), `${variable} -> ${path}`).toBeDefined();
      expect(keysAt(configSchema, keys), `${variable} -> ${path}`).toBeUndefined();
    }
    // and the walk itself tells settings, sections and unknown keys apart
    expect(keysAt(configSchema, ['server', 'shutdown'])).toEqual(['grace_period', 'pre_shutdown_delay']);
    expect(keysAt(configSchema, ['caching', 'toolsets', 'any-name'])).toEqual(['list_ttl', 'read_ttl', 'scope']);
    expect(settingAt(configSchema, ['sessions', 'stor'])).toBeUndefined();
    expect(settingAt(configSchema, ['server', 'port', 'x'])).toBeUndefined();
  });

  it('on Workers and Vercel, sessions.store follows DATABASE_URL unless it is set; on Node it stays memory', () => {
    const edge = { storeFollowsDatabase: true };
    const url = 'postgres://neon.example/db';
    expect(configFromEnv({ DATABASE_URL: url }, edge).sessions.store).toBe('database');
    expect(configFromEnv({ BATON_CONFIG_YAML: `database: {dsn: "${url}"}` }, edge).sessions.store).toBe('database');
    expect(configFromEnv({ BATON_CONFIG_YAML: 'sessions: {ttl: 1h}', DATABASE_URL: url }, edge).sessions).toMatchObject({
      store: 'database',
      ttl: 60 * MINUTE,
    });
    // Set explicitly, it stays what it says.
    expect(configFromEnv({ DATABASE_URL: url, SESSIONS_STORE: 'memory' }, edge).sessions.store).toBe('memory');
    expect(configFromEnv({ DATABASE_URL: url, BATON_CONFIG_YAML: 'sessions: {store: memory}' }, edge).sessions.store).toBe('memory');
    // No database, nothing to follow.
    expect(configFromEnv({}, edge).sessions.store).toBe('memory');
    expect(configFromEnv({ DATABASE_URL: '  ' }, edge).sessions.store).toBe('memory');
    // The Node server keeps the documented default.
    expect(configFromEnv({ DATABASE_URL: url }).sessions.store).toBe('memory');
    expect(loadYaml(`database: {dsn: "${url}"}`).config.sessions.store).toBe('memory');
    // A bad value is still reported at its key.
    expect(configError(() => configFromEnv({ DATABASE_URL: url, BATON_CONFIG_YAML: 'sessions: database' }, edge)).message).toContain(
      'sessions: expected a mapping of settings',
    );
  });

  it('ignores empty variables', () => {
    const config = parseConfig(file, { PORT: '', DATABASE_URL: '', BATON_TOOLSETS: '  ' });
    expect(config.server.port).toBe(9000);
    expect(config.database.dsn).toBe('postgres://file/db');
    expect(config.toolsets).toEqual(['from-file']);
  });

  it('sets ttl and idle_timeout independently of session_timeout', () => {
    const config = configFromEnv({ SESSIONS_TTL: '10m' });
    expect(config.sessions.ttl).toBe(10 * MINUTE);
    expect(config.sessions.idle_timeout).toBe(30 * MINUTE);
  });

  it.each<[EnvOverrideName, string, string]>([
    ['PORT', 'abc', 'PORT (environment): expected an integer between 0 and 65535 (0: any free port), got "abc"'],
    ['PORT', '-1', 'PORT (environment): expected an integer between 0 and 65535 (0: any free port), got "-1"'],
    ['PORT', '8080.5', 'PORT (environment): expected an integer between 0 and 65535 (0: any free port), got "8080.5"'],
    ['DATABASE_URL', 'mysql://root:hunter2@db/app', 'DATABASE_URL (environment): expected a postgres URL'],
    ['DATABASE_DRIVER', 'mysql', 'DATABASE_DRIVER (environment): expected one of "auto", "pg", "neon-http", "pglite", got "mysql"'],
    ['SESSIONS_STORE', 'redis', 'SESSIONS_STORE (environment): expected one of "memory", "database", got "redis"'],
    ['SESSIONS_TTL', 'soon', 'SESSIONS_TTL (environment): invalid duration "soon"'],
    ['SESSIONS_IDLE_TIMEOUT', '0s', 'SESSIONS_IDLE_TIMEOUT (environment): must be longer than zero'],
    ['SESSIONS_CLEANUP_INTERVAL', '30', 'SESSIONS_CLEANUP_INTERVAL (environment): missing unit in duration "30"'],
    ['BATON_ALLOWED_HOSTS', 'ok.example.com,https://bad.example.com', 'BATON_ALLOWED_HOSTS (environment): expected a host'],
    ['BATON_ALLOWED_ORIGINS', 'https://app.example.com/', 'BATON_ALLOWED_ORIGINS (environment): expected an origin'],
  ])('%s=%j is reported under the variable name', (variable, value, expected) => {
    const error = configError(() => parseConfig({}, { [variable]: value }, 'environment'));
    expect(error.message).toContain(expected);
    expect(error.issues).toHaveLength(1);
    expect(error.issues[0]?.path).toBe(`${variable} (environment)`);
  });

  it('never repeats a bad DATABASE_URL, which may hold a password', () => {
    const error = configError(() => parseConfig({}, { DATABASE_URL: 'mysql://root:hunter2@db/app' }));
    expect(error.message).not.toContain('hunter2');
    expect(error.message).toContain('got a "mysql://" URL');
  });

  it('reports file problems under the key and override problems under the variable, together', () => {
    const error = configError(() => parseConfig({ sessions: { store: 'redis' } }, { PORT: 'abc' }, 'baton.yaml'));
    expect(error.issues.map((i) => i.path)).toEqual(['PORT (environment)', 'sessions.store']);
  });

  it('replaces a file value whose expansion failed, without reporting that value', () => {
    const config = parseConfig({ database: { dsn: '${UNSET_VAR}' } }, { DATABASE_URL: 'postgres://env/db' });
    expect(config.database.dsn).toBe('postgres://env/db');
  });
});

describe('invalid configuration files', () => {
  function fileError(yaml: string): ConfigError {
    const { dir, file } = writeConfig(yaml);
    const error = configError(() => loadConfig({}, dir));
    expect(error.source).toBe(file);
    expect(error.message).toContain(file);
    return error;
  }

  it('rejects an unknown key, suggesting the right one', () => {
    const error = fileError('sessions:\n  stor: database\n');
    expect(error.issues).toHaveLength(1);
    expect(error.message).toContain('sessions.stor: unknown key; did you mean "store"?');
    expect(error.message).toContain('known keys here: store, bind, ttl, idle_timeout, cleanup_interval');
  });

  it('rejects unknown keys at the top level and in nested sections', () => {
    const error = fileError('servr:\n  port: 1\nserver:\n  streamable:\n    session_timout: 5m\n');
    expect(error.issues.map((i) => i.path).sort()).toEqual(['server.streamable.session_timout', 'servr']);
    expect(error.message).toContain('did you mean "session_timeout"?');
    expect(error.message).toContain('did you mean "server"?');
  });

  it('rejects an unknown session store', () => {
    const error = fileError('sessions:\n  store: redis\n');
    expect(error.message).toContain('sessions.store: expected one of "memory", "database", got "redis"');
  });

  it('rejects a port out of range', () => {
    const error = fileError('server:\n  port: 70000\n');
    expect(error.message).toContain('server.port: expected an integer between 0 and 65535 (0: any free port), got 70000');
  });

  it('rejects a bare number as a duration, showing how to write it', () => {
    const error = fileError('sessions:\n  ttl: 30\n');
    expect(error.message).toContain('sessions.ttl: a bare number is not a duration');
    expect(error.message).toContain('"30s"');
  });

  it('rejects a duration that is not one', () => {
    const error = fileError('sessions:\n  ttl: soon\n');
    expect(error.message).toContain('sessions.ttl: invalid duration "soon"');
  });

  it('rejects a requestState secret that is too short, without echoing it', () => {
    const error = fileError('request_state:\n  secret: short-secret\n  previous_secrets: [also-short]\n');
    expect(error.message).toContain('request_state.secret: expected a secret of at least 32 bytes (got 12');
    expect(error.message).toContain('request_state.previous_secrets[0]: expected a secret of at least 32 bytes');
    expect(error.message).not.toContain('short-secret');
    expect(error.message).not.toContain('also-short');
  });

  it('rejects a caching scope and an unknown key under a toolset, naming the keys it knows', () => {
    const error = fileError('caching:\n  scope: everyone\n  toolsets:\n    data: { read_tll: 1s }\n');
    expect(error.message).toContain('caching.scope: expected one of "private", "public", got "everyone"');
    expect(error.message).toContain('caching.toolsets.data.read_tll: unknown key; did you mean "read_ttl"?');
    expect(error.message).toContain('known keys here: list_ttl, read_ttl, scope');
  });

  it('reports a YAML syntax error with its line and column', () => {
    const error = fileError('server:\n  port: 8080\nsessions:\n  store: [memory\n');
    expect(error.issues).toHaveLength(1);
    expect(error.issues[0]?.path).toMatch(/^line \d+, column \d+$/);
    expect(error.message).toMatch(/line [45], column \d+: YAML syntax error: /);
  });

  it('reports a duplicate key as a YAML error on its line', () => {
    const error = fileError('server:\n  port: 1\n  port: 2\n');
    expect(error.message).toContain('line 3, column 3: YAML syntax error: Map keys must be unique');
  });

  it('rejects a file whose top level is a list', () => {
    const error = fileError('- server\n- sessions\n');
    expect(error.message).toContain('(top level): expected a mapping of settings');
    expect(error.message).toContain('got a list');
  });

  it('rejects a file whose top level is a scalar', () => {
    const error = fileError('just some text\n');
    expect(error.message).toContain('(top level): expected a mapping of settings');
  });

  it('rejects a section that is not a mapping', () => {
    const error = fileError('server: 8080\n');
    expect(error.message).toContain('server: expected a mapping of settings, got 8080');
  });

  it('rejects wrong types and values with the key path', () => {
    const error = fileError(`
server:
  max_body_bytes: -1
  allowed_hosts: https://api.example.com/
  allowed_origins: [https://app.example.com/]
database:
  dsn: not a url
  auto_migrate: yes
  pglite_dir: ""
toolsets: [echo, 3]
`);
    const lines = error.issues.map((i) => `${i.path}: ${i.message}`);
    expect(lines).toEqual([
      'server.max_body_bytes: expected a positive whole number of bytes, got -1',
      'server.allowed_hosts[0]: expected a host such as "api.example.com" or "localhost:8080" (no scheme or path), got "https://api.example.com/"',
      'server.allowed_origins[0]: expected an origin such as "https://app.example.com" (scheme and host, no path or trailing slash), got "https://app.example.com/"',
      'database.dsn: expected a postgres URL such as "postgres://user:password@host:5432/db" (or "" for none), got a value that is not a URL',
      'database.auto_migrate: expected true or false, got "yes"',
      'database.pglite_dir: must not be empty',
      'toolsets[1]: expected a non-empty string, got 3',
    ]);
    expect(error.message.split('\n')[0]).toBe(`Invalid configuration (${error.source}), 7 problems:`);
  });

  it('rejects session limits that are not whole numbers in range, naming the key or variable', () => {
    const error = fileError(
      'sessions:\n  max_initialize_bytes: 0\n  max_per_credential: -3\n  max_subscriptions: 1.5\n  max_state_bytes: 0\n',
    );
    expect(error.issues.map((i) => `${i.path}: ${i.message}`)).toEqual([
      'sessions.max_initialize_bytes: expected a positive whole number of bytes, got 0',
      'sessions.max_per_credential: expected a whole number from 0 (no limit) to 1000000000, got -3',
      'sessions.max_subscriptions: expected a whole number from 0 (no limit) to 1000000000, got 1.5',
      'sessions.max_state_bytes: expected a positive whole number of bytes, got 0',
    ]);
    const fromEnv = configError(() => configFromEnv({ SESSIONS_MAX_PER_CREDENTIAL: 'lots' }));
    expect(fromEnv.message).toContain(
      'SESSIONS_MAX_PER_CREDENTIAL (environment): expected a whole number from 0 (no limit) to 1000000000, got "lots"',
    );
  });

  it('reads text where numbers, booleans and secrets go only in the forms it documents', () => {
    const lines = (raw: unknown, env: Record<string, string> = {}) =>
      configError(() => parseConfig(raw, env)).issues.map((i) => `${i.path}: ${i.message}`);
    // An empty ${VAR:-} is not port 0 (any free port), and true is not 1.
    expect(lines({ server: { port: '${P:-}', max_body_bytes: true } })).toEqual([
      'server.port: expected an integer between 0 and 65535 (0: any free port), got ""',
      'server.max_body_bytes: expected a positive whole number of bytes, got true',
    ]);
    // Text out of range is repeated as text.
    expect(lines({}, { PORT: '70000' })).toEqual([
      'PORT (environment): expected an integer between 0 and 65535 (0: any free port), got "70000"',
    ]);
    expect(lines({ database: { auto_migrate: 'True' }, datasource: { allow_unauthenticated: '1' } })).toEqual([
      'database.auto_migrate: expected true or false, got "True"',
      'datasource.allow_unauthenticated: expected true or false, got "1"',
    ]);
    // A secret is never shown, so its index counts the items as written, empty ones too.
    expect(lines({ request_state: { previous_secrets: `${'s'.repeat(32)},,short` } })).toEqual([
      'request_state.previous_secrets[2]: expected a secret of at least 32 bytes (got 5; e.g. `openssl rand -base64 32` prefixed with "base64:")',
    ]);
  });

  it('requires a dsn for the pg and neon-http drivers', () => {
    for (const driver of ['pg', 'neon-http']) {
      const error = fileError(`database:\n  driver: ${driver}\n`);
      expect(error.message).toContain(`database.driver: driver "${driver}" needs a connection URL in database.dsn`);
    }
  });

  it('reports an unresolved YAML alias', () => {
    const error = fileError('server:\n  port: *missing\n');
    expect(error.message).toMatch(/alias|anchor/i);
  });
});

describe('loadConfig', () => {
  it('reads the file named by BATON_CONFIG (absolute)', () => {
    const { file } = writeConfig('server:\n  port: 7070\n', 'elsewhere.yaml');
    const result = loadConfig({ BATON_CONFIG: file }, tempDir());
    expect(result.source).toBe(file);
    expect(result.config.server.port).toBe(7070);
  });

  it('resolves a relative BATON_CONFIG against cwd', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'conf'));
    writeFileSync(join(dir, 'conf', 'prod.yaml'), 'sessions:\n  store: database\n');
    const result = loadConfig({ BATON_CONFIG: 'conf/prod.yaml' }, dir);
    expect(result.source).toBe(join(dir, 'conf', 'prod.yaml'));
    expect(result.config.sessions.store).toBe('database');
  });

  it('prefers BATON_CONFIG over baton.yaml in cwd', () => {
    const { dir } = writeConfig('server:\n  port: 1111\n');
    const other = join(dir, 'other.yaml');
    writeFileSync(other, 'server:\n  port: 2222\n');
    expect(loadConfig({ BATON_CONFIG: other }, dir).config.server.port).toBe(2222);
  });

  it('fails when the BATON_CONFIG file does not exist, naming it', () => {
    const dir = tempDir();
    const missing = join(dir, 'nope.yaml');
    const error = configError(() => loadConfig({ BATON_CONFIG: missing }, dir));
    expect(error.message).toContain(missing);
    expect(error.message).toContain('BATON_CONFIG (environment)');
    expect(error.message).toContain('does not exist');
  });

  it('fails when BATON_CONFIG is a directory', () => {
    const dir = tempDir();
    const error = configError(() => loadConfig({ BATON_CONFIG: dir }, dir));
    expect(error.message).toContain(dir);
    expect(error.message).toContain('cannot read');
  });

  it('reads baton.yaml from cwd when BATON_CONFIG is not set', () => {
    const { dir, file } = writeConfig('toolsets: [conformance]\n');
    const result = loadConfig({}, dir);
    expect(result.source).toBe(file);
    expect(result.config.toolsets).toEqual(['conformance']);
  });

  it('uses defaults when there is no file', () => {
    const result = loadConfig({}, tempDir());
    expect(result.source).toBe('environment');
    expect(result.config).toEqual(defaultConfig());
  });

  it('falls back to BATON_CONFIG_YAML when there is no file', () => {
    const result = loadConfig({ BATON_CONFIG_YAML: 'sessions:\n  store: database\n' }, tempDir());
    expect(result.source).toBe('BATON_CONFIG_YAML');
    expect(result.config.sessions.store).toBe('database');
  });

  it('treats an empty file, or one with only comments, as no settings', () => {
    expect(loadYaml('').config).toEqual(defaultConfig());
    expect(loadYaml('# nothing yet\n').config).toEqual(defaultConfig());
  });

  it('applies expansion and overrides from the env it is given', () => {
    const { config } = loadYaml('database:\n  dsn: ${DB:-postgres://localhost/dev}\nserver:\n  port: 9000\n', {
      PORT: '9999',
    });
    expect(config.database.dsn).toBe('postgres://localhost/dev');
    expect(config.server.port).toBe(9999);
  });
});

describe('configFromEnv', () => {
  it('parses BATON_CONFIG_YAML as the file content', () => {
    const config = configFromEnv({
      BATON_CONFIG_YAML: 'sessions:\n  store: database\n  ttl: 1h\ntoolsets: [conformance]\n',
    });
    expect(config.sessions.store).toBe('database');
    expect(config.sessions.ttl).toBe(60 * MINUTE);
    expect(config.sessions.idle_timeout).toBe(30 * MINUTE);
    expect(config.toolsets).toEqual(['conformance']);
  });

  it('expands ${VAR} inside BATON_CONFIG_YAML and lets overrides win', () => {
    const config = configFromEnv({
      BATON_CONFIG_YAML: 'database:\n  dsn: ${NEON_URL}\nsessions:\n  store: memory\n',
      NEON_URL: 'postgres://neon/db',
      SESSIONS_STORE: 'database',
    });
    expect(config.database.dsn).toBe('postgres://neon/db');
    expect(config.sessions.store).toBe('database');
  });

  it('uses defaults when BATON_CONFIG_YAML is unset or empty', () => {
    expect(configFromEnv({})).toEqual(defaultConfig());
    expect(configFromEnv({ BATON_CONFIG_YAML: '' })).toEqual(defaultConfig());
  });

  it('names BATON_CONFIG_YAML as the source of its errors', () => {
    const syntax = configError(() => configFromEnv({ BATON_CONFIG_YAML: 'sessions: [\n' }));
    expect(syntax.message).toContain('BATON_CONFIG_YAML');
    expect(syntax.message).toMatch(/line \d+, column \d+: YAML syntax error/);

    const invalid = configError(() => configFromEnv({ BATON_CONFIG_YAML: 'sessions:\n  ttl: 30\n' }));
    expect(invalid.message).toContain('Invalid configuration (BATON_CONFIG_YAML)');
    expect(invalid.message).toContain('sessions.ttl: a bare number is not a duration');
  });

  it('names "environment" as the source when there is no YAML', () => {
    const error = configError(() => configFromEnv({ PORT: 'abc' }));
    expect(error.source).toBe('environment');
    expect(error.message.split('\n')).toEqual([
      'Invalid configuration (environment), 1 problem:',
      '  PORT (environment): expected an integer between 0 and 65535 (0: any free port), got "abc"',
    ]);
  });

  it('ignores Worker bindings that are not text and reads number vars', () => {
    const config = configFromEnv({ SESSIONS_KV: { get() {} }, PORT: 8788, DB: null });
    expect(config.server.port).toBe(8788);
  });
});

describe('ConfigError', () => {
  it('keeps the issues as data and lists them all in its message', () => {
    const error = new ConfigError('baton.yaml', [
      { path: 'server.port', message: 'bad port' },
      { path: 'sessions.ttl', message: 'bad ttl' },
    ]);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('ConfigError');
    expect(error.issues).toHaveLength(2);
    expect(error.message).toBe('Invalid configuration (baton.yaml), 2 problems:\n  server.port: bad port\n  sessions.ttl: bad ttl');
  });
});

describe('portability', () => {
  it('keeps node: imports out of everything but load-file.ts', () => {
    const dir = join(import.meta.dirname, '..', 'src', 'config');
    const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((name) => name.endsWith('.ts') && name !== 'load-file.ts');
    expect(files).toContain('index.ts');
    for (const name of files) {
      const source = readFileSync(join(dir, name), 'utf8');
      expect(source, name).not.toMatch(/from ['"](node:|fs|path|os)['"/]/);
      expect(source, name).not.toMatch(/\bprocess\./);
      expect(source, name).not.toMatch(/from ['"]\.\/load-file/);
    }
  });
});
