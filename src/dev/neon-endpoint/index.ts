// A local stand-in for Neon's SQL-over-HTTP endpoint, for development and tests: the
// `@neondatabase/serverless` HTTP driver (`neon()`) talks to it exactly as it talks to Neon, and it
// runs the statements on a real Postgres (through pg) or on an embedded PGlite.
//
// Client setup (the driver's settings are global to the process):
//
//   import { neon, neonConfig } from '@neondatabase/serverless';
//   const endpoint = await startNeonEndpoint({ postgresUrl: 'postgres://postgres@127.0.0.1:5432/postgres' });
//   neonConfig.fetchEndpoint = endpoint.fetchEndpoint;   // 'http://127.0.0.1:<port>/sql'
//   const sql = neon(endpoint.connectionString('mydb'));  // the path picks the database
//
// `neonConfig.fetchEndpoint` is `string | ((host, port, {jwtAuth}) => string)`: a string is used
// as-is (protocol included, so plain http works); a function gets the connection string's host and
// port. No other neonConfig setting is involved in HTTP queries (the WebSocket ones are not used).
//
// No authentication: the password in the connection string and any Authorization header are
// ignored. Set DEBUG_NEON_ENDPOINT=1 to log each request to stderr.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PgBackend, PgliteWire, type Backend } from './backends.js';
import {
  CORS_ALLOW_HEADERS,
  HEADER_DISPLAY,
  RequestError,
  BUILTIN_ARRAY_ELEMENTS,
  beginStatement,
  databaseFromHeaders,
  dbErrorBody,
  isDbError,
  isKnownScalar,
  parsePayload,
  parseRequestOptions,
  shapeResult,
  type Payload,
  type QueryData,
  type RawResult,
  type RequestOptions,
  type TypeShape,
} from './protocol.js';

export interface NeonEndpointOptions {
  /** A Postgres server to run queries on; the request's connection string picks the database. */
  postgresUrl?: string;
  /** Without postgresUrl: PGlite's data directory (in memory when absent). */
  pgliteDir?: string;
  /** 0 or absent: any free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Largest accepted request body (Neon's default is 10 MiB). */
  maxRequestBytes?: number;
}

export interface NeonEndpoint {
  /** `http://host:port` */
  url: string;
  port: number;
  /** The value for `neonConfig.fetchEndpoint`: `http://host:port/sql`. */
  fetchEndpoint: string;
  /**
   * A connection string for `neon()`: database `dbName` (default: the postgresUrl's database, or
   * `postgres`), host and port of this endpoint, user from postgresUrl. Only the database matters
   * to the endpoint; the host/port make a function-valued fetchEndpoint work too.
   */
  connectionString(dbName?: string): string;
  close(): Promise<void>;
}

const debugEnabled = () => Boolean(process.env.DEBUG_NEON_ENDPOINT);
function debug(...args: unknown[]) {
  if (debugEnabled()) console.error('[neon-endpoint]', ...args);
}

class PayloadTooLarge extends RequestError {}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        reject(new PayloadTooLarge(`request is too large (max is ${limit} bytes)`, 413));
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!done) resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', (error) => {
      if (!done) reject(new RequestError(`could not read the HTTP request body: ${error.message}`));
    });
  });
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    'Access-Control-Allow-Origin': '*',
    ...headers,
  });
  res.end(text);
}

/** Output conversion needs array element types only without Neon-Raw-Text-Output; cached per database. */
class TypeShapes {
  private readonly cache = new Map<string, Map<number, TypeShape>>();
  constructor(private readonly backend: Backend) {}

  async resolve(database: string, results: RawResult[]): Promise<Map<number, TypeShape>> {
    const known = this.cache.get(database) ?? new Map<number, TypeShape>();
    this.cache.set(database, known);
    const shapes = new Map<number, TypeShape>();
    const unknown = new Set<number>();
    for (const result of results) {
      for (const { dataTypeID: oid } of result.fields) {
        const element = BUILTIN_ARRAY_ELEMENTS.get(oid);
        if (element !== undefined) shapes.set(oid, { array: true, elementOid: element });
        else if (isKnownScalar(oid)) shapes.set(oid, { array: false, oid });
        else if (known.has(oid)) shapes.set(oid, known.get(oid)!);
        else unknown.add(oid);
      }
    }
    if (unknown.size > 0) {
      const lookup: QueryData = {
        query: 'SELECT oid::int8::text, typelem::int8::text, typcategory::text FROM pg_type WHERE oid = ANY($1::oid[])',
        params: [`{${[...unknown].join(',')}}`],
        arrayMode: true,
      };
      const { rows } = await this.backend.query(database, lookup);
      for (const oid of unknown) known.set(oid, { array: false, oid });
      for (const [oid, elem, category] of rows) {
        if (category === 'A' && Number(elem) !== 0) {
          known.set(Number(oid), { array: true, elementOid: Number(elem) });
        }
      }
      for (const oid of unknown) shapes.set(oid, known.get(oid)!);
    }
    return shapes;
  }
}

