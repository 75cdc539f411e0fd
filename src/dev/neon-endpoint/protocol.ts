// The wire format of Neon's SQL-over-HTTP endpoint (POST /sql), as spoken by the
// `@neondatabase/serverless` HTTP driver (`neon()`) and served by Neon's proxy
// (neondatabase/neon: proxy/src/serverless/sql_over_http.rs and json.rs).
//
// Request:
//   headers  Neon-Connection-String: postgresql://user[:password]@host/db[?...]   (required)
//            Neon-Raw-Text-Output: true   values as Postgres text output, not converted to JSON types
//            Neon-Array-Mode: true        rows as arrays instead of objects (default for each query)
//            Neon-Batch-Isolation-Level: Serializable | ReadUncommitted | ReadCommitted | RepeatableRead
//            Neon-Batch-Read-Only: true / Neon-Batch-Deferrable: true   (batches only)
//            Authorization: Bearer <jwt>  (when the driver has an authToken; ignored here)
//   body     {"query": "...", "params": [...], "arrayMode"?: bool}        one statement
//            {"queries": [{"query", "params", "arrayMode"?}, ...]}         one transaction
// Response (200):
//   {"rowAsArray", "fields": [{name, dataTypeID, tableID, columnID, dataTypeSize,
//    dataTypeModifier, format: "text"}], "rows", "command", "rowCount"}   or {"results": [...]}
// Errors: Postgres and request errors are 400 with a JSON body {message, code, detail, hint,
//   position, internalPosition, internalQuery, severity, where, table, column, schema, dataType,
//   constraint, file, line, routine}; the driver turns a 400 into a NeonDbError carrying those
//   fields, and any other status into NeonDbError("Server error (HTTP status N): <body text>").

// The result shapes are Postgres's own (extended protocol, text format): they live with the
// PGlite runner the production code uses too.
export { parseCommandTag, type FieldDescription, type QueryData, type RawResult } from '../../store/db/pglite-wire.js';
import type { QueryData, RawResult } from '../../store/db/pglite-wire.js';

export const HEADER = {
  connectionString: 'neon-connection-string',
  rawTextOutput: 'neon-raw-text-output',
  arrayMode: 'neon-array-mode',
  isolationLevel: 'neon-batch-isolation-level',
  readOnly: 'neon-batch-read-only',
  deferrable: 'neon-batch-deferrable',
} as const;

/** Header names as Neon writes them (echoed on batch responses, listed for CORS). */
export const HEADER_DISPLAY = {
  isolationLevel: 'Neon-Batch-Isolation-Level',
  readOnly: 'Neon-Batch-Read-Only',
  deferrable: 'Neon-Batch-Deferrable',
} as const;

export const CORS_ALLOW_HEADERS = [
  'Authorization',
  'Content-Type',
  'Neon-Connection-String',
  'Neon-Raw-Text-Output',
  'Neon-Array-Mode',
  'Neon-Batch-Isolation-Level',
  'Neon-Batch-Read-Only',
  'Neon-Batch-Deferrable',
  'Neon-Pool-Opt-In',
].join(', ');

export type IsolationLevel = 'Serializable' | 'ReadUncommitted' | 'ReadCommitted' | 'RepeatableRead';

const ISOLATION_SQL: Record<IsolationLevel, string> = {
  Serializable: 'SERIALIZABLE',
  ReadUncommitted: 'READ UNCOMMITTED',
  ReadCommitted: 'READ COMMITTED',
  RepeatableRead: 'REPEATABLE READ',
};

/** A request the endpoint refuses before reaching Postgres: answered with `status` and `{message}`. */
export class RequestError extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = 'RequestError';
  }
}

export interface RequestOptions {
  rawTextOutput: boolean;
  defaultArrayMode: boolean;
  isolationLevel: IsolationLevel | undefined;
  readOnly: boolean;
  deferrable: boolean;
}

type HeaderBag = Record<string, string | string[] | undefined>;

