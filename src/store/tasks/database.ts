// Tasks in Postgres, for every driver (pg, neon-http, pglite): each operation is one statement,
// and a change a client can see is published on the task's topic in that same statement.
// Concurrency rests on row locks: a change reads the newest version of its row (the lock makes
// Postgres re-read it after waiting), so two instances never both move a task out of a state.
import { sql, type SQL } from 'drizzle-orm';
import { tasks } from '../db/schema.js';
import { publishing, type DatabaseChannel } from '../channel/database.js';
import { taskTopic } from '../channel/topics.js';
import type { Json } from '../channel/types.js';
import { openTasksCap, tooManyTasks } from '../limits.js';
import type { SessionLimits } from '../types.js';
import { unguessableId } from '../ids.js';
import {
  type NewTask,
  noTasks,
  type RespondResult,
  type TaskCaller,
  type TaskCleanup,
  type TaskListOptions,
  type TaskOutcome,
  type TaskPage,
  type TaskReach,
  type TaskRecord,
  type TaskStatus,
  type TaskStore,
} from './types.js';

type RawRow = Record<string, unknown>;
type Run = (statement: SQL, name?: string) => Promise<RawRow[]>;

const NAMES = [
  'id',
  'credential_hash',
  'session_id',
  'tool',
  'arguments',
  'status',
  'status_message',
  'result',
  'error',
  'input_requests',
  'input_responses',
  'ttl_ms',
  'created_at',
  'updated_at',
  'expires_at',
  'lease_owner',
  'lease_expires_at',
  'rerunnable',
  'attempts',
  'caller',
  'kind',
];
/** Named, not `*` (prepared statements outlive migrations); `alias.` when the statement joins. */
const columns = (alias?: string) => sql.raw(NAMES.map((n) => (alias ? `${alias}.${n}` : n)).join(', '));

const OPEN = sql.raw(`('working', 'input_required')`);
const ms = (value: number) => sql`${Math.round(value)} * interval '1 millisecond'`;
/** The message every task change publishes, from the changed row (see TaskMessage). */
const MESSAGE = sql`jsonb_build_object('kind', 'task', 'status', status)`;
const TOPIC = sql`${taskTopic('')} || id`;

export class DatabaseTaskStore implements TaskStore {
  constructor(
    private readonly run: Run,
    private readonly channel: DatabaseChannel,
    private readonly limits: SessionLimits,
  ) {}

  async create(task: NewTask): Promise<TaskRecord> {
    const id = unguessableId();
    // Typed: values selected for an insert get no type from their column.
    const values = sql`${id}::text, ${task.credentialHash}::text, ${task.sessionId ?? null}::text, ${task.tool}::text,
      ${JSON.stringify(task.arguments)}::jsonb, 'working'::text, ${task.statusMessage ?? null}::text, ${Math.round(task.ttlMs)}::int8,
      now() + ${ms(task.ttlMs)}, ${task.lease.owner}::text, now() + ${ms(task.lease.ms)}, ${task.rerunnable}::boolean,
      ${JSON.stringify(task.inputResponses ?? {})}::jsonb, ${JSON.stringify(task.caller)}::jsonb, ${task.kind ?? 'task'}::text`;
    const into = sql`${tasks} (id, credential_hash, session_id, tool, arguments, status, status_message, ttl_ms, expires_at,
      lease_owner, lease_expires_at, rerunnable, input_responses, caller, kind)`;
    const max = openTasksCap(this.limits);
    if (max === undefined) {
      const [row] = await this.run(sql`insert into ${into} values (${values}) returning ${columns()}`, 'baton_task_create');
      return toTask(row!);
    }
    // Stored only while the group has fewer open tasks than the cap. Creations of one credential
    // at the same moment do not see each other's rows, so together they may pass it by a few.
    const all = task.capGroup === 'all';
    const group = all ? sql`true` : sql`credential_hash = ${task.credentialHash}`;
    const [row] = await this.run(
      sql`
      with counted as (
        select count(*) as n from ${tasks} where ${group} and status in ${OPEN} and expires_at > now()
      )
      insert into ${into} select ${values} from counted where counted.n < ${max}
      returning ${columns()}`,
      all ? 'baton_task_create_capped_all' : 'baton_task_create_capped',
    );
    if (!row) throw tooManyTasks(max);
    return toTask(row);
  }

