// pg and PGlite are optional peer dependencies of the package: a project installs the drivers its
// configuration uses (a Worker needs neither). They are imported only when that configuration is
// opened, so a missing one stops that use, saying what to install, and never an import of mcp-baton.
import type { DriverName } from './database.js';

/** The package each optional driver comes from. */
const PACKAGES = { pg: 'pg', pglite: '@electric-sql/pglite' } as const satisfies Partial<Record<DriverName, string>>;

/**
 * Runs `load`, an import that reaches the driver's package; when that package is not installed,
 * throws an error that names it instead of the module loader's "Cannot find package".
 */
export async function importDriver<T>(driver: keyof typeof PACKAGES, load: () => Promise<T>): Promise<T> {
  const pkg = PACKAGES[driver];
  try {
    return await load();
  } catch (error) {
    const e = error as { code?: unknown; message?: unknown } | null;
    // Node's message names the package it looked for: "Cannot find package 'pg' imported from ...".
    if (e?.code !== 'ERR_MODULE_NOT_FOUND' || !String(e.message).includes(`'${pkg}'`)) throw error;
    throw new Error(`install ${pkg} to use the ${driver} driver (npm install ${pkg})`, { cause: error });
  }
}
