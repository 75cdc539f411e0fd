// The catalog file: what a datasource's own comments cannot say about its tables (owners, tags,
// glossary terms, deprecation notes). YAML, validated here; every problem names its place.
//
//   glossary:
//     revenue: Sum of total_cents over paid and shipped orders.
//   tables:
//     public.orders:
//       description: used when the table has no COMMENT in the database
//       owner: sales-data
//       tags: [sales, core]
//       glossary: [revenue]          # terms defined above
//       deprecated: Use public.orders_v2.
//       columns:
//         total_cents: { description: ..., tags: [...], glossary: [...], deprecated: ... }
import { z } from 'zod';
import { ConfigError } from '../../../config/errors.js';
import { parseYaml } from '../../../config/yaml.js';

const text = z.string().trim().min(1, 'must not be empty');
const names = z.array(text, { error: 'expected a list, e.g. [sales, core]' });

const columnEntry = z.strictObject({
  description: text.optional(),
  tags: names.optional(),
  glossary: names.optional(),
  deprecated: text.optional(),
});

const tableEntry = z.strictObject({
  description: text.optional(),
  owner: text.optional(),
  tags: names.optional(),
  glossary: names.optional(),
  deprecated: text.optional(),
  columns: z.record(z.string(), columnEntry).optional(),
});

const catalogSchema = z.strictObject({
  glossary: z.record(z.string(), text).optional(),
  tables: z.record(z.string(), tableEntry).optional(),
});

export type CatalogColumn = z.infer<typeof columnEntry>;
export type CatalogTable = z.infer<typeof tableEntry>;

export interface CatalogFile {
  glossary: Map<string, string>;
  /** By `schema.table`. */
  tables: Map<string, CatalogTable>;
}

export const EMPTY_CATALOG: CatalogFile = { glossary: new Map(), tables: new Map() };

/**
 * Parses and checks a catalog file. Throws ConfigError (source: `datasource.catalog (<where>)`),
 * listing every problem with its place in the file.
 */
export function parseCatalog(text: string, where: string): CatalogFile {
  const source = `datasource.catalog (${where})`;
  let raw: unknown;
  try {
    raw = parseYaml(text, source);
  } catch (error) {
    if (error instanceof ConfigError) throw new ConfigError(source, error.issues);
    throw error;
  }
  const issues: { path: string; message: string }[] = [];
  const rawTables = (raw as { tables?: unknown } | null)?.tables;
  if (rawTables && typeof rawTables === 'object' && !Array.isArray(rawTables)) {
    for (const table of Object.keys(rawTables)) {
      if (!/^[^.]+\.[^.]+$/.test(table))
        issues.push({ path: `tables.${table}`, message: 'table names are schema-qualified, e.g. "public.orders"' });
    }
  }
  const result = catalogSchema.safeParse(raw);
  if (!result.success) {
    issues.push(
      ...result.error.issues.map((issue) => ({ path: issue.path.map(String).join('.') || '(top level)', message: issue.message })),
    );
    throw new ConfigError(source, issues);
  }
  const glossary = new Map(Object.entries(result.data.glossary ?? {}));
  const tables = new Map(Object.entries(result.data.tables ?? {}));
  for (const [table, entry] of tables) {
    for (const term of entry.glossary ?? []) {
      if (!glossary.has(term)) issues.push({ path: `tables.${table}.glossary`, message: `term "${term}" is not defined under glossary` });
    }
    for (const [column, columnEntry] of Object.entries(entry.columns ?? {})) {
      for (const term of columnEntry.glossary ?? []) {
        if (!glossary.has(term))
          issues.push({ path: `tables.${table}.columns.${column}.glossary`, message: `term "${term}" is not defined under glossary` });
      }
    }
  }
  if (issues.length > 0) throw new ConfigError(source, issues);
  return { glossary, tables };
}
