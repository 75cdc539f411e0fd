// Fuzzing the running Node server (database store, API keys and JWT configured, anonymous access
// allowed): thousands of random and mutated requests over raw TCP, so that nothing a fetch client
// would refuse to send is left out (methods, paths, header bytes, bodies, session ids,
// credentials). No answer may be a 5xx other than the documented 503, the process must stay up,
// and a session created before must be usable, with its state, afterwards.
//
// Request i is drawn from its own generator, seeded from the run's seed and i, and aims at
// sessions made before the run: so FUZZ_SEED=<the seed the test prints> sends the same requests
// again, whatever order the answers come back in. FUZZ_REQUESTS changes the count.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { randomInt } from 'node:crypto';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { startServer, type RunningServer } from './helpers/server.js';
import { INIT_BODY, RawSession } from './helpers/mcp.js';

const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 10_500);
const CONCURRENCY = 48;
const SEED = process.env.FUZZ_SEED ? seedFrom(process.env.FUZZ_SEED) : randomInt(2 ** 31);
/** Sessions made before the run, which fuzzed requests aim at besides the victim's. */
const POOL_SIZE = 24;
const KEY = 'fuzz-key-0123456789abcdef';
const JWT_SECRET = 'fuzz-jwt-secret-0123456789abcdef0123';

let db: TestDatabase;
let server: RunningServer;

beforeAll(async () => {
  db = await createTestDatabase('baton_fuzz');
  const config = [
    'server:',
    '  max_body_bytes: 262144',
    'sessions:',
    '  store: database',
    'database:',
    '  driver: pg',
    `  dsn: "${db.url}"`,
    'auth:',
    '  required: false',
    `  api_keys: ["${KEY}"]`,
    '  jwt:',
    `    secret: "${JWT_SECRET}"`,
    '    issuer: https://issuer.fuzz',
    '    audience: https://mcp.fuzz/mcp',
  ].join('\n');
  server = await startServer({ BATON_CONFIG_YAML: config });
  // Printed first, so that a run that hangs or crashes can be replayed too.
  console.log(`fuzz: seed ${SEED} (replay with FUZZ_SEED=${SEED})`);
});

function seedFrom(text: string): number {
  const seed = Number(text);
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32)
    throw new Error(`FUZZ_SEED: expected an integer from 0 to 2^32-1, got "${text}"`);
  return seed;
}

afterAll(async () => {
  await server?.stop();
  await db?.drop();
});

/** mulberry32: small, fast, seedable. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const chance = (p: number) => next() < p;
  const bytes = (n: number, exclude: number[] = []) => {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) {
      let b = int(256);
      while (exclude.includes(b)) b = int(256);
      out[i] = b;
    }
    return out;
  };
  const ascii = (n: number) => Array.from({ length: n }, () => String.fromCharCode(0x21 + int(94))).join('');
  return { next, int, pick, chance, bytes, ascii };
}

type Rng = ReturnType<typeof prng>;

/** Request `index` of the run with `seed`: its own generator, so no other request's timing changes it. */
function requestAt(seed: number, index: number, victim: string, pool: string[]): Draft {
  return draft(prng((seed + Math.imul(index + 1, 0x9e3779b9)) >>> 0), victim, pool);
}

const METHODS = [
  'tools/list',
  'tools/call',
  'ping',
  'initialize',
  'logging/setLevel',
  'resources/list',
  'resources/subscribe',
  'prompts/list',
  'completion/complete',
  'notifications/initialized',
  'notifications/cancelled',
  'nope/unknown',
  '',
];

