// PGlite spoken to as a Postgres server: statements through the extended query protocol
// (Parse/Bind/Describe/Execute/Sync) with every value in text format, as it comes off the wire.
// The data toolset's demo dataset runs on it (src/tools/data/drivers/pglite-thread.ts), and so
// does the local Neon endpoint (src/dev/neon-endpoint/) when it has no Postgres server behind it.
import type { PGlite } from '@electric-sql/pglite';
import { importDriver } from './optional-driver.js';

export interface QueryData {
  query: string;
  params: (string | null)[];
  arrayMode: boolean | undefined;
}

/** A column as the driver reads it (`fields` of a result). */
export interface FieldDescription {
  name: string;
  dataTypeID: number;
  tableID: number;
  columnID: number;
  dataTypeSize: number;
  dataTypeModifier: number;
  format: 'text';
}

/** What a backend returns for one statement: text-format values, straight from the wire. */
export interface RawResult {
  fields: FieldDescription[];
  rows: (string | null)[][];
  /** The command tag's name (`SELECT`, `INSERT`, `CREATE`...), '' for an empty query. */
  command: string;
  rowCount: number | null;
}

/** Neon's parse_command_tag: `INSERT 0 5` → INSERT/5, `SELECT 3` → SELECT/3, `CREATE TABLE` → CREATE/null. */
export function parseCommandTag(tag: string | null | undefined): { command: string; rowCount: number | null } {
  if (!tag) return { command: '', rowCount: null };
  const space = tag.indexOf(' ');
  if (space < 0) return { command: tag, rowCount: null };
  const command = tag.slice(0, space);
  let rest = tag.slice(space + 1);
  if (command === 'INSERT') {
    const second = rest.indexOf(' ');
    if (second < 0) return { command, rowCount: null };
    rest = rest.slice(second + 1);
  }
  return { command, rowCount: /^\d+$/.test(rest) ? Number(rest) : null };
}

/** A column description as Neon sends it: every value travels as text. */
export function textField(f: Omit<FieldDescription, 'format'>): FieldDescription {
  return {
    name: f.name,
    dataTypeID: f.dataTypeID,
    tableID: f.tableID,
    columnID: f.columnID,
    dataTypeSize: f.dataTypeSize,
    dataTypeModifier: f.dataTypeModifier,
    format: 'text',
  };
}

function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

interface BackendMessageLike {
  name: string;
  fields?: unknown;
  text?: string;
}

/**
 * PGlite is one backend process serving one database: the database named in requests is ignored.
 * Statements go through `execProtocol` with hand-built extended-protocol messages (PGlite's own
 * `query()` parses values into JS types and reports fields without table/column/size details),
 * inside `runExclusive` so no other PGlite user interleaves with a batch.
 */
export class PgliteWire {
  readonly kind = 'pglite' as const;

  private constructor(
    private readonly db: PGlite,
    private readonly serialize: typeof import('@electric-sql/pglite').protocol.serialize,
  ) {}

  static async open(dataDir?: string): Promise<PgliteWire> {
    const { PGlite, protocol } = await importDriver('pglite', () => import('@electric-sql/pglite'));
    // PGlite creates only the last directory of the path.
    if (dataDir) (await import('node:fs')).mkdirSync(dataDir, { recursive: true });
    const db = dataDir ? await PGlite.create(dataDir) : await PGlite.create();
    return new PgliteWire(db, protocol.serialize);
  }

  private async exec(query: QueryData): Promise<RawResult> {
    const s = this.serialize;
    const message = concatBytes([
      s.parse({ text: query.query }),
      s.bind({ values: query.params }),
      s.describe({ type: 'P' }),
      s.execute({}),
      s.sync(),
    ]);
    const { messages } = await this.db.execProtocol(message, { throwOnError: false });
    const result: RawResult = { fields: [], rows: [], command: '', rowCount: null };
    for (const msg of messages as BackendMessageLike[]) {
      switch (msg.name) {
        case 'error':
          throw msg;
        case 'rowDescription':
          result.fields = (msg.fields as FieldDescription[]).map(textField);
          break;
        case 'dataRow':
          result.rows.push(msg.fields as (string | null)[]);
          break;
        case 'commandComplete':
          Object.assign(result, parseCommandTag(msg.text));
          break;
      }
    }
    return result;
  }

  query(_database: string, query: QueryData): Promise<RawResult> {
    return this.db.runExclusive(() => this.exec(query));
  }

  batch(_database: string, queries: QueryData[], begin: string): Promise<RawResult[]> {
    return this.db.runExclusive(async () => {
      await this.exec({ query: begin, params: [], arrayMode: undefined });
      try {
        const results: RawResult[] = [];
        for (const query of queries) results.push(await this.exec(query));
        await this.exec({ query: 'COMMIT', params: [], arrayMode: undefined });
        return results;
      } catch (error) {
        await this.exec({ query: 'ROLLBACK', params: [], arrayMode: undefined }).catch(() => {});
        throw error;
      }
    });
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