  async get(id: string, reach: TaskReach): Promise<TaskRecord | undefined> {
    const [row] = await this.run(
      sql`select ${columns()} from ${tasks} where id = ${id} and expires_at > now() and ${within(reach)}`,
      reach === 'all'
        ? undefined
        : reach.sessionId === undefined
          ? 'baton_task_get'
          : reach.sessionId === null
            ? 'baton_task_get_sessionless'
            : 'baton_task_get_session',
    );
    return row ? toTask(row) : undefined;
  }

  async list(reach: TaskReach, options: TaskListOptions = {}): Promise<TaskPage> {
    const limit = Math.max(1, options.limit ?? 100);
    // The cursor is the last task of the previous page: the next page starts after it.
    const after =
      options.cursor === undefined ? sql`true` : sql`(created_at, id) < (select created_at, id from ${tasks} where id = ${options.cursor})`;
    const status =
      options.status === undefined
        ? sql`true`
        : sql`status in (select jsonb_array_elements_text(${JSON.stringify(options.status)}::jsonb))`;
    const tool = options.tool === undefined ? sql`true` : sql`tool = ${options.tool}`;
    const rows = await this.run(sql`
      select ${columns()} from ${tasks}
      where expires_at > now() and ${within(reach)} and ${after} and ${status} and ${tool}
      order by created_at desc, id desc limit ${limit + 1}`);
    const found = rows.slice(0, limit).map(toTask);
    return rows.length > limit ? { tasks: found, nextCursor: found.at(-1)!.id } : { tasks: found };
  }

