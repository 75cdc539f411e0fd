// Sessions in Postgres, written once against drizzle's Postgres dialect; the driver (pg, neon-http,
// pglite) only decides how statements travel. Every call is exactly one statement, so a request
// in an existing session costs one round trip, two when its state changed. The store also carries
// the channel between instances (src/store/channel/database.ts) over the same database.
import { sql, type SQL } from 'drizzle-orm';
import { secrets, sessions } from './db/schema.js';
import { classifyError, type Database, type DriverName } from './db/database.js';
import { migrate } from './db/migrate.js';
import { DatabaseChannel, PUBLISHED_COLUMNS, publishing, type Wakeup } from './channel/database.js';
import { DatabaseTaskStore } from './tasks/database.js';
import { asPayload, SESSION_ENDED, sessionTopic, type SessionMessage } from './channel/topics.js';
import { createLogger, type Logger } from '../log.js';
import { negotiatedJson, perCredentialCap, stateTooLarge } from './limits.js';
import { livedSeconds, sessionsEnded } from '../telemetry/sessions.js';
import type {
  CleanupOptions,
  CleanupReport,
  NewSession,
  OpenResult,
  RemoveResult,
  SessionLimits,
  SessionRecord,
  SessionStore,
  SessionSummary,
  StatePatch,
} from './types.js';

type RawRow = Record<string, unknown>;

// Named, not `*`: statements stay prepared on pooled connections, and Postgres refuses to reuse a
// prepared `*` whose columns a later migration changed.
const COLUMNS = sql.raw(
  'id, credential_hash, created_at, last_active_at, expires_at, protocol_version, client_capabilities, client_info, state',
);

const DEFAULT_BATCH = 5_000;
const DEFAULT_BUDGET_MS = 20_000;

export interface DatabaseStoreOptions {
  /** Apply bundled migrations before the first statement (default true). */
  autoMigrate?: boolean;
  /** neon-http: how often an instance waiting for a channel message reads the table (default 500 ms). */
  pollIntervalMs?: number;
  /** How long channel messages are kept (default 5 minutes). */
  retentionMs?: number;
  /**
   * Receive channel messages (pg: open the listening connection when ready; default true). A
   * process that only publishes (the command line) says false.
   */
  listen?: boolean;
  /**
   * pg: the first wait before trying to listen again, when the listening connection could not be
   * opened or was lost (default 500 ms, doubling up to 10 s).
   */
  relistenDelayMs?: number;
  logger?: Logger;
}

const WAKEUPS: Record<DriverName, Wakeup> = { pg: 'notify', 'neon-http': 'poll', pglite: 'local' };

export class DatabaseSessionStore implements SessionStore {
  readonly kind = 'database' as const;
  readonly channel: DatabaseChannel;
  readonly tasks: DatabaseTaskStore;
  #ready: Promise<void> | undefined;

  constructor(
    readonly database: Database,
    readonly limits: SessionLimits,
    private readonly options: DatabaseStoreOptions = {},
  ) {
    this.channel = new DatabaseChannel(database, (statement, name) => this.#run(statement, name), {
      wakeup: WAKEUPS[database.driver],
      pollIntervalMs: options.pollIntervalMs ?? 500,
      retentionMs: options.retentionMs ?? 5 * 60_000,
      relistenDelayMs: options.relistenDelayMs,
      // Behind a pooler in transaction mode a LISTEN does not keep its connection: without a
      // direct URL to listen on, the channel reads the table instead.
      pollBecause: async () => {
        const connection = await database.connection?.();
        if (!connection?.pooled || database.openDirect) return undefined;
        return `the database URL goes through a pooler (${connection.why})`;
      },
      logger: options.logger ?? createLogger('warn'),
    });
    this.tasks = new DatabaseTaskStore((statement, name) => this.#run(statement, name), this.channel, limits);
  }

