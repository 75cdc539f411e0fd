// Embedded Postgres (PGlite), file-backed: the Node server's database when none is configured.
import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { drizzle } from 'drizzle-orm/pglite';
import type { SQL } from 'drizzle-orm';
import { executeRows, sequentialTransaction, StatementCounter, type Database, type Drizzle } from '../database.js';
import { lockFolder, type FolderLock } from '../folder-lock.js';

export interface PgliteOptions {
  /** Directory for the data files; 'memory://' for a throwaway database. */
  dir: string;
}

export async function openPglite(options: PgliteOptions): Promise<Database> {
  let lock: FolderLock | undefined;
  if (!options.dir.startsWith('memory://')) {
    mkdirSync(options.dir, { recursive: true });
    // Before PGlite touches a file: a second process (the command line next to a running server)
    // would otherwise write to the same files, and what it wrote would be lost.
    lock = lockFolder(options.dir);
  }
  let client: PGlite;
  try {
    client = await PGlite.create(options.dir);
  } catch (error) {
    lock?.release();
    throw error;
  }
  const statements = new StatementCounter();
  const db = drizzle({ client, logger: statements }) as unknown as Drizzle;
  return {
    driver: 'pglite',
    db,
    statements,
    transaction: (list: SQL[]) => sequentialTransaction(db, list),
    query: (statement: SQL) => executeRows(db, statement),
    async close() {
      try {
        await client.close();
      } finally {
        lock?.release();
      }
    },
  };
}