function message(rng: Rng): unknown {
  const method = rng.pick(METHODS);
  if (method === 'initialize') {
    return {
      ...INIT_BODY,
      id: rng.int(1000),
      params: rng.chance(0.7)
        ? {
            ...INIT_BODY.params,
            protocolVersion: rng.pick(['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05', '1999-01-01', '']),
            capabilities: rng.pick([{}, { elicitation: {} }, { sampling: 5 }, null]),
          }
        : rng.pick([{}, null, 'x', []]),
    };
  }
  const base: Record<string, unknown> = { jsonrpc: rng.chance(0.95) ? '2.0' : rng.pick(['1.0', 2, null]), method };
  if (!method.startsWith('notifications/') || rng.chance(0.1)) base.id = rng.pick([rng.int(1e6), `id-${rng.int(100)}`, null, 1.5, {}, -1]);
  if (rng.chance(0.8))
    base.params = rng.pick([
      {},
      { name: rng.pick(['test_simple_text', 'x', '']), arguments: { a: rng.int(10) } },
      { level: rng.pick(['debug', 'error', 'nope']) },
      { uri: 'test://x' },
      [],
      'str',
      null,
      { requestId: rng.int(5) },
    ]);
  if (rng.chance(0.05)) return { jsonrpc: '2.0', id: rng.int(100), result: {} };
  return base;
}

function body(rng: Rng): Buffer {
  const roll = rng.int(100);
  if (roll < 40) return Buffer.from(JSON.stringify(message(rng)));
  if (roll < 50) return Buffer.from(JSON.stringify(Array.from({ length: rng.int(5) }, () => message(rng))));
  if (roll < 75) {
    // Mutations of a valid message: flipped bytes, cuts, insertions, duplications.
    const valid = Buffer.from(JSON.stringify(message(rng)));
    const mutated = Buffer.from(valid);
    for (let i = rng.int(4) + 1; i > 0; i--) mutated[rng.int(mutated.length)] = rng.int(256);
    return rng.pick([
      mutated,
      valid.subarray(0, rng.int(valid.length)),
      Buffer.concat([valid, rng.bytes(rng.int(20))]),
      Buffer.concat([valid, valid]),
    ]);
  }
  if (roll < 80) return Buffer.from(`${'['.repeat(rng.int(20_000))}1`); // deep nesting
  if (roll < 84)
    return Buffer.from(
      JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'x'.repeat(rng.int(200_000)), arguments: {} } }),
    );
  if (roll < 88)
    return Buffer.from(
      rng.pick([
        '1e999',
        '-0',
        'null',
        'true',
        '"\\ud800"',
        '{"__proto__": {"polluted": 1}, "jsonrpc": "2.0", "id": 1, "method": "ping"}',
        '\ufeff{}',
      ]),
    );
  if (roll < 92) return Buffer.alloc(0);
  return rng.bytes(rng.int(2_000));
}

function sessionId(rng: Rng, victim: string, pool: string[]): string | undefined {
  const roll = rng.int(100);
  if (roll < 20) return undefined;
  if (roll < 40) return victim; // never with the victim's credential (see credential())
  if (roll < 60) return rng.pick(pool);
  if (roll < 70) return rng.ascii(43);
  if (roll < 75) return rng.ascii(rng.int(400) + 129);
  if (roll < 80) return `${victim.slice(0, 20)}${rng.bytes(4, [10, 13]).toString('latin1')}${victim.slice(24)}`;
  if (roll < 85) return '';
  return victim.slice(0, rng.int(victim.length));
}

function credential(rng: Rng, aimedAtVictim: boolean): [string, string] | undefined {
  const roll = rng.int(100);
  if (roll < 40) return undefined;
  if (roll < 55 && !aimedAtVictim)
    return rng.pick([
      ['Authorization', `Bearer ${KEY}`],
      ['X-API-Key', KEY],
    ]);
  if (roll < 70) return ['Authorization', `Bearer ${rng.ascii(rng.int(60) + 1)}`];
  if (roll < 80)
    return [
      'Authorization',
      `Bearer ${Buffer.from('{"alg":"HS256"}').toString('base64url')}.${Buffer.from(`{"sub":"x","exp":${rng.int(2e9)}}`).toString('base64url')}.${rng.ascii(43)}`,
    ];
  if (roll < 85)
    return [
      'Authorization',
      `Bearer ${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"x"}').toString('base64url')}.`,
    ];
  if (roll < 90) return ['Authorization', rng.pick(['Basic Zm9vOmJhcg==', 'Bearer', 'Bearer  ', 'Digest x', rng.ascii(30)])];
  return ['X-API-Key', rng.ascii(rng.int(40) + 1)];
}