  /**
   * Migrates once per instance, on first use, and opens what the channel needs to receive (pg:
   * its listening connection). A failed migration is retried by the next request. Listening is
   * not a condition of being ready: requests are served without it, and the channel keeps
   * trying on its own (see src/store/channel/database.ts).
   */
  ready(): Promise<void> {
    this.#ready ??= (async () => {
      const connection = await this.database.connection?.();
      if (connection) {
        this.#logger.info(connection.pooled ? 'session database: through a pooler in transaction mode' : 'session database: direct', {
          because: connection.why,
          statements: connection.pooled ? 'unnamed' : 'prepared once per connection',
        });
      }
      if (this.options.autoMigrate !== false) await this.#migrate();
      if (this.options.listen !== false) await this.channel.start();
    })().catch((error: unknown) => {
      this.#ready = undefined;
      throw classifyError(error);
    });
    return this.#ready;
  }

  /** Migrations take the direct URL when there is one (their lock and DDL need no pooler in between). */
  async #migrate(): Promise<void> {
    const direct = this.database.openDirect?.();
    try {
      await migrate(direct ?? this.database);
    } finally {
      await direct?.close();
    }
  }

  get #logger(): Logger {
    return this.options.logger ?? createLogger('warn');
  }

  async #run(statement: SQL, name?: string): Promise<RawRow[]> {
    await this.ready();
    try {
      return await this.database.query(statement, name);
    } catch (error) {
      throw classifyError(error);
    }
  }

  /**
   * Touches closer together than this are not written. A write costs a commit (a WAL flush,
   * ~0.5 ms here) where a read costs ~0.1 ms, and a session that is busy right now gains nothing
   * from its last activity being exact to the millisecond. To never end a session early, the
   * stored time may lag by this much and the idle limit is extended by the same amount, so a
   * session ends at most this late (1 s at most; 1% of a short idle timeout).
   */
  get touchGranularityMs(): number {
    return Math.min(1_000, Math.floor(this.limits.idleTimeoutMs / 100));
  }

  /** The oldest stored last activity that still counts as live. */
  #idleCutoff(): SQL {
    return sql`now() - ${this.limits.idleTimeoutMs + this.touchGranularityMs} * interval '1 millisecond'`;
  }

  async create(session: NewSession): Promise<SessionRecord> {
    const { capabilities, info } = negotiatedJson(session, this.limits);
    const values = sql`${session.id}, ${session.credentialHash}, now() + ${this.limits.ttlMs} * interval '1 millisecond',
      ${session.protocolVersion}, ${capabilities}::jsonb, ${info}::jsonb, ${JSON.stringify(session.state)}::jsonb`;
    const columns = sql`${sessions} (id, credential_hash, expires_at, protocol_version, client_capabilities, client_info, state)`;
    const max = perCredentialCap(this.limits);
    if (max === undefined) {
      const [row] = await this.#run(sql`insert into ${columns} values (${values}) returning ${COLUMNS}`, 'baton_session_create');
      return toRecord(row!);
    }
    // One statement: the group's live sessions past the newest max - 1 (the least recently active)
    // are removed, each one's end is published, and the new session is stored. A session touched
    // after it was chosen is kept, as in the cleanup. Initializes of one credential that run at the
    // same moment do not see each other's rows, so together they may pass the cap by a few.
    const all = session.capGroup === 'all';
    const group = all ? sql`true` : sql`credential_hash = ${session.credentialHash}`;
    const [row] = await this.#run(
      sql`
      with doomed as (
        select id, last_active_at from ${sessions}
        where ${group} and expires_at > now() and last_active_at > ${this.#idleCutoff()}
        order by last_active_at desc, id desc
        offset ${max - 1}
      ), evicted as (
        delete from ${sessions} s using doomed d
        where s.id = d.id and s.last_active_at <= d.last_active_at
        returning s.id, s.created_at
      ), ${publishing(sql`${sessionTopic('')} || id`, SESSION_ENDED, this.channel.wakeup, 'evicted')},
      created as (insert into ${columns} values (${values}) returning ${COLUMNS})
      select c.*, (select count(*) from notified)::int as notified,
             (select json_agg(json_build_object('topic', p.topic, 'at', p.at, 'id', p.id)) from published p) as ended,
             (select coalesce(json_agg(extract(epoch from now() - e.created_at)::float8), '[]'::json) from evicted e) as evicted_lived
      from created c`,
      all ? 'baton_session_create_capped_all' : 'baton_session_create_capped',
    );
    const ended = (row!.ended ?? []) as { topic: string; at: number | string; id: number | string }[];
    for (const m of ended)
      this.channel.published({ topic: m.topic, payload: SESSION_ENDED, position: { at: Number(m.at), id: Number(m.id) } });
    sessionsEnded('evicted', (row!.evicted_lived ?? []) as number[]);
    return toRecord(row!);
  }

  async open(id: string, credentialHash: string): Promise<OpenResult> {
    // One statement: find the live session, touch it only if the caller may use it (and only if
    // the stored touch is older than the granularity), and say which of ok / forbidden / not
    // found applies. A foreign credential leaves the row as it was. Every request runs it, so it
    // is a function in the database (migration 0007: its plan is kept per connection, where a
    // statement sent unnamed, over Neon's HTTP or through a pooler, was planned again each time).
    const idleMs = this.limits.idleTimeoutMs + this.touchGranularityMs;
    const [row] = await this.#run(
      sql`select * from baton.open_session(${id}, ${credentialHash}, ${this.touchGranularityMs}::int8, ${idleMs}::int8)`,
      'baton_session_open',
    );
    if (!row) return { status: 'not_found' };
    if (!row.allowed) return { status: 'forbidden' };
    // A stale touch that found no row: the session was deleted while this statement ran.
    if (row.stale && (row.touched_at === null || row.touched_at === undefined)) return { status: 'not_found' };
    return {
      status: 'ok',
      session: toRecord(row.touched_at ? { ...row, last_active_at: row.touched_at } : row),
      at: Number(row.opened_at),
    };
  }

  endsAt(session: SessionRecord): number {
    // The idle limit as open() applies it: extended by the touch granularity.
    const idleEnd = session.lastActiveAt.getTime() + this.limits.idleTimeoutMs + this.touchGranularityMs;
    return Math.min(session.expiresAt.getTime(), idleEnd);
  }

  async live(id: string): Promise<SessionRecord | undefined> {
    const [row] = await this.#run(
      sql`select ${COLUMNS} from ${sessions} where id = ${id} and expires_at > now() and last_active_at > ${this.#idleCutoff()}`,
      'baton_session_live',
    );
    return row ? toRecord(row) : undefined;
  }

  async update(id: string, patch: StatePatch, announce?: SessionMessage): Promise<void> {
    // A merge on the stored value under the row's lock: concurrent writers of other keys keep
    // theirs, as the lock makes Postgres read the newest row version after waiting for it. The
    // size is checked on that version: a write may leave more than the limit only if it does not
    // grow the state (so that a session over a limit lowered since can shed keys). Refused, it
    // stores and announces nothing.
    const max = this.limits.maxStateBytes ?? null;
    const merge = sql`
      merged as (
        select t.id, (t.state - array(select jsonb_array_elements_text(${JSON.stringify(patch.unset)}::jsonb)))
                     || ${JSON.stringify(patch.set)}::jsonb as state,
               octet_length(t.state::text) as before
        from ${sessions} t where t.id = ${id}
        for update
      ), sized as (select id, state, before, octet_length(state::text) as size from merged),
      updated as (
        update ${sessions} s set state = m.state from sized m
        where s.id = m.id and (${max}::int8 is null or m.size <= ${max}::int8 or m.size <= m.before)
        returning s.id
      )`;
    if (!announce) {
      const [row] = await this.#run(
        sql`with ${merge} select m.size, (select count(*) from updated)::int as updated from sized m`,
        'baton_session_update',
      );
      this.#stored(row);
      return;
    }
    // Announced in the same statement, and only when the state was stored.
    const topic = sessionTopic(id);
    const payload = asPayload(announce);
    const [row] = await this.#run(
      sql`
      with ${merge}, ${publishing(topic, payload, this.channel.wakeup, 'updated')}
      select m.size, (select count(*) from updated)::int as updated, ${PUBLISHED_COLUMNS}
      from sized m`,
      'baton_session_update_announced',
    );
    this.#stored(row);
    this.channel.publishedBy(row, topic, payload);
  }

  /** Throws when an update found its session but did not store the state: it would be too large. */
  #stored(row: RawRow | undefined): void {
    // No row: the session is gone, and there is nothing left to store into.
    if (row && Number(row.updated) === 0) throw stateTooLarge(Number(row.size), this.limits.maxStateBytes!);
  }

  async remove(id: string, credentialHash: string): Promise<RemoveResult> {
    // One statement: the session's end is published with its deletion, so that every instance
    // stops what the session runs there, at no extra round trip.
    const topic = sessionTopic(id);
    const [row] = await this.#run(sql`
      with candidate as (
        select id, (credential_hash = '' or credential_hash = ${credentialHash}) as allowed
        from ${sessions}
        where id = ${id} and expires_at > now() and last_active_at > ${this.#idleCutoff()}
      ), deleted as (
        delete from ${sessions} s using candidate c where s.id = c.id and c.allowed returning s.id, s.created_at
      ), ${publishing(topic, SESSION_ENDED, this.channel.wakeup, 'deleted')}
      select c.allowed as allowed, (select count(*) from deleted)::int as deleted, (select d.created_at from deleted d) as created_at, ${PUBLISHED_COLUMNS}
      from candidate c`);
    if (!row) return 'not_found';
    if (!row.allowed) return 'forbidden';
    if (Number(row.deleted) === 0) return 'not_found';
    this.channel.publishedBy(row, topic, SESSION_ENDED);
    sessionsEnded('deleted', [livedSeconds(sessions.createdAt.mapFromDriverValue(row.created_at as string) as Date)]);
    return 'ok';
  }

  /**
   * Removes a session whatever its binding (operators: `baton sessions revoke`), publishing its end
   * in the same statement like `remove`. False when there was no such session.
   */
  async revoke(id: string): Promise<boolean> {
    const topic = sessionTopic(id);
    const [row] = await this.#run(sql`
      with deleted as (delete from ${sessions} where id = ${id} returning id, created_at),
      ${publishing(topic, SESSION_ENDED, this.channel.wakeup, 'deleted')}
      select (select count(*) from deleted)::int as deleted, (select extract(epoch from now() - created_at) from deleted)::float8 as lived,
        ${PUBLISHED_COLUMNS}`);
    if (Number(row?.deleted ?? 0) === 0) return false;
    sessionsEnded('revoked', [Number(row!.lived)]);
    this.channel.publishedBy(row, topic, SESSION_ENDED);
    return true;
  }

  async cleanup(options: CleanupOptions = {}): Promise<CleanupReport> {
    const batchSize = options.batchSize ?? DEFAULT_BATCH;
    const budgetMs = options.budgetMs ?? DEFAULT_BUDGET_MS;
    const started = performance.now();
    let removed = 0;
    let batches = 0;
    for (;;) {
      const batchStarted = performance.now();
      // The outer condition is evaluated by the delete itself, on the locked row: a session a
      // request touched after the batch was chosen is kept.
      const [row] = await this.#run(sql`
        with doomed as (
          select id from ${sessions}
          where expires_at <= now() or last_active_at <= ${this.#idleCutoff()}
          limit ${batchSize}
          for update skip locked
        ), deleted as (
          delete from ${sessions} s using doomed d
          where s.id = d.id and (s.expires_at <= now() or s.last_active_at <= ${this.#idleCutoff()})
          -- How long each lived: to when it stopped being usable (expired, or idle), not to this sweep.
          returning extract(epoch from least(s.expires_at, s.last_active_at + ${this.limits.idleTimeoutMs} * interval '1 millisecond') - s.created_at)::float8 as lived
        )
        select count(*)::int as n, coalesce(json_agg(lived), '[]'::json) as lived from deleted`);
      const n = Number(row?.n ?? 0);
      batches++;
      removed += n;
      sessionsEnded('expired', (row?.lived as number[] | undefined) ?? []);
      options.onBatch?.({ index: batches, removed: n, durationMs: performance.now() - batchStarted });
      if (n < batchSize) break;
      if (performance.now() - started >= budgetMs || options.signal?.aborted) {
        return { removed, batches, truncated: true, durationMs: performance.now() - started };
      }
    }
    // Then tasks past their ttl, and the channel's messages past their retention, within what is
    // left of the budget.
    let tasksRemoved = 0;
    for (;;) {
      const { removed: n, more } = await this.tasks.sweep(batchSize);
      tasksRemoved += n;
      if (!more) break;
      if (performance.now() - started >= budgetMs || options.signal?.aborted) {
        return { removed, batches, truncated: true, durationMs: performance.now() - started, tasksRemoved };
      }
    }
    let messagesRemoved = 0;
    for (;;) {
      const n = await this.channel.sweep(batchSize);
      messagesRemoved += n;
      if (n < batchSize)
        return { removed, batches, truncated: false, durationMs: performance.now() - started, messagesRemoved, tasksRemoved };
      if (performance.now() - started >= budgetMs || options.signal?.aborted) {
        return { removed, batches, truncated: true, durationMs: performance.now() - started, messagesRemoved, tasksRemoved };
      }
    }
  }

  async countLive(): Promise<number> {
    const [row] = await this.#run(sql`
      select count(*)::int as live from ${sessions} where expires_at > now() and last_active_at > ${this.#idleCutoff()}`);
    return Number(row?.live ?? 0);
  }

  async list(limit = 100): Promise<SessionSummary[]> {
    const rows = await this.#run(sql`
      select id, credential_hash, created_at, last_active_at, expires_at from ${sessions}
      where expires_at > now() and last_active_at > ${this.#idleCutoff()}
      order by last_active_at desc limit ${limit}`);
    return rows.map((row) => {
      const r = toRecord({ ...row, protocol_version: '', client_capabilities: {}, client_info: {}, state: {} });
      return { id: r.id, bound: r.credentialHash !== '', createdAt: r.createdAt, lastActiveAt: r.lastActiveAt, expiresAt: r.expiresAt };
    });
  }

  async sharedSecret(name: string, made: string): Promise<string> {
    // One statement that returns the stored row whoever stored it: an update that keeps the value
    // returns the row even when another instance's insert committed while this one waited for it
    // (a `do nothing` followed by a select would read a snapshot from before that commit: no row).
    const rows = await this.#run(sql`
      insert into ${secrets} as s (name, value) values (${name}, ${made})
      on conflict (name) do update set value = s.value returning value`);
    return String(rows[0]!.value);
  }

  async close(): Promise<void> {
    await this.channel.close();
    await this.database.close();
  }
}

/** Maps a raw row with drizzle's own column mappers, so every driver yields the same values. */
function toRecord(row: RawRow): SessionRecord {
  const column = <T>(c: { mapFromDriverValue(value: any): unknown }, value: unknown) => c.mapFromDriverValue(value) as T;
  return {
    id: String(row.id),
    credentialHash: String(row.credential_hash ?? ''),
    createdAt: column<Date>(sessions.createdAt, row.created_at),
    lastActiveAt: column<Date>(sessions.lastActiveAt, row.last_active_at),
    expiresAt: column<Date>(sessions.expiresAt, row.expires_at),
    protocolVersion: String(row.protocol_version),
    clientCapabilities: column<SessionRecord['clientCapabilities']>(sessions.clientCapabilities, row.client_capabilities),
    clientInfo: column<SessionRecord['clientInfo']>(sessions.clientInfo, row.client_info),
    state: column<SessionRecord['state']>(sessions.state, row.state),
  };
}
