// What each command of the operators' command line does, against the session database. Output
// goes through `Io` (results to `out`, progress and problems to `err`); a command returns its exit
// code. Session ids are shown as prefixes only, and credential hashes never.
import type { Admin } from '../api/node.js';
import { ID_PREFIX_LENGTH, idPrefix, milliseconds, relative, table, timestamp } from './format.js';

export interface Io {
  out(line: string): void;
  err(line: string): void;
}

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export async function migrateCommand(admin: Admin, io: Io): Promise<number> {
  const report = await admin.migrate();
  if (report.applied.length === 0) {
    io.out(`nothing to apply: the database has all ${report.bundled} bundled migration(s)`);
  } else {
    for (const tag of report.applied) io.out(`applied ${tag}`);
    io.out(`${report.applied.length} migration(s) applied`);
  }
  return EXIT.ok;
}

export async function listCommand(admin: Admin, limit: number, io: Io): Promise<number> {
  const found = await admin.listSessions(limit);
  if (found.length === 0) {
    io.out('no live sessions');
    return EXIT.ok;
  }
  const now = Date.now();
  const rows = [['ID', 'BINDING', 'CREATED', 'LAST ACTIVE', 'ENDS']];
  for (const s of found) {
    // A session ends at its lifetime or its idle deadline, whichever comes first.
    const idleEnd = new Date(s.lastActiveAt.getTime() + admin.limits.idleTimeoutMs);
    const [end, why] = idleEnd < s.expiresAt ? [idleEnd, 'idle'] : [s.expiresAt, 'lifetime'];
    rows.push([
      idPrefix(s.id),
      s.bound ? 'bound' : 'anonymous',
      timestamp(s.createdAt),
      `${timestamp(s.lastActiveAt)} (${relative(s.lastActiveAt, now)})`,
      `${timestamp(end)} (${relative(end, now)}, ${why})`,
    ]);
  }
  for (const line of table(rows)) io.out(line);
  const more = found.length === limit ? `; there may be more: --limit ${limit * 10}` : '';
  io.out(`${found.length} live session(s), most recently active first${more}`);
  return EXIT.ok;
}

/**
 * The full id a command works on: the one given, or with `byPrefix` the one id that starts with
 * it (what a list shows, its "…" allowed). Otherwise the exit code, after saying why.
 */
export async function resolveId(
  noun: 'session' | 'task',
  given: string,
  byPrefix: boolean,
  find: (prefix: string, limit: number) => Promise<string[]>,
  io: Io,
): Promise<{ id: string } | { exit: number }> {
  if (!byPrefix) return { id: given };
  const prefix = given.endsWith('…') ? given.slice(0, -1) : given;
  if (prefix.length < ID_PREFIX_LENGTH) {
    io.err(`error: a prefix needs at least ${ID_PREFIX_LENGTH} characters, got ${prefix.length}`);
    return { exit: EXIT.usage };
  }
  const matches = await find(prefix, 2);
  if (matches.length === 0) {
    io.err(`not found: no ${noun} id starts with "${prefix}"`);
    return { exit: EXIT.failed };
  }
  if (matches.length > 1) {
    io.err(`ambiguous: more than one ${noun} id starts with "${prefix}"; give more characters or the full id`);
    return { exit: EXIT.failed };
  }
  return { id: matches[0]! };
}

/** What to say of a full id that names nothing; a short one was most likely a prefix given without --prefix. */
export function notFound(noun: 'session' | 'task', command: string, id: string): string {
  const hint = id.length < 40 ? ` (${command} needs the whole id; for the prefix that '${noun}s list' shows, use --prefix)` : '';
  return `not found: no ${noun} with id "${idPrefix(id)}"${hint}`;
}

/**
 * Removes one session whatever its binding or state. `--prefix` accepts what `sessions list`
 * shows, but only when exactly one session starts with it.
 */
export async function revokeCommand(admin: Admin, id: string, byPrefix: boolean, io: Io): Promise<number> {
  const resolved = await resolveId('session', id, byPrefix, (prefix, limit) => admin.findSessions(prefix, limit), io);
  if ('exit' in resolved) return resolved.exit;
  const target = resolved.id;
  if (!(await admin.revokeSession(target))) {
    io.err(notFound('session', 'revoke', target));
    return EXIT.failed;
  }
  io.out(
    `revoked session ${idPrefix(target)}; what it ran stops on every instance, and its client gets 404 from now on and must initialize a new session`,
  );
  return EXIT.ok;
}

export interface CleanupCommandOptions {
  batchSize?: number;
  budgetMs?: number;
}

export async function cleanupCommand(admin: Admin, options: CleanupCommandOptions, io: Io): Promise<number> {
  let total = 0;
  let first: string | undefined;
  const report = await admin.cleanup({
    ...options,
    // Progress only on long runs: a run of one batch just prints its result.
    onBatch: (batch) => {
      total += batch.removed;
      const line = `batch ${batch.index}: removed ${batch.removed} in ${milliseconds(batch.durationMs)} (${total} so far)`;
      if (batch.index === 1) {
        first = line;
        return;
      }
      if (first !== undefined) io.err(first);
      first = undefined;
      io.err(line);
    },
  });
  io.out(`removed ${report.removed} expired or idle session(s) in ${report.batches} batch(es), ${milliseconds(report.durationMs)}`);
  if (report.truncated) io.out('stopped at the time budget; more may be left: run it again, or give a longer --budget');
  return EXIT.ok;
}

/** What `baton notify` can announce, and the notification each becomes on a session's stream. */
export const NOTIFICATIONS = {
  'tools-changed': 'notifications/tools/list_changed',
  'prompts-changed': 'notifications/prompts/list_changed',
  'resources-changed': 'notifications/resources/list_changed',
  'resource-updated': 'notifications/resources/updated',
} as const;

export type Notification = keyof typeof NOTIFICATIONS;

/** Announces a change on the channel; every instance passes it to the streams it serves. */
export async function notifyCommand(admin: Admin, what: Notification, uri: string | undefined, io: Io): Promise<number> {
  const { changes } = admin;
  if (what === 'tools-changed') await changes.toolsChanged();
  else if (what === 'prompts-changed') await changes.promptsChanged();
  else if (what === 'resources-changed') await changes.resourcesChanged();
  else await changes.resourceUpdated(uri!);
  const to = what === 'resource-updated' ? `the streams of sessions subscribed to ${uri}` : 'every session stream';
  io.out(`announced ${NOTIFICATIONS[what]} to ${to}, on every instance`);
  return EXIT.ok;
}