interface Draft {
  method: string;
  path: string;
  version: string;
  headers: Map<string, string>;
  payload: Buffer;
  chunked: boolean;
}

/**
 * A valid request (initialize, or a call in a known session) with 0 to 5 random mutations, so
 * that some requests get deep into the session layer and others fail at every earlier step.
 */
function draft(rng: Rng, victim: string, pool: string[]): Draft {
  const headers = new Map<string, string>([
    ['Host', '127.0.0.1'],
    ['Content-Type', 'application/json'],
    ['Accept', 'application/json, text/event-stream'],
  ]);
  const target = rng.int(100);
  let payload: unknown;
  if (target < 35) {
    payload = { ...INIT_BODY, id: rng.int(1000) };
  } else {
    headers.set('Mcp-Session-Id', target < 55 ? victim : rng.pick(pool));
    headers.set('MCP-Protocol-Version', '2025-11-25');
    payload = rng.pick([
      { jsonrpc: '2.0', id: rng.int(1e6), method: 'tools/list', params: {} },
      { jsonrpc: '2.0', id: rng.int(1e6), method: 'ping' },
      { jsonrpc: '2.0', id: rng.int(1e6), method: 'logging/setLevel', params: { level: rng.pick(['debug', 'error']) } },
      { jsonrpc: '2.0', method: 'notifications/initialized' },
      { jsonrpc: '2.0', id: rng.int(1e6), method: 'tools/call', params: { name: 'nope', arguments: {} } },
    ]);
  }
  const aimedAtVictim = headers.get('Mcp-Session-Id') === victim;
  if (!aimedAtVictim && rng.chance(0.3))
    headers.set(
      ...rng.pick<[string, string]>([
        ['Authorization', `Bearer ${KEY}`],
        ['X-API-Key', KEY],
      ]),
    );
  const d: Draft = {
    method: 'POST',
    path: '/mcp',
    version: 'HTTP/1.1',
    headers,
    payload: Buffer.from(JSON.stringify(payload)),
    chunked: false,
  };

  for (let m = rng.pick([0, 0, 1, 1, 1, 2, 2, 3, 5]); m > 0; m--) mutate(rng, d, victim, pool);
  // The victim's session is only ever aimed at with someone else's credentials: its owner's
  // requests may legitimately change it.
  if (d.headers.get('Mcp-Session-Id') === victim) {
    for (const name of ['Authorization', 'X-API-Key']) if (d.headers.get(name)?.includes(KEY)) d.headers.delete(name);
  }
  return d;
}

