/** `database`: where the session store keeps its tables, and how it reaches them. */
import { z } from 'zod';
import { boolean, duration, MAX_TIMER_MS, nonEmptyText, postgresUrl } from '../values.js';

export const DATABASE_DRIVERS = ['auto', 'pg', 'neon-http', 'pglite'] as const;
export type DatabaseDriver = (typeof DATABASE_DRIVERS)[number];

/** database.pooler: whether the URL goes through a pooler in transaction mode (`auto`: find out). */
export const POOLER_MODES = ['auto', 'transaction', 'none'] as const;
export type PoolerMode = (typeof POOLER_MODES)[number];

export const databaseSection = z.strictObject({
  dsn: postgresUrl().default(''),
  /**
   * pg: a URL that reaches Postgres without a pooler, for what needs a connection of its own (the
   * channel's LISTEN, migrations) when `dsn` goes through one. Empty: `dsn` serves everything.
   */
  direct_dsn: postgresUrl().default(''),
  /** pg: whether `dsn` goes through a pooler in transaction mode; auto finds out on first use. */
  pooler: z.enum(POOLER_MODES).default('auto'),
  driver: z.enum(DATABASE_DRIVERS).default('auto'),
  auto_migrate: boolean().default(true),
  pglite_dir: nonEmptyText().default('.data/pglite'),
  /** neon-http only: where the driver sends queries instead of Neon (the local endpoint in dev). */
  http_endpoint: z.string().default(''),
  /** Upper bound for every session-store statement. */
  statement_timeout: duration({ positive: true, max: MAX_TIMER_MS }).default(5_000),
});
