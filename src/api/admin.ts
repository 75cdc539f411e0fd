// Operating a deployment's session database from outside the servers: migrations, live sessions,
// revocation, tasks (list, inspect, cancel), a cleanup run, announcements to every instance. The `baton` command line is a thin
// shell over this; an operator's own scripts can use it the same way (`mcp-baton/node`).
import { sql } from 'drizzle-orm';
import { changeNotifier, deferredChanges } from '../store/channel/changes.js';
import type { ChangeNotifier } from '../store/channel/types.js';
import type { EnvRecord } from '../config/index.js';
import { ConfigError } from '../config/errors.js';
import { loadConfig } from '../config/load-file.js';
import { parseConfig } from '../config/index.js';
import type { Config } from '../config/schema.js';
import type { Database } from '../store/db/database.js';
import { migrate } from '../store/db/migrate.js';
import { MIGRATIONS } from '../store/db/migrations.generated.js';
import { nodeDriver, openNodeDatabase } from '../store/db/open-node.js';
import { sessions, tasks } from '../store/db/schema.js';
import { loggerFor, type Logger, type LogLevel } from '../log.js';
import type { DatabaseSessionStore } from '../store/database-store.js';
import { sessionLimits } from '../store/limits.js';
import type { CleanupOptions, CleanupReport, SessionLimits, SessionSummary } from '../store/types.js';
import type { TaskListOptions, TaskRecord } from '../store/tasks/types.js';
import type { ConfigInput } from './baton.js';

export interface AdminOptions {
  /** Settings, with the keys of baton.yaml; default baton.yaml / BATON_CONFIG / BATON_CONFIG_YAML, as the server reads them. */
  config?: ConfigInput;
  /** Environment overrides (DATABASE_URL, ...), on top of `process.env`. */
  env?: EnvRecord;
  /** Where baton.yaml is looked for; default the working directory. */
  cwd?: string;
  /** Where the database's own warnings go; default JSON lines on stderr at level warn. */
  logger?: Logger | LogLevel;
}

export interface MigrateReport {
  /** Tags of the migrations this run applied (none when the database was current). */
  applied: string[];
  /** How many migrations this version of mcp-baton carries. */
  bundled: number;
}

/**
 * A task as operators see it: everything in its record but the credential hash, which the admin
 * never hands out (`bound` says whether there is one, as for sessions).
 */
export type AdminTask = Omit<TaskRecord, 'credentialHash'> & { bound: boolean };

export interface AdminTaskPage {
  tasks: AdminTask[];
  /** Pass back as `cursor` for the next page; absent on the last page. */
  nextCursor?: string;
}

export interface Admin {
  readonly config: Config;
  /** The file the configuration was read from, else "BATON_CONFIG_YAML", "environment" or the options. */
  readonly source: string;
  /**
   * No database URL is configured: the database is the embedded one in `database.pglite_dir`,
   * which one process uses at a time (a server using it must be stopped first).
   */
  readonly embedded: boolean;
  readonly limits: SessionLimits;
  /** Applies the migrations this version carries that the database lacks. */
  migrate(): Promise<MigrateReport>;
  /** Live sessions, most recently active first. */
  listSessions(limit?: number): Promise<SessionSummary[]>;
  /** Full ids of sessions whose id starts with `prefix` (at most `limit`, default 2: enough to tell one from several). */
  findSessions(prefix: string, limit?: number): Promise<string[]>;
  /** Removes a session whatever its binding; its end reaches every instance. False when there was none. */
  revokeSession(id: string): Promise<boolean>;
  /** Every live task (whatever its credential or session), newest first, a page at a time, filtered by status and tool. */
  listTasks(options?: TaskListOptions): Promise<AdminTaskPage>;
  /** Full ids of live tasks whose id starts with `prefix` (at most `limit`, default 2). */
  findTasks(prefix: string, limit?: number): Promise<string[]>;
  /** One live task, whatever its credential; undefined when there is none (or it expired). */
  getTask(id: string): Promise<AdminTask | undefined>;
  /**
   * Cancels a task that has not ended, through the store: the cancel is published on the task's
   * topic, so the instance running its handler aborts it, and its client reads `cancelled`. A task
   * that already ended is returned as it is (idempotent). Undefined when there is no such task.
   */
  cancelTask(id: string): Promise<AdminTask | undefined>;
  /** Deletes expired and idle sessions once, in batches (`onBatch` reports each). */
  cleanup(options?: CleanupOptions): Promise<CleanupReport>;
  /** Announces changes to every instance's streams. */
  readonly changes: ChangeNotifier;
  close(): Promise<void>;
}

