// The semantic catalog of a datasource: descriptions from its own COMMENT ON TABLE/COLUMN, plus
// what the catalog file adds (owner, tags, glossary terms, deprecation notes). The database's
// comment wins over the file's description. Answers are kept for a short while per process, so
// that a burst of results referencing the same tables costs one catalog query.
import type { ContextProvider, ColumnContext, SemanticContext } from '../../../core/enrichment/context.js';
import { EMPTY_CATALOG, type CatalogFile, type CatalogTable } from './file.js';

export interface TableComments {
  description: string | null;
  columns: { name: string; description: string | null }[];
}

/** Comments of the named tables (`schema.table`) that exist and may be shown. */
export type CommentReader = (names: string[]) => Promise<Map<string, TableComments>>;

const CACHE_MS = 60_000;

export class Catalog implements ContextProvider {
  readonly #cache = new Map<string, { at: number; context: SemanticContext | undefined }>();

  constructor(
    private readonly readComments: CommentReader,
    readonly file: CatalogFile = EMPTY_CATALOG,
    private readonly now: () => number = Date.now,
  ) {}

  /** The file's entry for a table, if any. */
  entry(name: string): CatalogTable | undefined {
    return this.file.tables.get(name);
  }

  async describe(names: string[]): Promise<Map<string, SemanticContext>> {
    const at = this.now();
    const missing = names.filter((name) => {
      const cached = this.#cache.get(name);
      return !cached || at - cached.at >= CACHE_MS;
    });
    if (missing.length > 0) {
      const comments = await this.readComments(missing);
      for (const name of missing) this.#cache.set(name, { at, context: this.merge(name, comments.get(name)) });
    }
    const out = new Map<string, SemanticContext>();
    for (const name of names) {
      const context = this.#cache.get(name)?.context;
      if (context) out.set(name, context);
    }
    return out;
  }

  /** The context of a table that exists; undefined when neither source says anything about it. */
  merge(name: string, comments: TableComments | undefined): SemanticContext | undefined {
    if (!comments) return undefined;
    const entry = this.file.tables.get(name);
    const columns: ColumnContext[] = [];
    for (const column of comments.columns) {
      const extra = entry?.columns?.[column.name];
      const merged: ColumnContext = { name: column.name };
      const description = column.description ?? extra?.description;
      if (description) merged.description = description;
      if (extra?.tags?.length) merged.tags = extra.tags;
      if (extra?.glossary?.length) merged.glossary = extra.glossary;
      if (extra?.deprecated) merged.deprecated = extra.deprecated;
      if (Object.keys(merged).length > 1) columns.push(merged);
    }
    const terms = new Set([...(entry?.glossary ?? []), ...columns.flatMap((c) => c.glossary ?? [])]);
    const context: SemanticContext = { name };
    const description = comments.description ?? entry?.description;
    if (description) context.description = description;
    if (entry?.owner) context.owner = entry.owner;
    if (entry?.tags?.length) context.tags = entry.tags;
    if (terms.size > 0) context.glossary = [...terms].map((term) => ({ term, definition: this.file.glossary.get(term) ?? '' }));
    if (entry?.deprecated) context.deprecated = entry.deprecated;
    if (columns.length > 0) context.columns = columns;
    return Object.keys(context).length > 1 ? context : undefined;
  }
}