export async function startNeonEndpoint(options: NeonEndpointOptions = {}): Promise<NeonEndpoint> {
  const host = options.host ?? '127.0.0.1';
  const maxRequestBytes = options.maxRequestBytes ?? 10 * 1024 * 1024;
  const backend: Backend = options.postgresUrl
    ? new PgBackend(options.postgresUrl, {
        onIdleError: (error, database) => debug(`idle connection to ${database} failed: ${error.message}`),
      })
    : await PgliteWire.open(options.pgliteDir);
  const typeShapes = new TypeShapes(backend);

  async function handleSql(req: IncomingMessage, res: ServerResponse) {
    const started = Date.now();
    let requestOptions: RequestOptions;
    let database: string;
    let payload: Payload;
    try {
      requestOptions = parseRequestOptions(req.headers);
      database = databaseFromHeaders(req.headers);
      payload = parsePayload(await readBody(req, maxRequestBytes));
    } catch (error) {
      if (error instanceof RequestError) return send(res, error.status, { message: error.message });
      throw error;
    }

    try {
      const { rawTextOutput, defaultArrayMode } = requestOptions;
      if (payload.kind === 'single') {
        const result = await backend.query(database, payload.query);
        const shapes = rawTextOutput ? undefined : await typeShapes.resolve(database, [result]);
        debug(`${database}: ${oneLine(payload.query.query)} -> ${result.command} ${result.rowCount ?? ''} (${Date.now() - started} ms)`);
        return send(res, 200, shapeResult(result, payload.query.arrayMode ?? defaultArrayMode, rawTextOutput, shapes));
      }
      const begin = beginStatement(requestOptions);
      const results = await backend.batch(database, payload.queries, begin);
      const shapes = rawTextOutput ? undefined : await typeShapes.resolve(database, results);
      debug(`${database}: batch of ${results.length} [${begin}] (${Date.now() - started} ms)`);
      const headers: Record<string, string> = {};
      if (requestOptions.readOnly) headers[HEADER_DISPLAY.readOnly] = 'true';
      if (requestOptions.deferrable) headers[HEADER_DISPLAY.deferrable] = 'true';
      if (requestOptions.isolationLevel) headers[HEADER_DISPLAY.isolationLevel] = requestOptions.isolationLevel;
      return send(
        res,
        200,
        {
          results: results.map((result, i) =>
            shapeResult(result, payload.queries[i]!.arrayMode ?? defaultArrayMode, rawTextOutput, shapes),
          ),
        },
        headers,
      );
    } catch (error) {
      if (isDbError(error)) {
        debug(`${database}: error ${error.code}: ${error.message} (${Date.now() - started} ms)`);
        return send(res, 400, dbErrorBody(error));
      }
      // Not a Postgres error (server unreachable, connection lost...): Neon answers 500.
      const message = error instanceof Error ? error.message : String(error);
      debug(`${database}: failure: ${message}`);
      return send(res, 500, { message });
    }
  }

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'OPTIONS') {
      res.writeHead(200, {
        'Access-Control-Allow-Origin': '*',
        'Access-Control-Allow-Methods': 'POST, OPTIONS',
        'Access-Control-Allow-Headers': CORS_ALLOW_HEADERS,
        'Access-Control-Max-Age': '86400',
      });
      return res.end();
    }
    if (path !== '/sql') return send(res, 404, { message: `not found: ${path}; queries go to POST /sql` });
    if (req.method !== 'POST') return send(res, 405, { message: 'method not allowed: use POST' }, { Allow: 'POST, OPTIONS' });
    handleSql(req, res).catch((error: unknown) => {
      send(res, 500, { message: error instanceof Error ? error.message : String(error) });
    });
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await backend.close().catch(() => {});
    throw error;
  }

  const port = (server.address() as AddressInfo).port;
  const hostInUrl = host.includes(':') ? `[${host}]` : host;
  const url = `http://${hostInUrl}:${port}`;
  const defaultDatabase = options.postgresUrl
    ? decodeURIComponent(new URL(options.postgresUrl).pathname.replace(/^\//, '')) || 'postgres'
    : 'postgres';
  const user = (options.postgresUrl && new URL(options.postgresUrl).username) || 'postgres';

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    fetchEndpoint: `${url}/sql`,
    connectionString(dbName = defaultDatabase) {
      return `postgresql://${user}@${hostInUrl}:${port}/${encodeURIComponent(dbName)}`;
    },
    close() {
      closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          // fetch keeps connections alive; without this close() would wait for them to time out.
          server.closeAllConnections();
        });
        await backend.close();
      })();
      return closing;
    },
  };
}

function oneLine(sql: string): string {
  const line = sql.replace(/\s+/g, ' ').trim();
  return line.length > 120 ? `${line.slice(0, 117)}...` : line;
}
