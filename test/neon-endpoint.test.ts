// The local Neon HTTP endpoint, driven by the real `@neondatabase/serverless` driver and compared
// with node-postgres talking to the same database directly.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { NeonDbError, neon, neonConfig } from '@neondatabase/serverless';
import { startNeonEndpoint, type NeonEndpoint } from '../src/dev/neon-endpoint/index.js';
import { ADMIN_URL, createTestDatabase, type TestDatabase } from './helpers/db.js';

let db: TestDatabase;
let zoned: TestDatabase;
let endpoint: NeonEndpoint;
let direct: pg.Client;
let directZoned: pg.Client;

const ERROR_FIELDS = [
  'severity',
  'code',
  'detail',
  'hint',
  'position',
  'internalPosition',
  'internalQuery',
  'where',
  'schema',
  'table',
  'column',
  'dataType',
  'constraint',
  'file',
  'line',
  'routine',
] as const;

const SCHEMA = `
  CREATE TABLE samples (
    id int4 PRIMARY KEY,
    t text,
    n int4,
    big int8,
    b bool,
    j jsonb,
    ts timestamptz,
    tags text[],
    nums int4[]
  )`;

// Rows written through pg with literal SQL, read back through both drivers.
const INSERTS = `
  INSERT INTO samples VALUES
    (1, 'hello', 42, 9007199254740993, true,
     '{"a": 1, "nested": {"list": [1, "two", null, {"deep": true}]}, "s": "héllo wörld ✓ 🚀"}',
     '2024-03-10 06:59:59.123456+00', '{a,"b c","quo\\"te",NULL,"NULL"}', '{1,2,-3}'),
    (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
    (3, '', -2147483648, -9223372036854775808, false, '[1, "x", [true, null], {"k": "v"}]',
     '1999-12-31 23:59:59+00', '{}', '{}'),
    (4, E'line\\nbreak, "quotes" and \\\\ backslash', 0, 0, true,
     '"just a string: ünïcödé \\"quoted\\" \\\\ 日本語"', '2024-07-01 12:00:00.5+02', '{"{braces}",","}', '{NULL,7}'),
    (5, 'null json', 1, 1, false, 'null', 'infinity', '{x}', '{0}')`;

async function makeSchema(client: pg.Client) {
  await client.query(SCHEMA);
  await client.query(INSERTS);
}

function plainFields(fields: readonly pg.FieldDef[]) {
  return fields.map((f) => ({
    name: f.name,
    dataTypeID: f.dataTypeID,
    tableID: f.tableID,
    columnID: f.columnID,
    dataTypeSize: f.dataTypeSize,
    dataTypeModifier: f.dataTypeModifier,
    format: f.format,
  }));
}

async function neonError(run: () => Promise<unknown>): Promise<NeonDbError> {
  try {
    await run();
  } catch (error) {
    expect(error).toBeInstanceOf(NeonDbError);
    return error as NeonDbError;
  }
  throw new Error('expected the query to fail');
}

async function pgError(client: pg.Client, text: string, values?: unknown[]): Promise<pg.DatabaseError> {
  try {
    await client.query(text, values);
  } catch (error) {
    return error as pg.DatabaseError;
  }
  throw new Error('expected the query to fail');
}

beforeAll(async () => {
  db = await createTestDatabase('baton_neon');
  zoned = await createTestDatabase('baton_neon_tz');
  // Before any connection exists, so every session on it starts in New York time.
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`ALTER DATABASE "${zoned.name}" SET timezone TO 'America/New_York'`);
  await admin.end();

  direct = new pg.Client({ connectionString: db.url });
  await direct.connect();
  await makeSchema(direct);
  directZoned = new pg.Client({ connectionString: zoned.url });
  await directZoned.connect();
  await makeSchema(directZoned);

  endpoint = await startNeonEndpoint({ postgresUrl: ADMIN_URL });
  neonConfig.fetchEndpoint = endpoint.fetchEndpoint;
});