function mutate(rng: Rng, d: Draft, victim: string, pool: string[]): void {
  switch (rng.int(12)) {
    case 0:
      d.method = rng.pick(['GET', 'DELETE', 'PUT', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE', 'FOO', 'post', 'CONNECT']);
      if (d.method === 'GET' || d.method === 'HEAD') d.payload = Buffer.alloc(0);
      return;
    case 1:
      d.path = rng.pick([
        '/',
        '/mcp/',
        '/MCP',
        '/mcp?x=1',
        '/healthz',
        '/readyz',
        '/.well-known/oauth-protected-resource',
        '/.well-known/oauth-protected-resource/mcp',
        '/%00',
        '/mcp/../mcp',
        `/${'a'.repeat(rng.int(20_000))}`,
        '*',
      ]);
      return;
    case 2:
      d.version = rng.pick(['HTTP/1.0', 'HTTP/2.0', 'HTTP/9', 'HTTX/1.1']);
      return;
    case 3: {
      const names = [...d.headers.keys()];
      d.headers.delete(rng.pick(names));
      return;
    }
    case 4:
      d.headers.set(
        rng.pick(['Content-Type', 'Accept', 'Host', 'Origin', 'MCP-Protocol-Version']),
        rng.pick([
          'text/plain',
          'application/json; charset=utf-8',
          'APPLICATION/JSON',
          'application/jsonx',
          '*/*',
          'text/html',
          'text/event-stream',
          '',
          'evil.example',
          'https://evil.example',
          'null',
          '2099-01-01',
          '2025-06-18',
          '2024-11-05',
          'x',
        ]),
      );
      return;
    case 5: {
      const id = sessionId(rng, victim, pool);
      if (id === undefined) d.headers.delete('Mcp-Session-Id');
      else d.headers.set('Mcp-Session-Id', id);
      return;
    }
    case 6: {
      const auth = credential(rng, d.headers.get('Mcp-Session-Id') === victim);
      if (auth) d.headers.set(...auth);
      else d.headers.delete('Authorization');
      return;
    }
    case 7:
      for (let i = rng.int(3000); i > 0; i--) d.headers.set(`X-F${i}`, 'v');
      return;
    case 8:
      d.headers.set('X-Bytes', rng.bytes(rng.int(50) + 1, [10, 13]).toString('latin1'));
      return;
    case 9:
      d.chunked = !d.chunked;
      return;
    default:
      d.payload = body(rng);
  }
}

/** The raw bytes: `Connection: close`, and every body length is honest. */
function encode(d: Draft): Buffer {
  const headers = [...d.headers.entries()];
  const chunked = d.chunked && d.payload.length > 0;
  if (chunked) headers.push(['Transfer-Encoding', 'chunked']);
  else if (d.payload.length > 0 || d.method === 'POST') headers.push(['Content-Length', String(d.payload.length)]);
  headers.push(['Connection', 'close']);
  const head = `${d.method} ${d.path} ${d.version}\r\n${headers.map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`;
  const encoded = chunked
    ? Buffer.concat([Buffer.from(`${d.payload.length.toString(16)}\r\n`), d.payload, Buffer.from('\r\n0\r\n\r\n')])
    : d.payload;
  return Buffer.concat([Buffer.from(head, 'latin1'), encoded]);
}

interface Answer {
  status: string;
  sessionId?: string;
}

/**
 * Sends one request and reads the answer to its end: the length it declares, the last chunk, or
 * the server closing. (Event-stream answers say `Connection: keep-alive` whatever the client
 * asked, so waiting for the close alone would wait for the keep-alive timeout.)
 */
function exchange(port: number, raw: Buffer, method: string): Promise<Answer> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let received = Buffer.alloc(0);
    let settled = false;
    const parse = (): Answer | undefined => {
      const text = received.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return undefined;
      const head = text.slice(0, end + 2);
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 'malformed answer';
      const session = /\r\nmcp-session-id: ([^\r\n]+)/i.exec(head)?.[1];
      return { status, ...(session && { sessionId: session }) };
    };
    const complete = (): boolean => {
      const text = received.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return false;
      const head = text.slice(0, end);
      const body = received.length - end - 4;
      if (method === 'HEAD' || /^HTTP\/1\.[01] (1\d\d|204|304)/.test(head)) return true;
      // A session's standalone event stream (GET) stays open by design: its head is the answer.
      if (method === 'GET' && /\r\ncontent-type: text\/event-stream/i.test(head)) return true;
      const length = /\r\ncontent-length: (\d+)/i.exec(head);
      if (length) return body >= Number(length[1]);
      if (/\r\ntransfer-encoding: chunked/i.test(head)) return text.endsWith('\r\n0\r\n\r\n');
      return false;
    };
    const done = (answer: Answer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => done({ status: 'timeout' }), 20_000);
    socket.on('data', (d) => {
      received = Buffer.concat([received, d]);
      if (complete()) done(parse()!);
    });
    // The server may answer (and close) before reading everything; that is not our failure.
    socket.on('error', () => {});
    socket.on('close', () => done(parse() ?? { status: 'no answer' }));
    socket.write(raw);
  });
}

