// The enrichment middleware through the platform in this process: a toolset of the test's own
// declares what its results reference and registers a context provider, so everything here is
// the generic path any toolset takes. Dedup modes, entry_ttl, disabled dedup, failures; the state
// it keeps, in the memory store and in the database store shared by two platforms.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import pg from 'pg';
import { parseConfig } from '../src/config/index.js';
import { createLogger } from '../src/log.js';
import { createPlatform, type Platform } from '../src/platform/platform.js';
import { defineTool, text } from '../src/core/define.js';
import { TOOLSET_FACTORIES } from '../src/tools/index.js';
import type { SemanticContext } from '../src/core/enrichment/context.js';
import { openNodeDatabase } from '../src/store/db/open-node.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { RawSession } from './helpers/mcp.js';

const quiet = createLogger('error');

/** What the provider knows; `fail` makes it throw, `asked` records each call. */
const provider = {
  fail: false,
  asked: [] as string[][],
  contexts: new Map<string, SemanticContext>([
    [
      'public.orders',
      {
        name: 'public.orders',
        description: 'One row per checkout.',
        owner: 'sales-data',
        tags: ['sales'],
        columns: [{ name: 'status', description: 'Lifecycle state.' }],
      },
    ],
    ['public.customers', { name: 'public.customers', description: 'Accounts.', owner: 'crm', deprecated: 'Use public.accounts.' }],
  ]),
};

beforeAll(() => {
  TOOLSET_FACTORIES.enrich_probe = ({ context }) => {
    context.register('table', {
      async describe(names) {
        provider.asked.push(names);
        if (provider.fail) throw new Error('catalog offline');
        return new Map(names.flatMap((n) => (provider.contexts.has(n) ? [[n, provider.contexts.get(n)!] as const] : [])));
      },
    });
    return {
      name: 'enrich_probe',
      description: 'test',
      tools: [
        defineTool({
          name: 'touch',
          description: 'Answers with the tables named, as references.',
          input: { tables: z.array(z.string()), fail: z.boolean().optional() },
          handler: ({ tables, fail }) => ({
            ...(fail ? { isError: true, ...text('failed') } : text(`touched ${tables.join(', ')}`)),
            references: tables.map((name) => ({ kind: 'table' as const, name })),
          }),
        }),
      ],
    };
  };
});

afterAll(() => {
  delete TOOLSET_FACTORIES.enrich_probe;
});

afterEach(() => {
  provider.fail = false;
  provider.asked = [];
});

async function platformWith(dedup: Record<string, unknown>, extra: Record<string, unknown> = {}, now?: () => number): Promise<Platform> {
  return createPlatform(parseConfig({ toolsets: ['enrich_probe'], enrichment: { session_dedup: dedup }, ...extra }, {}), {
    logger: quiet,
    openDatabase: openNodeDatabase,
    ...(now ? { now } : {}),
  });
}

async function sessionOn(platform: Platform): Promise<RawSession> {
  const session = new RawSession((r) => platform.app.fetch(r));
  await session.initialize();
  return session;
}

async function touch(session: RawSession, tables: string[], fail = false): Promise<string[]> {
  const { result } = await session.callTool('touch', { tables, fail });
  return result.content.map((c: { text: string }) => c.text);
}

describe('dedup modes', () => {
  it('reference (default): full context once, then a short reference', async () => {
    const platform = await platformWith({});
    const session = await sessionOn(platform);
    const first = await touch(session, ['public.orders']);
    expect(first).toEqual([
      'touched public.orders',
      [
        'semantic_context: public.orders',
        'description: One row per checkout.',
        'owner: sales-data',
        'tags: sales',
        'columns:',
        '  status: Lifecycle state.',
      ].join('\n'),
    ]);
    expect(await touch(session, ['public.orders'])).toEqual([
      'touched public.orders',
      'semantic_context: public.orders (sent earlier in this session; not repeated)',
    ]);
    // Another session has its own memory.
    expect((await touch(await sessionOn(platform), ['public.orders']))[1]).toMatch(/^semantic_context: public\.orders\ndescription/);
    // The reference needs no context: the provider was not asked again in the first session.
    expect(provider.asked).toEqual([['public.orders'], ['public.orders']]);
    await platform.close();
  });

  it('summary: one line after the first time', async () => {
    const platform = await platformWith({ mode: 'summary' });
    const session = await sessionOn(platform);
    await touch(session, ['public.customers']);
    expect((await touch(session, ['public.customers']))[1]).toBe(
      'semantic_context: public.customers (summary; full context sent earlier in this session) Accounts. | owner: crm | DEPRECATED: Use public.accounts.',
    );
    await platform.close();
  });

  it('none: nothing after the first time', async () => {
    const platform = await platformWith({ mode: 'none' });
    const session = await sessionOn(platform);
    expect(await touch(session, ['public.orders'])).toHaveLength(2);
    expect(await touch(session, ['public.orders'])).toEqual(['touched public.orders']);
    // A table not sent yet still comes in full, beside one that was.
    const mixed = await touch(session, ['public.orders', 'public.customers']);
    expect(mixed).toHaveLength(2);
    expect(mixed[1]).toMatch(/^semantic_context: public\.customers\n/);
    await platform.close();
  });

  it('disabled: the full context every time', async () => {
    const platform = await platformWith({ enabled: false, mode: 'none' });
    const session = await sessionOn(platform);
    for (let i = 0; i < 3; i++)
      expect((await touch(session, ['public.orders']))[1]).toMatch(/^semantic_context: public\.orders\ndescription/);
    await platform.close();
  });

  it('entry_ttl: after it, the full context is sent again', async () => {
    // The platform's clock, moved by hand: the test never depends on how fast the machine is.
    let clock = 1_700_000_000_000;
    const platform = await platformWith({ entry_ttl: '400ms' }, {}, () => clock);
    const session = await sessionOn(platform);
    expect((await touch(session, ['public.orders']))[1]).toMatch(/\nowner: sales-data/);
    clock += 399;
    expect((await touch(session, ['public.orders']))[1]).toMatch(/not repeated/);
    clock += 1;
    expect((await touch(session, ['public.orders']))[1]).toMatch(/\nowner: sales-data/);
    // Sent again at that moment: the next 400 ms count from there.
    clock += 399;
    expect((await touch(session, ['public.orders']))[1]).toMatch(/not repeated/);
    await platform.close();
  });
});

