// The demo dataset's files, read at run time: the demo exists only on the Node server (PGlite),
// so nothing here has to survive a Worker bundle.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const DEMO_SQL_PATH = fileURLToPath(new URL('./shop.sql', import.meta.url));
export const DEMO_CATALOG_PATH = fileURLToPath(new URL('./catalog.yaml', import.meta.url));

export function demoSql(): string {
  return readFileSync(DEMO_SQL_PATH, 'utf8');
}

export function demoCatalog(): string {
  return readFileSync(DEMO_CATALOG_PATH, 'utf8');
}