describe('fuzzing the Node server', () => {
  it('a seed replays: request i depends on the seed and i only, not on which requests were drawn before', () => {
    const pool = Array.from({ length: POOL_SIZE }, (_, i) => `pool-session-${i}`);
    const inOrder = Array.from({ length: 200 }, (_, i) => encode(requestAt(SEED, i, 'victim-session', pool)));
    const reversed = Array.from({ length: 200 }, (_, i) => encode(requestAt(SEED, 199 - i, 'victim-session', pool))).reverse();
    expect(reversed).toEqual(inOrder);
    // And another seed is another run.
    expect(Array.from({ length: 200 }, (_, i) => encode(requestAt(SEED + 1, i, 'victim-session', pool)))).not.toEqual(inOrder);
  });

  it(`survives ${REQUESTS} random and mutated requests (seed ${SEED}): no 5xx but 503, no crash, sessions intact`, async () => {
    const victim = new RawSession((r) => fetch(r), server.url, { authorization: `Bearer ${KEY}` });
    expect((await victim.initialize()).status).toBe(200);
    await victim.notify('notifications/initialized');
    await victim.request('logging/setLevel', { level: 'critical' });
    const rowBefore = await row(victim.id);

    // Sessions bound to no credential, and to the API key presented either way.
    const credentials: Record<string, string>[] = [{}, { authorization: `Bearer ${KEY}` }, { 'x-api-key': KEY }];
    const pool: string[] = [];
    for (let i = 0; i < POOL_SIZE; i++) {
      const session = new RawSession((r) => fetch(r), server.url, credentials[i % credentials.length]);
      expect((await session.initialize()).status).toBe(200);
      pool.push(session.id);
    }

    const histogram = new Map<string, number>();
    const samples = new Map<string, string>();
    let sent = 0;
    let created = 0;
    const started = performance.now();
    const worker = async () => {
      while (sent < REQUESTS) {
        const d = requestAt(SEED, sent++, victim.id, pool);
        const raw = encode(d);
        const answer = await exchange(server.port, raw, d.method);
        histogram.set(answer.status, (histogram.get(answer.status) ?? 0) + 1);
        if (!samples.has(answer.status)) samples.set(answer.status, raw.subarray(0, 300).toString('latin1'));
        if (answer.sessionId) created++;
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const seconds = (performance.now() - started) / 1000;

    const sorted = [...histogram.entries()].sort(([a], [b]) => a.localeCompare(b));
    console.log(
      `fuzz: seed ${SEED}, ${sent} requests in ${seconds.toFixed(1)} s (${(sent / seconds).toFixed(0)}/s, concurrency ${CONCURRENCY}), ${created} sessions created`,
    );
    console.log(`fuzz: status histogram ${sorted.map(([status, n]) => `${status}: ${n}`).join(', ')}`);

    if (samples.has('no answer'))
      console.log(`fuzz: a request answered by a closed connection: ${JSON.stringify(samples.get('no answer'))}`);
    const bad = sorted.filter(([status]) => status === 'timeout' || (/^5/.test(status) && status !== '503'));
    if (bad.length > 0)
      console.log(`fuzz: first request per bad status:\n${bad.map(([s]) => `${s}: ${JSON.stringify(samples.get(s))}`).join('\n')}`);
    expect(bad).toEqual([]);
    expect(sent).toBeGreaterThanOrEqual(10_000);
    expect(server.child.exitCode).toBeNull();
    expect(server.logs.join('')).not.toMatch(/"level":"error"/);

    // The victim's session: no foreign request changed it, and it still works.
    expect(await row(victim.id)).toEqual(rowBefore);
    expect((await victim.request('tools/list')).status).toBe(200);
    expect((await victim.request('ping')).messages[0]).toMatchObject({ result: {} });
    expect((await row(victim.id)).state).toEqual({ 'mcp.logging_level': 'critical' });
    expect((await fetch(`http://127.0.0.1:${server.port}/readyz`)).status).toBe(200);
  });
});

async function row(id: string) {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    const { rows } = await client.query(
      'select credential_hash, state, last_active_at, expires_at, client_capabilities from baton.sessions where id = $1',
      [id],
    );
    return rows[0];
  } finally {
    await client.end();
  }
}
