// What the enrichment middleware knows about the things tool results reference, and who tells it.
// A toolset that declares references of a kind registers a provider for that kind; the middleware
// knows nothing of tables, catalogs or datasources.

/** Where a result came from: what the enrichment middleware may add context about. */
export interface ResultReference {
  kind: 'table';
  /** Fully qualified name, e.g. `public.orders`. */
  name: string;
}

export interface ColumnContext {
  name: string;
  description?: string;
  tags?: string[];
  glossary?: string[];
  deprecated?: string;
}

/** Everything worth telling a model about one referenced thing (a table, for kind 'table'). */
export interface SemanticContext {
  /** The reference's name, e.g. `public.orders`. */
  name: string;
  description?: string;
  owner?: string;
  tags?: string[];
  /** Terms and their definitions. */
  glossary?: { term: string; definition: string }[];
  deprecated?: string;
  /** Only columns with something to say. */
  columns?: ColumnContext[];
}

export interface ContextProvider {
  /** Context for each name it knows and has something to say about; others are left out. */
  describe(names: string[]): Promise<Map<string, SemanticContext>>;
}

export class ContextProviders {
  readonly #byKind = new Map<ResultReference['kind'], ContextProvider>();

  register(kind: ResultReference['kind'], provider: ContextProvider): void {
    if (this.#byKind.has(kind)) throw new Error(`enrichment: a context provider for "${kind}" references is already registered`);
    this.#byKind.set(kind, provider);
  }

  get(kind: ResultReference['kind']): ContextProvider | undefined {
    return this.#byKind.get(kind);
  }
}
