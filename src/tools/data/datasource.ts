// The Postgres the data tools read: one interface over three drivers (pg on the Node server,
// neon-http on Workers and Vercel, PGlite for the embedded demo). It is not the session database,
// even when both point at the same server: its own connections, its own timeout, read-only only.
//
// Every call is one READ ONLY transaction with the statement timeout set inside it, the same on
// every driver because neon-http can only send a transaction as one batch: no statement can depend
// on the result of another in the same call. Values come back as Postgres's own text.
import type { Config } from '../../config/schema.js';
import type { ToolsetServices } from '../../core/define.js';
import type { Logger } from '../../log.js';

export type DatasourceDriver = 'pg' | 'neon-http' | 'pglite';

export interface Statement {
  text: string;
  /** Text parameters ($1, $2...); lists travel as JSON text. */
  params?: (string | null)[];
}

export interface ResultField {
  name: string;
  dataTypeID: number;
}

export interface RawResult {
  fields: ResultField[];
  /** Each value as Postgres's text output; null for NULL. */
  rows: (string | null)[][];
}

export interface Datasource {
  readonly driver: DatasourceDriver;
  readonly statementTimeoutMs: number;
  /**
   * Runs the statements in order in one READ ONLY transaction, each under the statement timeout,
   * through the extended query protocol (a text holding two statements fails). Nothing is kept:
   * the transaction ends with the call.
   */
  readOnly(statements: Statement[]): Promise<RawResult[]>;
  close(): Promise<void>;
}

/** What a runtime hands the data toolset: how to open the datasource, and the catalog file. */
export interface DataSetup {
  /**
   * Opens the datasource; the toolset calls it once, on its first use (the demo dataset costs
   * seconds of CPU and hundreds of MB, which a server whose clients never read data should not
   * pay). Rejects with DatasourceUnavailableError when this runtime has none to offer.
   */
  datasource(): Promise<Datasource>;
  /** Text of the catalog file named in `datasource.catalog` (or the demo's), if any. */
  catalogText: string | undefined;
  /** Where catalogText came from, for error messages. */
  catalogSource: string | undefined;
}

export type DatasourceOpener = (config: Config, logger: Logger) => Promise<DataSetup>;

/** What the built-in toolsets are given: the services of every toolset, and how to open the datasource. */
export interface BuiltInServices extends ToolsetServices {
  openDatasource: DatasourceOpener;
}

/** A runtime that has no datasource to offer (Workers without datasource.dsn, for instance). */
export class DatasourceUnavailableError extends Error {
  override name = 'DatasourceUnavailableError';
}

/** A statement Postgres refused or could not finish, with its SQLSTATE. */
export class StatementError extends Error {
  override name = 'StatementError';
  constructor(
    message: string,
    readonly code: string | undefined,
    /** 1-based character position in the statement, when Postgres gave one. */
    readonly position?: number,
  ) {
    super(message);
  }
}

export const QUERY_CANCELED = '57014';

/** Type parsers (pg and neon-http take the same shape) that keep every value as the text Postgres sent. */
export const RAW_TEXT = { getTypeParser: () => (value: string) => value };

/** The first statement of every transaction: the timeout, local to that transaction. */
export function timeoutStatement(ms: number): Statement {
  return { text: "select set_config('statement_timeout', $1, true)", params: [`${Math.max(1, Math.round(ms))}ms`] };
}

/** Any driver's error as a StatementError when it came from Postgres; others pass unchanged. */
export function toStatementError(error: unknown): unknown {
  if (error instanceof StatementError) return error;
  const e = error as { code?: unknown; message?: unknown; position?: unknown } | null;
  if (e && typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) {
    const position = Number(e.position);
    return new StatementError(String(e.message ?? e.code), e.code, Number.isFinite(position) && position > 0 ? position : undefined);
  }
  return error;
}

/**
 * The Node server's datasource: pg for a DSN, the embedded demo otherwise. Loaded on demand by a
 * specifier bundlers do not follow, so that Worker and Vercel bundles (whose entries pass their
 * own opener) never carry pg, PGlite or worker threads.
 */
export const openDefaultDatasource: DatasourceOpener = async (config, logger) => {
  const nodeOpener = './open-node.js';
  const { openNodeDatasource } = (await import(/* @vite-ignore */ nodeOpener)) as { openNodeDatasource: DatasourceOpener };
  return openNodeDatasource(config, logger);
};
