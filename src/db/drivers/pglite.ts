// Embedded Postgres (PGlite), file-backed: the Node server's database when none is configured.
import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { drizzle } from 'drizzle-orm/pglite';
import type { SQL } from 'drizzle-orm';
import { executeRows, sequentialTransaction, StatementCounter, type Database, type Drizzle } from '../database.js';

export interface PgliteOptions {
  /** Directory for the data files; 'memory://' for a throwaway database. */
  dir: string;
}

export async function openPglite(options: PgliteOptions): Promise<Database> {
  if (!options.dir.startsWith('memory://')) mkdirSync(options.dir, { recursive: true });
  const client = await PGlite.create(options.dir);
  const statements = new StatementCounter();
  const db = drizzle({ client, logger: statements }) as unknown as Drizzle;
  return {
    driver: 'pglite',
    db,
    statements,
    transaction: (list: SQL[]) => sequentialTransaction(db, list),
    query: (statement: SQL) => executeRows(db, statement),
    close: () => client.close(),
  };
}