/**
 * An admin handle on the session database the configuration names. Reads the configuration now
 * (throws ConfigError, also for a configuration without the database store); opens the database
 * on first use. Close it when done.
 */
export function createAdmin(options: AdminOptions = {}): Admin {
  const env: EnvRecord = { ...process.env, ...options.env };
  const { config, source } =
    options.config === undefined
      ? loadConfig(env, options.cwd ?? process.cwd())
      : { config: parseConfig(options.config, env, 'createAdmin options (config)'), source: 'createAdmin options (config)' };
  // The memory store keeps sessions inside each server process: nothing here could reach them, and
  // the embedded database this would otherwise open in the working directory is no server's.
  if (config.sessions.store !== 'database') {
    throw new ConfigError(source, [
      {
        path: 'sessions.store',
        message: `"${config.sessions.store}" keeps sessions inside each server process, where no other process can reach them; operations (createAdmin, the baton command line) work on the database store: set sessions.store: database (or SESSIONS_STORE=database) and the database your servers use (database.dsn or DATABASE_URL)`,
      },
    ]);
  }
  const logger = loggerFor(options.logger, env, 'warn');
  const limits = sessionLimits(config);

  let opened: Promise<{ database: Database; store: DatabaseSessionStore }> | undefined;
  let ready: Promise<DatabaseSessionStore> | undefined;
  const open = () =>
    (opened ??= (async () => {
      const database = await openNodeDatabase(config, logger);
      try {
        const { DatabaseSessionStore } = await import('../store/database-store.js');
        // An admin publishes on the channel at most; it never waits for a message.
        const store = new DatabaseSessionStore(database, limits, { autoMigrate: config.database.auto_migrate, listen: false });
        return { database, store };
      } catch (error) {
        await database.close();
        throw error;
      }
    })());
  // Everything but migrate works on a migrated database (auto_migrate migrates here).
  const store = () =>
    (ready ??= open().then(async ({ store }) => {
      await store.ready();
      return store;
    }));

  return {
    config,
    source,
    embedded: nodeDriver(config) === 'pglite',
    limits,
    async migrate() {
      const { applied } = await migrate((await open()).database);
      return { applied, bundled: MIGRATIONS.length };
    },
    listSessions: async (limit = 50) => (await store()).list(limit),
    async findSessions(prefix, limit = 2) {
      const { database } = await store();
      const found = await database.db
        .select({ id: sessions.id })
        .from(sessions)
        .where(sql`starts_with(${sessions.id}, ${prefix})`)
        .limit(limit);
      return found.map((row) => row.id);
    },
    revokeSession: async (id) => (await store()).revoke(id),
    async listTasks(listOptions) {
      const page = await (await store()).tasks.list('all', listOptions);
      return { tasks: page.tasks.map(operatorView), ...(page.nextCursor !== undefined && { nextCursor: page.nextCursor }) };
    },
    async findTasks(prefix, limit = 2) {
      const { database } = await store();
      const found = await database.db
        .select({ id: tasks.id })
        .from(tasks)
        .where(sql`starts_with(${tasks.id}, ${prefix}) and ${tasks.expiresAt} > now()`)
        .limit(limit);
      return found.map((row) => row.id);
    },
    async getTask(id) {
      const task = await (await store()).tasks.get(id, 'all');
      return task && operatorView(task);
    },
    async cancelTask(id) {
      const task = await (await store()).tasks.cancel(id, 'all', CANCELLED_BY_OPERATOR);
      return task && operatorView(task);
    },
    cleanup: async (cleanupOptions) => (await store()).cleanup(cleanupOptions),
    changes: deferredChanges(async () => changeNotifier((await store()).channel)),
    async close() {
      const current = opened;
      opened = undefined;
      ready = undefined;
      const handle = await current?.catch(() => undefined);
      await handle?.database.close();
    },
  };
}

/** The status message a task cancelled through the admin carries: its client reads who ended it. */
const CANCELLED_BY_OPERATOR = 'cancelled by an operator';

function operatorView(task: TaskRecord): AdminTask {
  const { credentialHash, ...rest } = task;
  return { ...rest, bound: credentialHash !== '' };
}
