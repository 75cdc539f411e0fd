// Schemas the data tools never show or read. The platform's own (sessions, and drizzle's migration
// journal) stay invisible even when the datasource role could read them, because the datasource
// may well be the session database. System catalogs are hidden too: list_tables and
// describe_table already say what they hold, and some would show the platform's data indirectly
// (pg_stats holds sample values of every column the role can read).
import { PLATFORM_SCHEMA } from '../../store/db/schema.js';

/** The platform's schema and the one its migration journal lives in. */
export const PLATFORM_SCHEMAS: readonly string[] = [PLATFORM_SCHEMA, 'drizzle'];

export type HiddenKind = 'platform' | 'system';

export function hiddenKind(schema: string): HiddenKind | undefined {
  if (PLATFORM_SCHEMAS.includes(schema)) return 'platform';
  if (schema === 'information_schema' || schema.startsWith('pg_')) return 'system';
  return undefined;
}

/** Why a relation is out of reach, to follow "<relation>: " or "reads <relation>; ". */
export function hiddenReason(kind: HiddenKind): string {
  return kind === 'platform'
    ? 'it belongs to the platform (its sessions and migrations), which the data tools never read'
    : 'it is a system catalog, which the data tools do not read (list_tables and describe_table describe the datasource)';
}

/** SQL condition that holds for visible schemas, on a column holding the schema name. */
export function visibleSchemaSql(column: string): string {
  const names = [...PLATFORM_SCHEMAS, 'information_schema'].map((s) => `'${s.replace(/'/g, "''")}'`).join(', ');
  return `(${column} not in (${names}) and ${column} not like 'pg\\_%')`;
}