describe('what is and is not enriched', () => {
  it('one block per distinct reference; unknown names and error results get none', async () => {
    const platform = await platformWith({});
    const session = await sessionOn(platform);
    const blocks = await touch(session, ['public.orders', 'public.orders', 'public.nothing_known']);
    expect(blocks.filter((b) => b.startsWith('semantic_context:'))).toHaveLength(1);
    expect(await touch(session, ['public.customers'], true)).toEqual(['failed']);
    // The failed result marked nothing: the next one carries the full context.
    expect((await touch(session, ['public.customers']))[1]).toMatch(/^semantic_context: public\.customers\n/);
    await platform.close();
  });

  it('a provider failure leaves the result as it was and marks nothing as sent', async () => {
    const platform = await platformWith({});
    const session = await sessionOn(platform);
    provider.fail = true;
    expect(await touch(session, ['public.orders'])).toEqual(['touched public.orders']);
    provider.fail = false;
    expect((await touch(session, ['public.orders']))[1]).toMatch(/^semantic_context: public\.orders\n/);
    await platform.close();
  });
});

describe('dedup state is session state', () => {
  it('memory store: one flat key per table, holding when its context was sent', async () => {
    const platform = await platformWith({});
    const session = await sessionOn(platform);
    const before = Date.now();
    await touch(session, ['public.orders', 'public.customers']);
    const opened = await platform.store.open(session.id, '');
    expect(opened.status).toBe('ok');
    const state = opened.status === 'ok' ? opened.session.state : {};
    expect(
      Object.keys(state)
        .filter((k) => k.startsWith('enrich.'))
        .sort(),
    ).toEqual(['enrich.sent:public.customers', 'enrich.sent:public.orders']);
    expect(state['enrich.sent:public.orders']).toBeGreaterThanOrEqual(before);
    await platform.close();
  });

  describe('database store (pg), two platforms sharing it', () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await createTestDatabase('baton_enrich');
    });
    afterAll(async () => {
      await db?.drop();
    });

    it('a session continues on another platform without resending, and concurrent calls keep both tables', async () => {
      const extra = { sessions: { store: 'database' }, database: { dsn: db.url } };
      const [a, b] = [await platformWith({}, extra), await platformWith({}, extra)];
      try {
        const session = await sessionOn(a);
        expect((await touch(session, ['public.orders']))[1]).toMatch(/\nowner: sales-data/);
        const onB = new RawSession((r) => b.app.fetch(r));
        onB.id = session.id;
        expect((await touch(onB, ['public.orders']))[1]).toMatch(/not repeated/);

        // Two calls at once, one per platform, each sending a different table for the first time.
        const [viaA, viaB] = await Promise.all([
          touch(session, ['public.customers']),
          touch(onB, ['public.products_unknown', 'public.orders']),
        ]);
        expect(viaA[1]).toMatch(/^semantic_context: public\.customers\n/);
        expect(viaB[1]).toMatch(/not repeated/);
        provider.contexts.set('public.extra', { name: 'public.extra', description: 'Extra.' });
        await Promise.all([touch(session, ['public.extra']), touch(onB, ['public.customers'])]);

        const client = new pg.Client({ connectionString: db.url });
        await client.connect();
        const { rows } = await client.query('select state from baton.sessions where id = $1', [session.id]);
        await client.end();
        expect(
          Object.keys(rows[0].state)
            .filter((k) => k.startsWith('enrich.'))
            .sort(),
        ).toEqual(['enrich.sent:public.customers', 'enrich.sent:public.extra', 'enrich.sent:public.orders']);
      } finally {
        provider.contexts.delete('public.extra');
        await a.close();
        await b.close();
      }
    });
  });
});