afterAll(async () => {
  await endpoint?.close();
  await direct?.end();
  await directZoned?.end();
  await db?.drop();
  await zoned?.drop();
});

describe('neon endpoint over Postgres', () => {
  it('runs against the database named in the connection string', async () => {
    expect(endpoint.fetchEndpoint).toBe(`http://127.0.0.1:${endpoint.port}/sql`);
    const sql = neon(endpoint.connectionString(db.name));
    expect(await sql`SELECT current_database() AS name`).toEqual([{ name: db.name }]);
    const sqlZoned = neon(endpoint.connectionString(zoned.name));
    expect(await sqlZoned`SELECT current_database() AS name, current_setting('TimeZone') AS tz`).toEqual([
      { name: zoned.name, tz: 'America/New_York' },
    ]);
  });

  it('returns the same JS values as pg in object mode', async () => {
    const sql = neon(endpoint.connectionString(db.name));
    const viaNeon = await sql.query('SELECT * FROM samples ORDER BY id');
    const viaPg = (await direct.query('SELECT * FROM samples ORDER BY id')).rows;
    expect(viaNeon).toEqual(viaPg);
    expect(viaNeon).toHaveLength(5);

    const [first, nulls, third, fourth, fifth] = viaNeon as Record<string, unknown>[];
    expect(first).toEqual({
      id: 1,
      t: 'hello',
      n: 42,
      big: '9007199254740993',
      b: true,
      j: { a: 1, nested: { list: [1, 'two', null, { deep: true }] }, s: 'héllo wörld ✓ 🚀' },
      ts: new Date('2024-03-10T06:59:59.123Z'),
      tags: ['a', 'b c', 'quo"te', null, 'NULL'],
      nums: [1, 2, -3],
    });
    expect(
      Object.values(nulls!)
        .slice(1)
        .every((v) => v === null),
    ).toBe(true);
    expect(third).toMatchObject({ t: '', n: -2147483648, big: '-9223372036854775808', b: false, tags: [], nums: [] });
    expect(third!.j).toEqual([1, 'x', [true, null], { k: 'v' }]);
    expect(fourth).toMatchObject({
      t: 'line\nbreak, "quotes" and \\ backslash',
      j: 'just a string: ünïcödé "quoted" \\ 日本語',
      ts: new Date('2024-07-01T10:00:00.500Z'),
      tags: ['{braces}', ','],
      nums: [null, 7],
    });
    expect(fifth).toMatchObject({ j: null, ts: Infinity, tags: ['x'], nums: [0] });
  });

  it('returns the same rows as pg in array mode, with the same fields', async () => {
    const sql = neon(endpoint.connectionString(db.name), { arrayMode: true, fullResults: true });
    const viaNeon = await sql.query('SELECT id, t, big, j, ts, tags, nums, b FROM samples ORDER BY id');
    const viaPg = await direct.query({ text: 'SELECT id, t, big, j, ts, tags, nums, b FROM samples ORDER BY id', rowMode: 'array' });
    expect(viaNeon.rows).toEqual(viaPg.rows);
    expect(viaNeon.rows[0]).toEqual([
      1,
      'hello',
      '9007199254740993',
      { a: 1, nested: { list: [1, 'two', null, { deep: true }] }, s: 'héllo wörld ✓ 🚀' },
      new Date('2024-03-10T06:59:59.123Z'),
      ['a', 'b c', 'quo"te', null, 'NULL'],
      [1, 2, -3],
      true,
    ]);
    expect(viaNeon.rowAsArray).toBe(true);
    expect(viaNeon.command).toBe('SELECT');
    expect(viaNeon.rowCount).toBe(5);
    expect(viaNeon.fields).toEqual(plainFields(viaPg.fields));
    expect(viaNeon.fields[0]).toMatchObject({ name: 'id', dataTypeID: 23, columnID: 1, dataTypeSize: 4, format: 'text' });
    expect(viaNeon.fields[0]!.tableID).toBeGreaterThan(0);

    // Array mode can also be chosen per query.
    const objects = neon(endpoint.connectionString(db.name));
    expect(await objects.query('SELECT 1 AS a, 2 AS b', [], { arrayMode: true })).toEqual([[1, 2]]);
  });

  it('gives the same instants as pg when the server session is in a non-UTC zone', async () => {
    const sql = neon(endpoint.connectionString(zoned.name));
    const query = 'SELECT id, ts, ts::text AS ts_text FROM samples ORDER BY id';
    const viaNeon = (await sql.query(query)) as { id: number; ts: Date | null; ts_text: string | null }[];
    const viaPg = (await directZoned.query(query)).rows;
    expect(viaNeon).toEqual(viaPg);
    // The text really is New York time, and parses to the original instant.
    expect(viaNeon[0]!.ts_text).toBe('2024-03-10 01:59:59.123456-05');
    expect(viaNeon[0]!.ts!.getTime()).toBe(Date.UTC(2024, 2, 10, 6, 59, 59, 123));
    expect(viaNeon[3]!.ts_text).toBe('2024-07-01 06:00:00.5-04');
    expect(viaNeon[3]!.ts!.getTime()).toBe(Date.UTC(2024, 6, 1, 10, 0, 0, 500));
    // The same rows in the UTC database are the same instants.
    const utc = (await neon(endpoint.connectionString(db.name)).query('SELECT id, ts FROM samples ORDER BY id')) as {
      ts: Date | null;
    }[];
    expect(utc.map((r) => r.ts)).toEqual(viaNeon.map((r) => r.ts));
  });

  it('passes parameters the driver encodes (objects, arrays, dates, nulls, bigints)', async () => {
    const sql = neon(endpoint.connectionString(zoned.name));
    const object = { k: 'ü "q" \\', list: [1, null, { x: [] }] };
    const when = new Date('2023-11-05T05:30:00.250Z'); // during the New York DST change
    const [row] = await sql`
      SELECT ${object}::jsonb AS j, ${when}::timestamptz AS ts, ${['a b', 'c,"d"', null]}::text[] AS tags,
             ${[4, 5]}::int4[] AS nums, ${null}::text AS z, ${1234567890123456789n}::int8 AS big,
             ${true}::bool AS b, ${'plain text'} AS t, ${Buffer.from([0, 255, 16])}::bytea AS bytes`;
    expect(row).toEqual({
      j: object,
      ts: when,
      tags: ['a b', 'c,"d"', null],
      nums: [4, 5],
      z: null,
      big: '1234567890123456789',
      b: true,
      t: 'plain text',
      bytes: Buffer.from([0, 255, 16]),
    });
  });

  it('reports command and rowCount like pg', async () => {
    const sql = neon(endpoint.connectionString(db.name), { fullResults: true });
    await sql`CREATE TABLE counted (id int PRIMARY KEY, v text)`;
    const inserted = await sql`INSERT INTO counted VALUES (1, 'a'), (2, 'b'), (3, 'c')`;
    expect(inserted).toMatchObject({ command: 'INSERT', rowCount: 3, rows: [], fields: [] });
    const updated = await sql`UPDATE counted SET v = 'z' WHERE id > 1 RETURNING id`;
    expect(updated).toMatchObject({ command: 'UPDATE', rowCount: 2 });
    expect(updated.rows).toEqual([{ id: 2 }, { id: 3 }]);
    const created = await sql`CREATE INDEX counted_v ON counted (v)`;
    expect(created).toMatchObject({ command: 'CREATE', rowCount: null });
    const viaPg = await direct.query('SELECT * FROM counted ORDER BY id');
    expect(viaPg.rows).toEqual([
      { id: 1, v: 'a' },
      { id: 2, v: 'z' },
      { id: 3, v: 'z' },
    ]);
  });

  it('runs a batch as one transaction with the isolation and access mode asked for', async () => {
    const sql = neon(endpoint.connectionString(db.name));
    const [level, readOnly, deferrable] = await sql.transaction(
      [sql`SHOW transaction_isolation`, sql`SHOW transaction_read_only`, sql`SHOW transaction_deferrable`],
      { isolationLevel: 'Serializable', readOnly: true, deferrable: true },
    );
    expect(level).toEqual([{ transaction_isolation: 'serializable' }]);
    expect(readOnly).toEqual([{ transaction_read_only: 'on' }]);
    expect(deferrable).toEqual([{ transaction_deferrable: 'on' }]);

    const [defaults] = await sql.transaction([
      sql`SELECT current_setting('transaction_isolation') AS level, current_setting('transaction_read_only') AS ro`,
    ]);
    expect(defaults).toEqual([{ level: 'read committed', ro: 'off' }]);

    const [insert, select, txids] = await sql.transaction([
      sql`INSERT INTO samples (id, t) VALUES (10, 'batch') RETURNING id`,
      sql`SELECT t FROM samples WHERE id = 10`,
      sql`SELECT count(DISTINCT txid_current())::int AS n`,
    ]);
    expect(insert).toEqual([{ id: 10 }]);
    expect(select).toEqual([{ t: 'batch' }]);
    expect(txids).toEqual([{ n: 1 }]);
    expect((await direct.query('SELECT t FROM samples WHERE id = 10')).rows).toEqual([{ t: 'batch' }]);

    // Per-statement options: array mode for one result only.
    // (the driver's types want one row mode per transaction; at run time each query has its own)
    const mixed = [sql.query('SELECT 1 AS one', [], { arrayMode: true }), sql.query('SELECT 2 AS two')];
    const [asArrays, asObjects] = await sql.transaction(mixed as unknown as Parameters<typeof sql.transaction>[0]);
    expect(asArrays).toEqual([[1]]);
    expect(asObjects).toEqual([{ two: 2 }]);
  });

  it('refuses a write in a read-only batch (25006) and keeps nothing', async () => {
    const sql = neon(endpoint.connectionString(db.name));
    const error = await neonError(() =>
      sql.transaction([sql`SELECT 1`, sql`INSERT INTO samples (id, t) VALUES (11, 'nope')`], { readOnly: true }),
    );
    expect(error.code).toBe('25006');
    expect(error.message).toBe('cannot execute INSERT in a read-only transaction');
    expect(error.severity).toBe('ERROR');
    expect((await direct.query('SELECT count(*)::int AS n FROM samples WHERE id = 11')).rows).toEqual([{ n: 0 }]);
  });

  it('rolls a failing batch back entirely', async () => {
    const sql = neon(endpoint.connectionString(db.name));
    const error = await neonError(() =>
      sql.transaction([
        sql`INSERT INTO samples (id, t) VALUES (20, 'first')`,
        sql`UPDATE samples SET t = 'changed' WHERE id = 1`,
        sql`INSERT INTO samples (id, t) VALUES (1, 'duplicate')`,
        sql`INSERT INTO samples (id, t) VALUES (21, 'never')`,
      ]),
    );
    expect(error.code).toBe('23505');
    expect(error.constraint).toBe('samples_pkey');
    const rows = (await direct.query('SELECT id, t FROM samples WHERE id IN (1, 20, 21) ORDER BY id')).rows;
    expect(rows).toEqual([{ id: 1, t: 'hello' }]);
    // The endpoint's connection is usable afterwards.
    expect(await sql`SELECT count(*)::int AS n FROM samples WHERE id = 20`).toEqual([{ n: 0 }]);
  });

  it('fails a string with several statements like Neon (42601), with or without parameters', async () => {
    const sql = neon(endpoint.connectionString(db.name));
    for (const run of [
      () => sql.query('SELECT 1; SELECT 2'),
      () => sql.query('INSERT INTO samples (id) VALUES (30); DELETE FROM samples WHERE id = 30'),
      () => sql.query('SELECT $1::int; SELECT 2', [1]),
    ]) {
      const error = await neonError(run);
      expect(error.code).toBe('42601');
      expect(error.message).toBe('cannot insert multiple commands into a prepared statement');
    }
    expect((await direct.query('SELECT count(*)::int AS n FROM samples WHERE id = 30')).rows).toEqual([{ n: 0 }]);
    // One statement with a trailing semicolon is fine.
    expect(await sql.query('SELECT 1 AS one;')).toEqual([{ one: 1 }]);
  });

  it('surfaces Postgres error fields on NeonDbError exactly as pg reports them', async () => {
    const sql = neon(endpoint.connectionString(db.name));
    const cases: [string, unknown[]][] = [
      ["INSERT INTO samples (id, t) VALUES ($1, 'dup')", [1]],
      ['SELECT no_such_column FROM samples', []],
      ['SELECT no_such_function($1::int)', [1]],
      ['INSERT INTO samples (id, n) VALUES (40, $1)', ['not a number']],
      ["SELECT 'x'::jsonb", []],
    ];
    for (const [text, params] of cases) {
      const viaNeon = await neonError(() => sql.query(text, params));
      const viaPg = await pgError(direct, text, params);
      expect(viaNeon.message).toBe(viaPg.message);
      for (const field of ERROR_FIELDS) expect({ [field]: viaNeon[field] }).toEqual({ [field]: viaPg[field] });
    }

    const unique = await neonError(() => sql`INSERT INTO samples (id, t) VALUES (${1}, 'dup')`);
    expect(unique).toMatchObject({
      name: 'NeonDbError',
      message: 'duplicate key value violates unique constraint "samples_pkey"',
      code: '23505',
      severity: 'ERROR',
      detail: 'Key (id)=(1) already exists.',
      constraint: 'samples_pkey',
      table: 'samples',
      schema: 'public',
    });
    expect(unique.hint).toBeUndefined();

    const position = await neonError(() => sql.query('SELECT no_such_column FROM samples'));
    expect(position).toMatchObject({ code: '42703', position: '8' });
    const hint = await neonError(() => sql.query('SELECT no_such_function(1)'));
    expect(hint.code).toBe('42883');
    expect(hint.hint).toMatch(/explicit type casts/);
  });

  it('answers malformed requests with 400 and a message', async () => {
    const headers = {
      'Neon-Connection-String': endpoint.connectionString(db.name),
      'Neon-Raw-Text-Output': 'true',
      'Neon-Array-Mode': 'true',
    };
    const post = (body: string, extra: Record<string, string> = {}, h: Record<string, string> = headers) =>
      fetch(endpoint.fetchEndpoint, { method: 'POST', body, headers: { ...h, ...extra } });

    const notJson = await post('{not json');
    expect(notJson.status).toBe(400);
    expect((await notJson.json()).message).toMatch(/^could not parse the HTTP request body/);

    const noQuery = await post(JSON.stringify({ sql: 'SELECT 1' }));
    expect(noQuery.status).toBe(400);
    expect((await noQuery.json()).message).toMatch(/could not parse the HTTP request body/);

    const badParams = await post(JSON.stringify({ query: 'SELECT 1', params: 'x' }));
    expect(badParams.status).toBe(400);

    const noConnection = await post(JSON.stringify({ query: 'SELECT 1' }), {}, {});
    expect(noConnection.status).toBe(400);
    expect(await noConnection.json()).toEqual({ message: 'invalid header: neon-connection-string' });

    const noDatabase = await post(JSON.stringify({ query: 'SELECT 1' }), {
      'Neon-Connection-String': `postgresql://postgres@127.0.0.1:${endpoint.port}`,
    });
    expect(noDatabase.status).toBe(400);
    expect(await noDatabase.json()).toEqual({ message: 'missing database name' });

    const badLevel = await post(JSON.stringify({ queries: [{ query: 'SELECT 1' }] }), {
      'Neon-Batch-Isolation-Level': 'Chaotic',
    });
    expect(badLevel.status).toBe(400);
    expect(await badLevel.json()).toEqual({ message: 'invalid isolation level' });

    const missingDb = await post(JSON.stringify({ query: 'SELECT 1' }), {
      'Neon-Connection-String': `postgresql://postgres@127.0.0.1:${endpoint.port}/baton_neon_does_not_exist`,
    });
    expect(missingDb.status).toBe(400);
    expect(await missingDb.json()).toMatchObject({ code: '3D000', message: 'database "baton_neon_does_not_exist" does not exist' });

    const wrongPath = await fetch(`${endpoint.url}/nope`, { method: 'POST', body: '{}' });
    expect(wrongPath.status).toBe(404);
    const wrongMethod = await fetch(endpoint.fetchEndpoint);
    expect(wrongMethod.status).toBe(405);
  });

  it('speaks the wire format directly: raw text, JSON-converted output, batch headers', async () => {
    const base = { 'Neon-Connection-String': endpoint.connectionString(zoned.name) };
    const body = JSON.stringify({
      query: 'SELECT id, n, big, b, j, ts, tags, nums FROM samples WHERE id = $1',
      params: [1],
    });

    const raw = await fetch(endpoint.fetchEndpoint, {
      method: 'POST',
      body,
      headers: { ...base, 'Neon-Raw-Text-Output': 'true', 'Neon-Array-Mode': 'true' },
    });
    expect(raw.status).toBe(200);
    expect(raw.headers.get('access-control-allow-origin')).toBe('*');
    const rawJson = await raw.json();
    expect(rawJson).toMatchObject({ command: 'SELECT', rowCount: 1, rowAsArray: true });
    expect(rawJson.rows).toEqual([
      [
        '1',
        '42',
        '9007199254740993',
        't',
        '{"a": 1, "s": "héllo wörld ✓ 🚀", "nested": {"list": [1, "two", null, {"deep": true}]}}',
        '2024-03-10 01:59:59.123456-05',
        '{a,"b c","quo\\"te",NULL,"NULL"}',
        '{1,2,-3}',
      ],
    ]);
    expect(rawJson.fields.map((f: { name: string; dataTypeID: number }) => [f.name, f.dataTypeID])).toEqual([
      ['id', 23],
      ['n', 23],
      ['big', 20],
      ['b', 16],
      ['j', 3802],
      ['ts', 1184],
      ['tags', 1009],
      ['nums', 1007],
    ]);

    // Without Neon-Raw-Text-Output and Neon-Array-Mode: objects with JSON-typed values (as Neon does).
    const converted = await fetch(endpoint.fetchEndpoint, { method: 'POST', body, headers: base });
    const convertedJson = await converted.json();
    expect(convertedJson.rowAsArray).toBe(false);
    expect(convertedJson.rows).toEqual([
      {
        id: 1,
        n: 42,
        big: '9007199254740993',
        b: true,
        j: { a: 1, nested: { list: [1, 'two', null, { deep: true }] }, s: 'héllo wörld ✓ 🚀' },
        ts: '2024-03-10 01:59:59.123456-05',
        tags: ['a', 'b c', 'quo"te', null, 'NULL'],
        nums: [1, 2, -3],
      },
    ]);

    const batch = await fetch(endpoint.fetchEndpoint, {
      method: 'POST',
      body: JSON.stringify({
        queries: [
          { query: 'SELECT $1::int AS x', params: [7] },
          { query: 'SELECT 8 AS y', arrayMode: true },
        ],
      }),
      headers: { ...base, 'Neon-Batch-Read-Only': 'true', 'Neon-Batch-Isolation-Level': 'RepeatableRead' },
    });
    expect(batch.status).toBe(200);
    expect(batch.headers.get('neon-batch-read-only')).toBe('true');
    expect(batch.headers.get('neon-batch-isolation-level')).toBe('RepeatableRead');
    const batchJson = await batch.json();
    expect(batchJson.results.map((r: { rows: unknown[] }) => r.rows)).toEqual([[{ x: 7 }], [[8]]]);
  });
});

