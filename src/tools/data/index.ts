// Toolset `data`: read a Postgres datasource. list_tables and describe_table say what it holds
// (with the semantic catalog's descriptions); query runs one read-only statement. Results name the
// tables they are about (ToolOutput.references), so the enrichment middleware can add their
// semantic context. The rules that keep `query` read-only are in ./guard.ts.
import { z } from 'zod';
import { Catalog, type TableComments } from './catalog/catalog.js';
import { parseCatalog } from './catalog/file.js';
import { formatDuration } from '../../config/duration.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { defineTool, defineToolset, text, type ToolOutput, type Toolset } from '../../core/define.js';
import type { BuiltInServices } from './datasource.js';
import { DatasourceUnavailableError, QUERY_CANCELED, StatementError, type Datasource } from './datasource.js';
import { formatRows } from './format.js';
import { isRefusal } from './guard.js';
import { hiddenKind, hiddenReason } from './hidden.js';
import {
  commentsStatement,
  describeStatement,
  listRelationsStatement,
  readJson,
  type DescribedRelation,
  type ListedRelation,
  type RelationComments,
} from './metadata.js';
import { runQuery, VolatileFunctions } from './query.js';
import { tokenize } from './sql/lexer.js';

const READ_ONLY = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false } as const;

export async function createDataToolset(services: BuiltInServices): Promise<Toolset> {
  const { config, logger } = services;
  const setup = await services.openDatasource(config, logger);
  // Opened on first use and kept; a failed opening (the demo could not be built) is tried again
  // by the next call.
  let opened: Promise<Datasource> | undefined;
  const datasource = (): Promise<Datasource> =>
    (opened ??= setup.datasource().then(
      (ds) => {
        logger.info('data toolset: datasource open', { driver: ds.driver });
        return ds;
      },
      (error: unknown) => {
        opened = undefined;
        throw error;
      },
    ));
  services.onClose(async () => {
    const ds = await opened?.catch(() => undefined);
    await ds?.close();
  });

  // A bad catalog file stops start-up here; the platform then runs the onClose above.
  const file = setup.catalogText === undefined ? undefined : parseCatalog(setup.catalogText, setup.catalogSource ?? 'catalog');
  const catalog = new Catalog((names) => readComments(datasource, names), file);
  services.context.register('table', catalog);

  const functions = new VolatileFunctions();
  const timeout = formatDuration(config.datasource.statement_timeout);
  const rowLimit = config.datasource.row_limit;

  /** Runs a tool body against the datasource; what goes wrong becomes an error result a model can read. */
  async function withDatasource(run: (ds: Datasource) => Promise<ToolOutput>): Promise<ToolOutput> {
    try {
      return await run(await datasource());
    } catch (error) {
      if (error instanceof DatasourceUnavailableError) return failure(error.message);
      if (error instanceof StatementError) {
        if (error.code === QUERY_CANCELED) {
          return failure(
            `The statement ran longer than the statement timeout (${timeout}, datasource.statement_timeout) and was stopped. Narrow it (WHERE, LIMIT) or aggregate less.`,
          );
        }
        if (error.code === '25006') return failure(`Refused: ${error.message}. Only read-only queries run here.`);
        return failure(`Postgres: ${error.message}${error.code ? ` (SQLSTATE ${error.code})` : ''}`);
      }
      // Anything else is the way to the datasource (refused connection, failed fetch, lost socket).
      logger.warn('datasource call failed', { error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
      return failure(`The datasource call failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  const listTables = defineTool({
    name: 'list_tables',
    title: 'List tables',
    description:
      'Lists the tables and views of the datasource by schema, with their descriptions and approximate row counts. Start here to see what data exists.',
    input: {},
    annotations: READ_ONLY,
    handler: () =>
      withDatasource(async (ds) => {
        const [result] = await ds.readOnly([listRelationsStatement()]);
        const relations = readJson<ListedRelation[]>(result);
        if (relations.length === 0) return text('The datasource has no tables or views this role can read.');
        const lines: string[] = [];
        let schema = '';
        for (const r of relations) {
          if (r.schema !== schema) {
            schema = r.schema;
            lines.push(`${lines.length ? '\n' : ''}${schema}:`);
          }
          const facts = [r.kind, r.estimated_rows === null ? '' : `~${r.estimated_rows} rows`].filter(Boolean).join(', ');
          const deprecated = catalog.entry(`${r.schema}.${r.name}`)?.deprecated;
          const description = r.description ?? catalog.entry(`${r.schema}.${r.name}`)?.description;
          lines.push(`  ${r.name} (${facts})${deprecated ? ` DEPRECATED: ${deprecated}` : ''}${description ? ` — ${description}` : ''}`);
        }
        lines.push('', "describe_table shows a table's columns and keys; query runs a read-only SELECT.");
        return text(lines.join('\n'));
      }),
  });

  const describeTable = defineTool({
    name: 'describe_table',
    title: 'Describe a table',
    description:
      'Describes one table or view: columns with types, nullability, defaults and descriptions; primary, unique and foreign keys; check constraints; tables that reference it.',
    input: {
      table: z.string().describe('The table or view, e.g. "public.orders" or "orders" (found on the search path, else in any schema).'),
    },
    annotations: READ_ONLY,
    handler: ({ table }) =>
      withDatasource(async (ds) => {
        const parts = parseTableName(table);
        if (!parts) return failure(`"${table}" is not a table name; expected e.g. "public.orders" or "orders".`);
        const [schema, name] = parts.length === 2 ? parts : [undefined, parts[0]!];
        const hidden = schema === undefined ? undefined : hiddenKind(schema);
        if (hidden) return failure(`Refused: ${schema}.${name}: ${hiddenReason(hidden)}.`);
        const [result] = await ds.readOnly([describeStatement(schema, name)]);
        const found = readJson<DescribedRelation[]>(result);
        if (found.length === 0) return failure(`No table or view named "${table}". list_tables shows what exists.`);
        if (found.length > 1) {
          return failure(`"${table}" is ambiguous: ${found.map((f) => `${f.schema}.${f.name}`).join(', ')}. Name the schema.`);
        }
        const relation = found[0]!;
        const qualified = `${relation.schema}.${relation.name}`;
        if (!relation.detail) return failure(`Refused: ${qualified}: ${hiddenReason(hiddenKind(relation.schema) ?? 'system')}.`);
        return { ...text(renderDescription(relation, catalog)), references: [{ kind: 'table', name: qualified }] };
      }),
  });

  const query = defineTool({
    name: 'query',
    title: 'Run a read-only SQL query',
    description:
      `Runs one read-only SQL statement (SELECT, WITH ... SELECT, VALUES, TABLE) on the datasource, in a READ ONLY transaction with a ${timeout} timeout, ` +
      `and returns at most ${rowLimit} rows as a table (it says when rows were cut). Writes, locks, volatile functions, several statements and the platform's own schema are refused.`,
    input: { sql: z.string().describe('One PostgreSQL query, e.g. "select status, count(*) from orders group by status".') },
    annotations: READ_ONLY,
    handler: ({ sql }) =>
      withDatasource(async (ds) => {
        const outcome = await runQuery(ds, functions, sql, rowLimit);
        if (isRefusal(outcome)) return failure(`Refused: ${outcome.refused}.`);
        return {
          ...text(formatRows(outcome.result, { rowLimit, moreRows: outcome.moreRows })),
          references: outcome.references.map((name) => ({ kind: 'table' as const, name })),
        };
      }),
  });

  return defineToolset({
    name: 'data',
    description: 'Read a Postgres datasource: list and describe tables, run read-only queries.',
    tools: [listTables, describeTable, query],
  });
}

function failure(message: string): CallToolResult {
  return { isError: true, content: [{ type: 'text', text: message }] };
}

/** `orders`, `public.orders`, `"Sales"."Orders"`, `db.public.orders` -> its last one or two parts. */
function parseTableName(input: string): string[] | undefined {
  let tokens;
  try {
    tokens = tokenize(input);
  } catch {
    return undefined;
  }
  const parts: string[] = [];
  for (const [i, token] of tokens.entries()) {
    const isNamePosition = i % 2 === 0;
    if (isNamePosition && (token.kind === 'word' || token.kind === 'quoted')) parts.push(token.value);
    else if (!isNamePosition && token.kind === 'punct' && token.value === '.') continue;
    else return undefined;
  }
  if (parts.length === 0 || parts.length > 3 || tokens.length % 2 === 0) return undefined;
  return parts.slice(-2);
}

async function readComments(datasource: () => Promise<Datasource>, names: string[]): Promise<Map<string, TableComments>> {
  const pairs = names.map((name): [string, string] => {
    const dot = name.indexOf('.');
    return [name.slice(0, dot), name.slice(dot + 1)];
  });
  const [result] = await (await datasource()).readOnly([commentsStatement(pairs)]);
  return new Map(readJson<RelationComments[]>(result).map((r) => [r.name, { description: r.description, columns: r.columns }]));
}

const CONSTRAINT_TITLES = { p: 'Primary key', u: 'Unique', f: 'Foreign keys', c: 'Checks' } as const;

function renderDescription(relation: DescribedRelation, catalog: Catalog): string {
  const detail = relation.detail!;
  const qualified = `${relation.schema}.${relation.name}`;
  const entry = catalog.entry(qualified);
  const lines = [
    `${qualified} (${[detail.kind, detail.estimated_rows === null ? '' : `~${detail.estimated_rows} rows`].filter(Boolean).join(', ')})`,
  ];
  const description = detail.description ?? entry?.description;
  if (description) lines.push(description);
  if (entry?.deprecated) lines.push(`DEPRECATED: ${entry.deprecated}`);

  const cell = (value: string) => value.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
  lines.push('', '| column | type | nullable | default | description |', '| --- | --- | --- | --- | --- |');
  for (const c of detail.columns) {
    const fallback = entry?.columns?.[c.name]?.description;
    const def = c.identity
      ? `identity (${c.identity === 'a' ? 'always' : 'by default'})`
      : c.generated
        ? `generated: ${c.default ?? ''}`
        : (c.default ?? '');
    lines.push(
      `| ${cell(c.name)} | ${cell(c.type)} | ${c.not_null ? 'no' : 'yes'} | ${cell(def)} | ${cell(c.description ?? fallback ?? '')} |`,
    );
  }

  for (const type of ['p', 'u', 'f', 'c'] as const) {
    const constraints = detail.constraints.filter((k) => k.type === type);
    if (constraints.length === 0) continue;
    const items = constraints.map((k) => {
      if (type === 'f') return `(${(k.columns ?? []).join(', ')}) -> ${k.references?.table} (${(k.references?.columns ?? []).join(', ')})`;
      if (type === 'c') return `${k.name}: ${k.definition}`;
      return `(${(k.columns ?? []).join(', ')})`;
    });
    lines.push('', `${CONSTRAINT_TITLES[type]}:`, ...items.map((item) => `  ${item}`));
  }
  if (detail.referenced_by.length > 0) {
    lines.push(
      '',
      'Referenced by:',
      ...detail.referenced_by.map((r) => `  ${r.table} (${r.columns.join(', ')}) -> (${r.references_columns.join(', ')})`),
    );
  }
  if (detail.reads?.length) lines.push('', `Reads: ${detail.reads.join(', ')}`);
  return lines.join('\n');
}
