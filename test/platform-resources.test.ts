// The platform owns what it opens: a build that fails part-way closes the store, its pool and the
// toolsets' resources before it rethrows (Workers and Vercel retry a failed build on every
// request), and close() runs every closer even when some fail, reporting each failure.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { defineTool, defineToolset, text, type ToolsetFactory } from '../src/api/index.js';
import { createBaton } from '../src/api/node.js';
import type { Baton } from '../src/api/baton.js';
import { parseConfig } from '../src/config/index.js';
import type { Database } from '../src/store/db/database.js';
import { openNodeDatabase } from '../src/store/db/open-node.js';
import { createLogger } from '../src/log.js';
import { createPlatform } from '../src/platform/platform.js';
import { ADMIN_URL, createTestDatabase, type TestDatabase } from './helpers/db.js';

const quiet = createLogger('error');
const hello = defineToolset({
  name: 'hello',
  description: 'one tool',
  tools: [defineTool({ name: 'hello', description: 'says hello', input: {}, handler: () => text('hello') })],
});
// No DATABASE_URL or SESSIONS_STORE of the machine's environment reaches these settings.
const env = { DATABASE_URL: '', SESSIONS_STORE: '', BATON_CONFIG: '', BATON_CONFIG_YAML: '' };

let db: TestDatabase;
let dir: string;
const open: Baton[] = [];
beforeAll(async () => {
  db = await createTestDatabase('baton_resources');
});
afterAll(async () => {
  await db?.drop();
});
afterEach(async () => {
  await Promise.allSettled(open.splice(0).map((baton) => baton.close()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The embedded store in a folder of its own (its lock file says whether it is still open). */
function embedded(extra: Record<string, unknown> = {}) {
  dir = mkdtempSync(join(tmpdir(), 'baton-resources-'));
  return { sessions: { store: 'database' as const }, database: { pglite_dir: join(dir, 'data') }, ...extra };
}

async function connectionsTo(name: string): Promise<number> {
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  try {
    const result = await admin.query('select count(*)::int as n from pg_stat_activity where datname = $1', [name]);
    return result.rows[0].n as number;
  } finally {
    await admin.end();
  }
}

describe('a build that fails after the store was opened', () => {
  it('pg: ends the store pool, whose connections go away', async () => {
    const config = parseConfig(
      {
        sessions: { store: 'database' },
        database: { dsn: db.url },
        toolsets: ['diagnostics'],
        caching: { toolsets: { nope: { list_ttl: '1m' } } },
      },
      {},
    );
    let opened: Database | undefined;
    expect(await connectionsTo(db.name)).toBe(0);
    const failed = createPlatform(config, {
      logger: quiet,
      // As a runtime may: the connection is checked as soon as the database is opened.
      openDatabase: async (settings, logger) => {
        opened = await openNodeDatabase(settings, logger);
        await opened.connection?.();
        return opened;
      },
    });
    await expect(failed).rejects.toThrow('caching.toolsets: "nope" is not an enabled toolset');
    try {
      expect(opened).toBeDefined();
      await expect(opened!.query(sql`select 1`)).rejects.toMatchObject({
        cause: { message: expect.stringMatching(/after calling end on the pool/) },
      });
      // The server lets a backend go once its client has left; the state is read until then.
      await expect.poll(() => connectionsTo(db.name), { timeout: 10_000 }).toBe(0);
    } finally {
      await opened?.close().catch(() => {});
    }
  });

  it('PGlite: releases the folder, so the next build in this process (settings fixed) opens it', async () => {
    const broken = embedded({ caching: { toolsets: { nope: { list_ttl: '1m' } } } });
    await expect(createBaton({ config: broken, env, logger: 'error', toolsets: [hello] })).rejects.toThrow(
      'caching.toolsets: "nope" is not an enabled toolset',
    );
    const fixed = { ...broken, caching: {} };
    const baton = await createBaton({ config: fixed, env, logger: 'error', toolsets: [hello] });
    open.push(baton);
    await baton.ready();
  });
});

describe('close()', () => {
  it('runs every closer though some fail, closes the store, and names each failure', async () => {
    const closed: string[] = [];
    const closing =
      (name: string, fails: boolean): ToolsetFactory =>
      (services) => {
        services.onClose(async () => {
          closed.push(name);
          if (fails) throw new Error(`${name} could not close`);
        });
        return defineToolset({ name, description: name, tools: [] });
      };
    const config = embedded();
    const baton = await createBaton({
      config,
      env,
      logger: 'error',
      toolsets: [closing('first', true), closing('second', false), closing('third', true)],
    });
    await baton.ready();

    const failure = await baton.close().then(
      () => undefined,
      (error: unknown) => error,
    );
    // Last opened, first closed.
    expect(closed).toEqual(['third', 'second', 'first']);
    expect(failure).toBeInstanceOf(AggregateError);
    const errors = (failure as AggregateError).errors as Error[];
    expect(errors.map((error) => error.message).sort()).toEqual([
      expect.stringContaining('first could not close'),
      expect.stringContaining('third could not close'),
    ]);
    expect((failure as Error).message).toMatch(
      /first could not close.*third could not close|third could not close.*first could not close/s,
    );
    // The store was closed all the same: its folder opens again in this process.
    const again = await createBaton({ config, env, logger: 'error', toolsets: [hello] });
    open.push(again);
    await again.ready();
  });
});
