// The embedded database's folder is used by one process at a time: PGlite has a single writer and
// nothing that stops a second process from opening the same files, whose writes would then be
// lost or would corrupt them. A lock file in the folder names the process that holds it (pid, its
// start time, host); another process refuses to open the folder while that one runs. A lock left
// by a process that died (killed, crashed) is recognised by its pid and taken over.
import { hostname } from 'node:os';
import { join } from 'node:path';
import { linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';

export const LOCK_FILE = 'baton.lock';

interface Holder {
  pid: number;
  /** When the process started, ms since the epoch: tells a reused pid from the holder. */
  started: number;
  host: string;
}

/** The folder is held by a running process. */
export class FolderInUseError extends Error {
  override name = 'FolderInUseError';
}

export interface FolderLock {
  readonly path: string;
  release(): void;
}

const me = (): Holder => ({ pid: process.pid, started: Math.round(Date.now() - process.uptime() * 1000), host: hostname() });

export function lockFolder(dir: string): FolderLock {
  const path = join(dir, LOCK_FILE);
  const mine = me();
  const text = JSON.stringify(mine);
  // Written whole under another name, then linked into place: linking fails if a lock exists, and
  // nobody ever reads a half-written one.
  const draft = `${path}.${process.pid}.${Date.now()}`;
  writeFileSync(draft, text);
  try {
    // A stale lock is retired and the link tried again. Processes that find the same stale lock at
    // once agree on one of them to retire it (see retire); the others find it gone or taken.
    for (let round = 0; ; round++) {
      try {
        linkSync(draft, path);
        return { path, release: () => release(path, text) };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const holder = readHolder(path);
      if (holder && isRunning(holder)) throw new FolderInUseError(inUseMessage(dir, path, holder));
      if (round === LAST_ROUND) {
        throw new FolderInUseError(
          `${dir}: could not take the lock ${path}: another process is taking over the stale lock there; try again (if this ` +
            `persists with no such process, delete ${path} and any ${path}.stale-* beside it)`,
        );
      }
      if (holder) retire(path, holder);
    }
  } finally {
    unlinkSync(draft);
  }
}

/** Rounds of link, look, retire: enough for processes racing for one stale lock to settle. */
const LAST_ROUND = 4;

function inUseMessage(dir: string, path: string, holder: Holder): string {
  const who = holder.pid === process.pid && holder.host === hostname() ? 'this process' : `process ${holder.pid} on ${holder.host}`;
  return (
    `the embedded database in ${dir} is in use by ${who} (since ${new Date(holder.started).toISOString()}), ` +
    'and it takes one process at a time: stop that process (a running server) first, or give every process the same ' +
    `Postgres with DATABASE_URL. If no such process is running, delete ${path}.`
  );
}

function readHolder(path: string): Holder | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const holder = JSON.parse(text) as Partial<Holder>;
    if (typeof holder.pid === 'number' && typeof holder.started === 'number' && typeof holder.host === 'string') return holder as Holder;
  } catch {
    // Not a lock this code wrote (it writes whole files); treated as held below, to be safe.
  }
  return { pid: -1, started: 0, host: 'an unknown host (unreadable lock file)' };
}

/** Whether the process that wrote the lock still runs. Another host's cannot be checked: assumed. */
function isRunning(holder: Holder): boolean {
  if (holder.host !== hostname() || holder.pid <= 0) return true;
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    // ESRCH: no such process. EPERM: it exists, under another user.
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const started = processStart(holder.pid);
  // A process that started a minute or more apart from the holder has only reused its pid. (The two
  // clocks compared can drift apart by a little, so a near match counts as the holder.)
  return started === undefined || Math.abs(started - holder.started) < 60_000;
}

/** When a process started, ms since the epoch, where /proc tells (Linux); undefined elsewhere. */
function processStart(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (starttime, in clock ticks since boot) comes after the command name in parentheses.
    const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    const boot = Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1]);
    // Linux reports these in USER_HZ, which is 100 on every architecture it runs on.
    return Number.isFinite(ticks) && Number.isFinite(boot) ? boot * 1000 + ticks * 10 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Removes the stale lock at `path` if it still is `stale`'s, such that of all the processes doing
 * this at once exactly one removes it, and never a lock taken meanwhile. Reading the file and then
 * deleting it by name would not do: between the two, another process may have removed the stale
 * lock and linked its own, which would then be deleted and taken a second time. Instead a hard
 * link named after the stale holder is made first: linking fails for all but one process, and the
 * link shows which file `path` was at that moment, so the one deletes `path` only if that was the
 * stale lock (nobody else deletes a dead holder's lock, so `path` is still that file).
 */
function retire(path: string, stale: Holder): void {
  const claim = `${path}.stale-${stale.pid}-${stale.started}`;
  try {
    linkSync(path, claim);
  } catch (error) {
    // EEXIST: another process is retiring it. ENOENT: it is gone already.
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOENT') return;
    throw error;
  }
  try {
    const claimed = readHolder(claim);
    if (claimed && claimed.pid === stale.pid && claimed.started === stale.started && claimed.host === stale.host) unlinkSync(path);
  } finally {
    unlinkSync(claim);
  }
}

function release(path: string, text: string): void {
  try {
    // Only our own: a lock that is no longer ours (deleted by hand and taken by another) stays.
    if (readFileSync(path, 'utf8') === text) unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
