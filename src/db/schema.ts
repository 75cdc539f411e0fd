// The platform's tables, in a schema of its own so that they never mix with application tables
// (the data tools hide this schema): the sessions, and the messages instances send each other
// (src/channel/). Row types for the whole project come from here.
import { bigint, bigserial, index, jsonb, pgSchema, text, timestamp } from 'drizzle-orm/pg-core';
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
  // Validation is a primary-key lookup; cleanup is a range scan on either deadline.
  (t) => [index('sessions_expires_at_idx').on(t.expiresAt), index('sessions_last_active_at_idx').on(t.lastActiveAt)],
);

export type SessionRow = typeof sessions.$inferSelect;
export type NewSessionRow = typeof sessions.$inferInsert;

/**
 * Messages published on the channel (src/channel/database.ts): replies, cancels and session ends
 * for work running on another instance, and stream events kept for resumption. Each row is kept
 * for `channel.retention` and swept by the same cleanup as sessions.
 */
export const messages = batonSchema.table(
  'messages',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    topic: text('topic').notNull(),
    /**
     * Microseconds since the epoch on the database's clock, taken under the topic's lock when the
     * message was published: within a topic, `at` and `id` grow together in commit order.
     */
    at: bigint('at', { mode: 'number' }).notNull(),
    payload: jsonb('payload').notNull(),
  },
  // Readers ask for a topic's messages after a position; the cleanup for everything before a time.
  (t) => [index('messages_topic_at_idx').on(t.topic, t.at, t.id), index('messages_at_idx').on(t.at)],
);

export type MessageRow = typeof messages.$inferSelect;