  async settle(id: string, owner: string, outcome: TaskOutcome): Promise<TaskRecord | undefined> {
    const ends = outcome.status !== 'working';
    const result = outcome.status === 'completed' ? JSON.stringify(outcome.result) : null;
    const error = outcome.status === 'failed' ? JSON.stringify(outcome.error) : null;
    return this.#change(sql`
      update ${tasks} set status = ${outcome.status}, status_message = ${outcome.statusMessage ?? null},
        result = ${result}::jsonb, error = ${error}::jsonb, updated_at = now(),
        input_requests = case when ${ends} then '{}'::jsonb else input_requests end,
        lease_owner = case when ${ends} then null else lease_owner end,
        lease_expires_at = case when ${ends} then null else lease_expires_at end
      where ${held(id, owner)}
      returning ${columns()}`);
  }

  async requestInput(
    id: string,
    owner: string,
    requests: Record<string, Json>,
    options: { statusMessage?: string; keepLease?: boolean } = {},
  ): Promise<TaskRecord | undefined> {
    const keep = options.keepLease === true;
    return this.#change(sql`
      update ${tasks} set status = 'input_required', status_message = ${options.statusMessage ?? null},
        input_requests = input_requests || ${JSON.stringify(requests)}::jsonb, updated_at = now(),
        lease_owner = case when ${keep} then lease_owner else null end,
        lease_expires_at = case when ${keep} then lease_expires_at else null end
      where ${held(id, owner)}
      returning ${columns()}`);
  }

  async respond(
    id: string,
    reach: TaskReach,
    responses: Record<string, Json>,
    claimAs?: { owner: string; ms: number },
    caller?: TaskCaller,
  ): Promise<RespondResult | undefined> {
    const claimer = claimAs?.owner ?? null;
    const continuedBy = caller === undefined ? null : JSON.stringify(caller);
    const leaseEnd = claimAs ? sql`now() + ${ms(claimAs.ms)}` : sql`null::timestamptz`;
    // The answers that match a pending request are recorded and leave the pending set; once none
    // is pending the task works again, leased to the claimer unless someone holds a live lease.
    const [row] = await this.run(sql`
      with task as (
        select ${columns()}, (lease_owner is not null and lease_expires_at > now()) as leased
        from ${tasks} where id = ${id} and expires_at > now() and ${within(reach)}
        for update
      ), answered as (
        select coalesce(jsonb_object_agg(r.key, r.value), '{}'::jsonb) as answers,
               coalesce(array_agg(r.key), '{}'::text[]) as keys
        from task t cross join jsonb_each(${JSON.stringify(responses)}::jsonb) r
        where t.status = 'input_required' and t.input_requests ? r.key
      ), next as (
        select t.id, t.input_requests - a.keys as pending, a.answers,
               (t.input_requests - a.keys) = '{}'::jsonb and ${claimer}::text is not null and not t.leased as claims
        from task t cross join answered a where cardinality(a.keys) > 0
      ), changed as (
        update ${tasks} s set input_responses = s.input_responses || n.answers, input_requests = n.pending,
          status = case when n.pending = '{}'::jsonb then 'working' else 'input_required' end,
          lease_owner = case when n.claims then ${claimer} else s.lease_owner end,
          lease_expires_at = case when n.claims then ${leaseEnd} else s.lease_expires_at end,
          caller = coalesce(${continuedBy}::jsonb, s.caller),
          updated_at = now()
        from next n where s.id = n.id
        returning ${columns('s')}, n.claims as resumed
      ), ${publishing(TOPIC, MESSAGE, this.channel.wakeup, 'changed')}
      select r.*, (select to_jsonb(a.keys) from answered a) as accepted, ${published()}
      from (
        select * from changed
        union all select ${columns('t')}, false from task t where not exists (select 1 from changed)
      ) r`);
    if (!row) return undefined;
    this.#announce(row);
    return { task: toTask(row), accepted: (row.accepted ?? []) as string[], resumed: row.resumed === true };
  }

  async cancel(id: string, reach: TaskReach, statusMessage?: string): Promise<TaskRecord | undefined> {
    // The lease ends with the task: its runner's next renewal no longer lists it, and the
    // published message stops it at once wherever it runs.
    const [row] = await this.run(sql`
      with task as (
        select ${columns()} from ${tasks} where id = ${id} and expires_at > now() and ${within(reach)} for update
      ), changed as (
        update ${tasks} s set status = 'cancelled', status_message = ${statusMessage ?? null}, input_requests = '{}'::jsonb,
          lease_owner = null, lease_expires_at = null, updated_at = now()
        from task t where s.id = t.id and s.status in ${OPEN}
        returning ${columns('s')}
      ), ${publishing(TOPIC, MESSAGE, this.channel.wakeup, 'changed')}
      select r.*, ${published()}
      from (select * from changed union all select * from task t where not exists (select 1 from changed)) r`);
    if (!row) return undefined;
    this.#announce(row);
    return toTask(row);
  }

  async claim(owner: string, leaseMs: number, which: { id: string } | { limit: number }): Promise<TaskRecord[]> {
    const free = sql`status = 'working' and expires_at > now() and (lease_owner is null or lease_expires_at <= now())`;
    // The search takes only tasks: a handed-over call waits for the instance its client resumes on.
    const pick = 'id' in which ? sql`and id = ${which.id}` : sql`and kind = 'task'`;
    const limit = 'id' in which ? 1 : Math.max(1, which.limit);
    // A task another instance is claiming right now is skipped, not waited for; the update checks
    // again on the locked row.
    const rows = await this.run(sql`
      with free as (
        select id from ${tasks} where ${free} ${pick}
        order by lease_expires_at nulls first limit ${limit}
        for update skip locked
      ), claimed as (
        update ${tasks} s set lease_owner = ${owner}, lease_expires_at = now() + ${ms(leaseMs)}, attempts = s.attempts + 1
        from free f where s.id = f.id
        returning ${columns('s')}
      )
      select * from claimed`);
    return rows.map(toTask);
  }

  async renew(owner: string, leaseMs: number): Promise<string[]> {
    const rows = await this.run(
      sql`
      update ${tasks} set lease_expires_at = now() + ${ms(leaseMs)}
      where lease_owner = ${owner} and status in ${OPEN} and expires_at > now()
      returning id`,
      'baton_task_renew',
    );
    return rows.map((row) => String(row.id));
  }

  async release(owner: string, ids?: string[]): Promise<number> {
    const only = ids === undefined ? sql`` : sql`and id in (select jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb))`;
    const rows = await this.run(sql`
      update ${tasks} set lease_owner = null, lease_expires_at = null where lease_owner = ${owner} ${only} returning 1`);
    return rows.length;
  }

  async countByStatus(): Promise<Record<TaskStatus, number>> {
    const rows = await this.run(
      sql`select status, count(*)::int as n from ${tasks} where expires_at > now() and kind = 'task' group by status`,
      'baton_task_count_by_status',
    );
    const counts = noTasks();
    for (const row of rows) counts[String(row.status) as TaskStatus] = Number(row.n);
    return counts;
  }

  async sweep(batchSize: number): Promise<TaskCleanup> {
    const [row] = await this.run(sql`
      with doomed as (
        select id from ${tasks} where expires_at <= now() limit ${batchSize} for update skip locked
      ), deleted as (delete from ${tasks} t using doomed d where t.id = d.id returning 1)
      select count(*)::int as n from deleted`);
    const removed = Number(row?.n ?? 0);
    return { removed, more: removed >= batchSize };
  }

  /** A change by the lease holder (one update of the task's row), published with it. */
  async #change(update: SQL): Promise<TaskRecord | undefined> {
    const [row] = await this.run(sql`
      with changed as (${update}), ${publishing(TOPIC, MESSAGE, this.channel.wakeup, 'changed')}
      select c.*, ${published()} from changed c`);
    if (!row) return undefined;
    this.#announce(row);
    return toTask(row);
  }

  /** Hands what a statement published to the channel (local delivery needs it). */
  #announce(row: RawRow): void {
    if (row.message_id === null || row.message_id === undefined) return;
    this.channel.published({
      topic: taskTopic(String(row.id)),
      payload: row.message_payload as Json,
      position: { at: Number(row.message_at), id: Number(row.message_id) },
    });
  }
}

/** The columns that report what `publishing` stored (at most one message per statement here). */
function published(): SQL {
  return sql`(select count(*) from notified)::int as notified, (select p.id from published p) as message_id,
    (select p.at from published p) as message_at, (select p.payload from published p) as message_payload`;
}

/** The task's row while `owner` holds its lease and it is not finished. */
function held(id: string, owner: string): SQL {
  return sql`id = ${id} and lease_owner = ${owner} and status in ${OPEN} and expires_at > now()`;
}

function within(reach: TaskReach): SQL {
  if (reach === 'all') return sql`true`;
  const credential = sql`credential_hash = ${reach.credentialHash}`;
  if (reach.sessionId === undefined) return credential;
  return reach.sessionId === null ? sql`${credential} and session_id is null` : sql`${credential} and session_id = ${reach.sessionId}`;
}

/** Maps a raw row with drizzle's own column mappers, so every driver yields the same values. */
function toTask(row: RawRow): TaskRecord {
  const column = <T>(c: { mapFromDriverValue(value: any): unknown }, value: unknown) => c.mapFromDriverValue(value) as T;
  const json = (value: unknown) => (value === null || value === undefined ? undefined : (column<Json>(tasks.result, value) ?? undefined));
  const date = (value: unknown) => column<Date>(tasks.createdAt, value);
  const owner = row.lease_owner;
  return {
    id: String(row.id),
    credentialHash: String(row.credential_hash),
    sessionId: row.session_id === null || row.session_id === undefined ? undefined : String(row.session_id),
    tool: String(row.tool),
    arguments: column<Record<string, Json>>(tasks.arguments, row.arguments),
    status: String(row.status) as TaskStatus,
    statusMessage: row.status_message === null || row.status_message === undefined ? undefined : String(row.status_message),
    result: json(row.result),
    error: json(row.error),
    inputRequests: column<Record<string, Json>>(tasks.inputRequests, row.input_requests),
    inputResponses: column<Record<string, Json>>(tasks.inputResponses, row.input_responses),
    ttlMs: column<number>(tasks.ttlMs, row.ttl_ms),
    createdAt: date(row.created_at),
    updatedAt: date(row.updated_at),
    expiresAt: date(row.expires_at),
    lease: owner === null || owner === undefined ? undefined : { owner: String(owner), expiresAt: date(row.lease_expires_at) },
    rerunnable: row.rerunnable === true || row.rerunnable === 't',
    attempts: Number(row.attempts),
    caller: callerOf(json(row.caller)),
    kind: row.kind === 'call' ? 'call' : 'task',
  };
}

/** The stored caller; nobody's for a task stored before callers were kept. */
function callerOf(stored: Json | undefined): TaskCaller {
  const { principal, clientCapabilities, clientInfo } = (stored ?? {}) as Partial<TaskCaller>;
  return { principal, clientCapabilities, clientInfo };
}
