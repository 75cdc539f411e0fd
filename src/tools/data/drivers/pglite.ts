// The embedded demo dataset: PGlite in memory, seeded when opened, in a worker thread. PGlite runs
// Postgres as WebAssembly on the thread that calls it and cannot honour statement_timeout (it has
// no timers to interrupt a statement), so a long query on the main thread would stall the whole
// server. In a worker, a statement past the timeout is stopped by terminating the thread; a fresh
// one is seeded for the next call. Nothing is lost: the demo is read-only and rebuilt from its seed.
import { Worker } from 'node:worker_threads';
import { QUERY_CANCELED, StatementError, timeoutStatement, type Datasource, type RawResult, type Statement } from '../datasource.js';
import type { ThreadReply, ThreadRequest } from './pglite-thread.js';

export interface PgliteDatasourceOptions {
  /** The statements that build the dataset, run once per thread. */
  seed: string[];
  statementTimeoutMs: number;
}

interface Job {
  statements: Statement[];
  resolve(results: RawResult[]): void;
  reject(error: unknown): void;
}

// From the sources (tests, tsx) the thread is TypeScript and needs tsx loaded into it explicitly,
// since tests run this module without it; from the build (dist/, see scripts/build.mjs) it is the
// built pglite-thread.js beside the file this code was bundled into.
const FROM_SOURCES = import.meta.url.endsWith('.ts');
const THREAD = new URL(FROM_SOURCES ? './pglite-thread.ts' : './pglite-thread.js', import.meta.url);

function startThread(seed: string[]): Promise<Worker> {
  const worker = new Worker(THREAD, { workerData: { seed }, ...(FROM_SOURCES && { execArgv: ['--import', 'tsx'] }) });
  worker.unref();
  return new Promise((resolve, reject) => {
    const onMessage = (message: ThreadReply) => {
      if (!('type' in message)) return;
      worker.off('message', onMessage);
      worker.off('error', reject);
      if (message.type === 'ready') resolve(worker);
      else {
        void worker.terminate();
        reject(new Error(`the demo dataset could not be built: ${message.message}`));
      }
    };
    worker.on('message', onMessage);
    worker.once('error', reject);
  });
}

/** Resolves once the first thread has seeded the dataset. */
export async function openPgliteDatasource(options: PgliteDatasourceOptions): Promise<Datasource> {
  const timeout = options.statementTimeoutMs;
  let thread: Promise<Worker> = startThread(options.seed);
  await thread;
  const queue: Job[] = [];
  let busy = false;
  let nextId = 1;
  let closed = false;

  const replace = (old: Worker) => {
    void old.terminate();
    thread = startThread(options.seed);
    // A failed restart is reported by the next call, which awaits the same promise.
    thread.catch(() => {});
  };

  async function runOne(job: Job): Promise<void> {
    let worker: Worker;
    try {
      worker = await thread;
    } catch (error) {
      // Try again on the next call rather than keeping a broken thread forever.
      thread = startThread(options.seed);
      thread.catch(() => {});
      return job.reject(error);
    }
    const id = nextId++;
    await new Promise<void>((done) => {
      const finish = () => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('exit', onExit);
        done();
      };
      const onMessage = (reply: ThreadReply) => {
        if ('type' in reply || reply.id !== id) return;
        finish();
        if (reply.ok) job.resolve(reply.results.slice(1));
        else
          job.reject(
            new StatementError(reply.error.message, reply.error.code, reply.error.position ? Number(reply.error.position) : undefined),
          );
      };
      const onExit = (code: number) => {
        finish();
        if (!closed) replace(worker);
        job.reject(new Error(`the demo dataset's thread stopped (exit code ${code})`));
      };
      const timer = setTimeout(() => {
        finish();
        replace(worker);
        job.reject(new StatementError('canceling statement due to statement timeout', QUERY_CANCELED));
      }, timeout);
      worker.on('message', onMessage);
      worker.once('exit', onExit);
      worker.postMessage({ id, statements: [timeoutStatement(timeout), ...job.statements] } satisfies ThreadRequest);
    });
  }

  // One batch at a time, so that the timeout measures a statement's own run, not its wait.
  async function drain(): Promise<void> {
    if (busy) return;
    busy = true;
    try {
      for (let job = queue.shift(); job; job = queue.shift()) await runOne(job);
    } finally {
      busy = false;
    }
  }

  return {
    driver: 'pglite',
    statementTimeoutMs: timeout,
    readOnly(statements) {
      if (closed) return Promise.reject(new Error('the demo dataset is closed'));
      return new Promise<RawResult[]>((resolve, reject) => {
        queue.push({ statements, resolve, reject });
        void drain();
      });
    },
    async close() {
      closed = true;
      for (const job of queue.splice(0)) job.reject(new Error('the demo dataset is closed'));
      const worker = await thread.catch(() => undefined);
      await worker?.terminate();
    },
  };
}
