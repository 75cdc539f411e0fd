/**
 * The configuration schema: one section per file under `./sections/`, composed here. `Config` is
 * its output type, with durations already converted to milliseconds.
 */
import { z } from 'zod';
import type { KeyPath } from './errors.js';
import { authSection } from './sections/auth.js';
import { cachingSection } from './sections/caching.js';
import { channelSection } from './sections/channel.js';
import { databaseSection } from './sections/database.js';
import { datasourceSection } from './sections/datasource.js';
import { enrichmentSection } from './sections/enrichment.js';
import { requestStateSection } from './sections/request-state.js';
import { serverSection } from './sections/server.js';
import { sessionsSection } from './sections/sessions.js';
import { tasksSection } from './sections/tasks.js';
import { toolsetsSetting } from './sections/toolsets.js';
import { unknownKeyMessage } from './keys.js';
import { configErrorMap } from './messages.js';

export { DATABASE_DRIVERS, POOLER_MODES, type DatabaseDriver, type PoolerMode } from './sections/database.js';
export { SESSION_STORES, type SessionStore } from './sections/sessions.js';

export const configSchema = z
  .strictObject({
    server: serverSection.prefault({}),
    database: databaseSection.prefault({}),
    sessions: sessionsSection.prefault({}),
    tasks: tasksSection.prefault({}),
    channel: channelSection.prefault({}),
    auth: authSection.prefault({}),
    datasource: datasourceSection.prefault({}),
    enrichment: enrichmentSection.prefault({}),
    request_state: requestStateSection.prefault({}),
    caching: cachingSection.prefault({}),
    toolsets: toolsetsSetting,
  })
  .transform(({ server, database, sessions, tasks, channel, auth, datasource, enrichment, request_state, caching, toolsets }) => ({
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
      max_open_tasks: sessions.max_open_tasks,
      max_subscriptions: sessions.max_subscriptions,
      max_state_bytes: sessions.max_state_bytes,
    },
    tasks,
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
  const result = configSchema.safeParse(tree, { error: configErrorMap });
  if (!result.success) {
    const issues: SchemaIssue[] = [];
    for (const issue of result.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) {
          issues.push({ path: [...issue.path, key], message: unknownKeyMessage(configSchema, issue.path, key) });
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
