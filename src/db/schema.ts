// The session table, in a schema of its own so that it never mixes with application tables (the
// data tools hide this schema). Row types for the whole project come from here.
import { index, jsonb, pgSchema, text, timestamp } from 'drizzle-orm/pg-core';
import type { ClientCapabilities, Implementation } from '@modelcontextprotocol/sdk/types.js';

export const PLATFORM_SCHEMA = 'baton';
export const batonSchema = pgSchema(PLATFORM_SCHEMA);

export const sessions = batonSchema.table(
  'sessions',
  {
    id: text('id').primaryKey(),
    /** Hash of the credential that created the session; '' for anonymous sessions. */
    credentialHash: text('credential_hash').notNull().default(''),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    lastActiveAt: timestamp('last_active_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
    protocolVersion: text('protocol_version').notNull(),
    clientCapabilities: jsonb('client_capabilities').$type<ClientCapabilities>().notNull(),
    clientInfo: jsonb('client_info').$type<Implementation>().notNull(),
    state: jsonb('state').$type<Record<string, unknown>>().notNull().default({}),
  },
  // Validation is a primary-key lookup; cleanup is a range scan on either deadline; the cap on
  // sessions per credential counts one credential's rows at each initialize.
  (t) => [
    index('sessions_expires_at_idx').on(t.expiresAt),
    index('sessions_last_active_at_idx').on(t.lastActiveAt),
    index('sessions_credential_hash_idx').on(t.credentialHash),
  ],
);

export type SessionRow = typeof sessions.$inferSelect;
export type NewSessionRow = typeof sessions.$inferInsert;
