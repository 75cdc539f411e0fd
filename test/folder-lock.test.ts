// The embedded database's folder lock (src/store/db/folder-lock.ts) when several processes find a lock
// left by a dead process at the same moment: exactly one of them may take it over, and the lock
// file names that one. Real processes, started together round after round; a round in which two
// won, or the file names a loser, fails the test at once.
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCK_FILE } from '../src/store/db/folder-lock.js';
import { ROOT } from './helpers/server.js';

interface Answer {
  won?: boolean;
  pid?: number;
  error?: string;
}

/** Racers: more than the machine's cores, so that they are also preempted mid-takeover. */
const RACERS = 3;
const ROUNDS = 100;
/** No process can have this pid (Linux's pid_max is at most 2^22): the lock's holder is dead. */
const DEAD_PID = 0x7ffffff0;

let dir: string;
let racers: ChildProcess[];

/** The racer's next message. */
const next = (racer: ChildProcess) => new Promise<Answer>((resolve) => racer.once('message', (message) => resolve(message as Answer)));

function ask(racer: ChildProcess, command: { at: number } | { release: true }): Promise<Answer> {
  const answered = next(racer);
  racer.send(command);
  return answered;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'baton-lock-race-'));
  racers = Array.from({ length: RACERS }, () =>
    fork(join(ROOT, 'test/fixtures/lock-racer.ts'), [dir], { cwd: ROOT, execArgv: ['--import', 'tsx'] }),
  );
  await Promise.all(racers.map(next));
});

afterAll(async () => {
  for (const racer of racers ?? []) racer.kill();
  rmSync(dir, { recursive: true, force: true });
});

describe('taking over a stale lock', () => {
  it('lets exactly one of several processes that start together win, and the lock names it', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      // A large lock file takes a while to read (as any on a slow disk), which widens the moment
      // between finding the lock stale and acting on it: without it, a round rarely overlaps there.
      const stale = { pid: DEAD_PID, started: 0, host: hostname(), padding: 'x'.repeat(1 << 20) };
      writeFileSync(join(dir, LOCK_FILE), JSON.stringify(stale));
      const at = performance.timeOrigin + performance.now() + 2;
      const answers = await Promise.all(racers.map((racer) => ask(racer, { at })));
      const winners = answers.filter((a) => a.won).map((a) => a.pid);
      const holder = JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid;
      const unexpected = answers.filter((a) => !a.won && !a.error?.startsWith('FolderInUseError'));
      if (winners.length !== 1 || holder !== winners[0] || unexpected.length > 0) {
        expect({ round, winners, holder, unexpected }).toEqual({ round, winners: [holder], holder, unexpected: [] });
      }
      await Promise.all(racers.map((racer) => ask(racer, { release: true })));
      // Nothing is left behind: the winner's release removed the lock, takeovers their own files.
      expect(readdirSync(dir)).toEqual([]);
    }
  });
});