function header(headers: HeaderBag, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Like Neon: anything that is not exactly "true" is false; an unknown isolation level is a 400. */
export function parseRequestOptions(headers: HeaderBag): RequestOptions {
  const level = header(headers, HEADER.isolationLevel);
  if (level !== undefined && !(level in ISOLATION_SQL)) throw new RequestError('invalid isolation level');
  return {
    rawTextOutput: header(headers, HEADER.rawTextOutput) === 'true',
    defaultArrayMode: header(headers, HEADER.arrayMode) === 'true',
    isolationLevel: level as IsolationLevel | undefined,
    readOnly: header(headers, HEADER.readOnly) === 'true',
    deferrable: header(headers, HEADER.deferrable) === 'true',
  };
}

/** The statement that opens a batch's transaction, e.g. `BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY`. */
export function beginStatement(options: RequestOptions): string {
  let sql = 'BEGIN';
  if (options.isolationLevel) sql += ` ISOLATION LEVEL ${ISOLATION_SQL[options.isolationLevel]}`;
  if (options.readOnly) sql += ' READ ONLY';
  if (options.deferrable) sql += ' DEFERRABLE';
  return sql;
}

/**
 * The database named by the Neon-Connection-String header (the URL's path). The rest of the URL
 * (user, password, host) is validated the way Neon does but otherwise ignored: the endpoint always
 * talks to the server it was started with.
 */
export function databaseFromHeaders(headers: HeaderBag): string {
  const raw = header(headers, HEADER.connectionString);
  if (raw === undefined) throw new RequestError('invalid header: neon-connection-string');
  let url: URL;
  try {
    url = new URL(raw);
  } catch (error) {
    throw new RequestError(`invalid connection string: ${(error as Error).message}`);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') throw new RequestError('incorrect scheme');
  let database: string;
  try {
    database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  } catch {
    throw new RequestError('invalid database name');
  }
  if (!database) throw new RequestError('missing database name');
  if (!url.username) throw new RequestError('missing username');
  if (!url.hostname) throw new RequestError('missing hostname');
  return database;
}

export type Payload = { kind: 'single'; query: QueryData } | { kind: 'batch'; queries: QueryData[] };

function parseQueryData(value: unknown, where: string): QueryData {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RequestError(`could not parse the HTTP request body: ${where} must be an object`);
  }
  const record = value as Record<string, unknown>;
  if (typeof record.query !== 'string') {
    throw new RequestError(`could not parse the HTTP request body: ${where}.query must be a string`);
  }
  const params = record.params ?? [];
  if (!Array.isArray(params)) {
    throw new RequestError(`could not parse the HTTP request body: ${where}.params must be an array`);
  }
  const arrayMode = record.arrayMode ?? undefined;
  if (arrayMode !== undefined && typeof arrayMode !== 'boolean') {
    throw new RequestError(`could not parse the HTTP request body: ${where}.arrayMode must be a boolean`);
  }
  return { query: record.query, params: params.map(jsonValueToPgText), arrayMode };
}

/** `{query, params}` for one statement, `{queries: [...]}` for a batch (Neon tries them in that order). */
export function parsePayload(body: string): Payload {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (error) {
    throw new RequestError(`could not parse the HTTP request body: ${(error as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new RequestError('could not parse the HTTP request body: expected a JSON object');
  }
  const record = json as Record<string, unknown>;
  if ('query' in record) return { kind: 'single', query: parseQueryData(record, 'body') };
  if (Array.isArray(record.queries)) {
    return { kind: 'batch', queries: record.queries.map((q, i) => parseQueryData(q, `queries[${i}]`)) };
  }
  throw new RequestError('could not parse the HTTP request body: expected {"query", "params"} or {"queries": [...]}');
}

// Parameters arrive as JSON values; Postgres gets text. Same conversion as Neon's json_to_pg_text:
// strings as they are, null as NULL, booleans/numbers/objects as their JSON text, arrays as a
// Postgres array literal whose elements are JSON-encoded. (The driver itself only ever sends strings
// and nulls: it runs each value through pg's prepareValue first.)
export function jsonValueToPgText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return jsonArrayToPgArray(value);
  return JSON.stringify(value);
}

function jsonArrayToPgArray(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (Array.isArray(value)) {
    return `{${value.map((item) => jsonArrayToPgArray(item) ?? 'NULL').join(',')}}`;
  }
  if (typeof value === 'object') return jsonArrayToPgArray(JSON.stringify(value));
  return JSON.stringify(value);
}

/** How the non-raw output converts a column: scalar type oid, or an array of an element type oid. */
export type TypeShape = { array: false; oid: number } | { array: true; elementOid: number };

export function shapeResult(
  result: RawResult,
  arrayMode: boolean,
  rawTextOutput: boolean,
  shapes?: Map<number, TypeShape>,
): Record<string, unknown> {
  const convert = rawTextOutput
    ? null
    : result.fields.map((field) => {
        const shape = shapes?.get(field.dataTypeID) ?? { array: false, oid: field.dataTypeID };
        return (text: string): unknown => (shape.array ? parsePgArray(text, shape.elementOid) : pgTextToJson(text, shape.oid));
      });
  const values = (row: (string | null)[]): unknown[] =>
    convert ? row.map((value, i) => (value === null ? null : convert[i]!(value))) : row;
  const rows = arrayMode
    ? result.rows.map(values)
    : result.rows.map((row) => {
        const out: Record<string, unknown> = {};
        values(row).forEach((value, i) => {
          out[result.fields[i]!.name] = value;
        });
        return out;
      });
  return {
    fields: result.fields,
    command: result.command,
    rowCount: result.rowCount,
    rows,
    rowAsArray: arrayMode,
  };
}

// ---- non-raw output (Neon-Raw-Text-Output absent): Neon's pg_text_to_json -------------------------

const OID = { bool: 16, int2: 21, int4: 23, float4: 700, float8: 701, json: 114, jsonb: 3802 } as const;

/** Built-in array types → element type (pg_type.typelem); other oids are looked up in the database. */
export const BUILTIN_ARRAY_ELEMENTS: ReadonlyMap<number, number> = new Map([
  [1000, 16],
  [1001, 17],
  [1002, 18],
  [1003, 19],
  [1016, 20],
  [1005, 21],
  [1006, 22],
  [1007, 23],
  [1008, 24],
  [1009, 25],
  [1028, 26],
  [1010, 27],
  [1011, 28],
  [1012, 29],
  [199, 114],
  [143, 142],
  [1017, 600],
  [1018, 601],
  [1019, 602],
  [1020, 603],
  [1027, 604],
  [629, 628],
  [1021, 700],
  [1022, 701],
  [719, 718],
  [775, 774],
  [791, 790],
  [1040, 829],
  [1041, 869],
  [651, 650],
  [1034, 1033],
  [1014, 1042],
  [1015, 1043],
  [1182, 1082],
  [1183, 1083],
  [1115, 1114],
  [1185, 1184],
  [1187, 1186],
  [1270, 1266],
  [1561, 1560],
  [1563, 1562],
  [1231, 1700],
  [2201, 1790],
  [2951, 2950],
  [3807, 3802],
  [4073, 4072],
  [3643, 3614],
  [3645, 3615],
  [3905, 3904],
  [3907, 3906],
  [3909, 3908],
  [3911, 3910],
  [3913, 3912],
  [3927, 3926],
  [1263, 2275],
  [2949, 2970],
  [3221, 3220],
  [4192, 4191],
  [1013, 30],
  [2211, 2206],
]);

/** Scalar oids below FirstNormalObjectId that are known not to be arrays need no lookup. */
export function isKnownScalar(oid: number): boolean {
  return oid < 16384 && !BUILTIN_ARRAY_ELEMENTS.has(oid) && oid !== 2277;
}

export function pgTextToJson(text: string, oid: number): unknown {
  switch (oid) {
    case OID.bool:
      return text === 't';
    case OID.int2:
    case OID.int4:
      return Number.parseInt(text, 10);
    case OID.float4:
    case OID.float8: {
      const value = Number(text);
      // NaN and ±Infinity stay strings, as JSON cannot carry them.
      return Number.isFinite(value) ? value : text;
    }
    case OID.json:
    case OID.jsonb:
      return JSON.parse(text);
    default:
      return text;
  }
}

/** Postgres array text output → nested JSON arrays, elements converted by the element type. */
export function parsePgArray(text: string, elementOid: number, delimiter = ','): unknown[] {
  let input = text;
  if (input.startsWith('[')) {
    // Bounds decoration such as `[0:1]={a,b}`: JSON has no way to carry it.
    const eq = input.indexOf('=');
    if (eq < 0) throw new Error('unbalanced array');
    input = input.slice(eq + 1);
  }
  let pos = 0;
  const skipSpace = () => {
    while (pos < input.length && /\s/.test(input[pos]!)) pos++;
  };
  const parseArray = (): unknown[] => {
    skipSpace();
    if (input[pos] !== '{') throw new Error('unbalanced array');
    pos++;
    const out: unknown[] = [];
    skipSpace();
    if (input[pos] === '}') {
      pos++;
      return out;
    }
    for (;;) {
      skipSpace();
      if (input[pos] === '{') {
        out.push(parseArray());
      } else if (input[pos] === '"') {
        pos++;
        let value = '';
        for (;;) {
          if (pos >= input.length) throw new Error('unbalanced quoted string');
          const ch = input[pos++]!;
          if (ch === '"') break;
          if (ch === '\\') {
            if (pos >= input.length) throw new Error('unbalanced quoted string');
            value += input[pos++]!;
          } else value += ch;
        }
        out.push(pgTextToJson(value, elementOid));
      } else {
        let end = pos;
        while (end < input.length && input[end] !== delimiter && input[end] !== '}') end++;
        if (end >= input.length) throw new Error('unbalanced array');
        const item = input.slice(pos, end).trimEnd();
        pos = end;
        out.push(item === 'NULL' ? null : pgTextToJson(item, elementOid));
      }
      skipSpace();
      if (input[pos] === delimiter) {
        pos++;
        continue;
      }
      if (input[pos] === '}') {
        pos++;
        return out;
      }
      throw new Error('unbalanced array');
    }
  };
  const result = parseArray();
  skipSpace();
  if (pos !== input.length) throw new Error('unbalanced array');
  return result;
}

// ---- errors ---------------------------------------------------------------------------------------

/** The fields of a Postgres ErrorResponse, as pg's and PGlite's DatabaseError carry them. */
export const DB_ERROR_FIELDS = [
  'code',
  'detail',
  'hint',
  'position',
  'internalPosition',
  'internalQuery',
  'severity',
  'where',
  'table',
  'column',
  'schema',
  'dataType',
  'constraint',
  'file',
  'line',
  'routine',
] as const;

export interface DbErrorLike {
  message: string;
  code: string;
  severity?: string;
  [field: string]: unknown;
}

/** A Postgres error (has a five-character SQLSTATE and a severity), as opposed to a network failure. */
export function isDbError(error: unknown): error is DbErrorLike {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as Record<string, unknown>;
  return typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) && typeof e.severity === 'string';
}

/** The 400 body Neon sends for a Postgres error: every field present, absent ones as null. */
export function dbErrorBody(error: DbErrorLike): Record<string, unknown> {
  const body: Record<string, unknown> = { message: error.message };
  for (const field of DB_ERROR_FIELDS) {
    const value = error[field];
    body[field] = value === undefined || value === null || value === '' ? null : String(value);
  }
  return body;
}