describe('neon endpoint over PGlite', () => {
  it('creates, inserts and round-trips jsonb and timestamptz', async () => {
    const local = await startNeonEndpoint({});
    const previous = neonConfig.fetchEndpoint;
    // The function form: the driver passes the connection string's host and port.
    neonConfig.fetchEndpoint = (host: string, port: number | string) => `http://${host}:${port}/sql`;
    try {
      const sql = neon(local.connectionString());
      await sql`CREATE TABLE notes (id int PRIMARY KEY, body jsonb NOT NULL, at timestamptz NOT NULL, tags text[])`;
      const body = { title: 'Grüße 👋', items: [1, 'two', { three: [3] }], none: null };
      const at = new Date('2024-02-29T23:59:59.999Z');
      const inserted = await sql.query('INSERT INTO notes VALUES ($1, $2, $3, $4)', [1, body, at, ['x', 'y z']], {
        fullResults: true,
      });
      expect(inserted).toMatchObject({ command: 'INSERT', rowCount: 1 });
      await sql`INSERT INTO notes VALUES (2, ${'"just text"'}::jsonb, '2000-01-01 00:00:00+00', NULL)`;

      const rows = await sql`SELECT id, body, at, tags, body->>'title' AS title FROM notes ORDER BY id`;
      expect(rows).toEqual([
        { id: 1, body, at, tags: ['x', 'y z'], title: 'Grüße 👋' },
        { id: 2, body: 'just text', at: new Date('2000-01-01T00:00:00Z'), tags: null, title: null },
      ]);
      expect((rows[0]!.at as Date).getTime()).toBe(at.getTime());

      const full = await sql.query('SELECT id, at FROM notes WHERE id = 1', [], { fullResults: true, arrayMode: true });
      expect(full.rows).toEqual([[1, at]]);
      expect(full.fields.map((f) => [f.name, f.dataTypeID, f.columnID])).toEqual([
        ['id', 23, 1],
        ['at', 1184, 3],
      ]);

      const multi = await neonError(() => sql.query('SELECT 1; SELECT 2'));
      expect(multi.code).toBe('42601');

      const duplicate = await neonError(() =>
        sql.transaction([sql`INSERT INTO notes VALUES (3, '{}', now(), NULL)`, sql`INSERT INTO notes VALUES (1, '{}', now(), NULL)`]),
      );
      expect(duplicate).toMatchObject({ code: '23505', constraint: 'notes_pkey', detail: 'Key (id)=(1) already exists.' });
      expect(await sql`SELECT count(*)::int AS n FROM notes`).toEqual([{ n: 2 }]);

      const readOnly = await neonError(() => sql.transaction([sql`DELETE FROM notes`], { readOnly: true }));
      expect(readOnly.code).toBe('25006');
    } finally {
      neonConfig.fetchEndpoint = previous;
      await local.close();
    }
  });
});

describe('neon endpoint CLI', () => {
  it('prints its URL and a ready line, serves queries, and stops on SIGTERM', async () => {
    const tsx = resolve('node_modules/.bin/tsx');
    const child = spawn(tsx, ['src/dev/neon-endpoint/cli.ts', '--postgres', ADMIN_URL, '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const lines = createInterface({ input: child.stdout! });
      const seen: string[] = [];
      for await (const line of lines) {
        seen.push(line);
        if (line.startsWith('neon endpoint ready')) break;
      }
      const url = seen[0]!;
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(seen[1]).toContain(`${url}/sql`);
      const res = await fetch(`${url}/sql`, {
        method: 'POST',
        body: JSON.stringify({ query: 'SELECT current_database() AS db' }),
        headers: { 'Neon-Connection-String': `postgresql://postgres@x/${db.name}`, 'Neon-Array-Mode': 'true' },
      });
      expect((await res.json()).rows).toEqual([[db.name]]);
      const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
