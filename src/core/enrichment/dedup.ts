// Which form of a reference's context a result carries, given what this session was sent before.
// The memory is session state, one flat key per reference (`enrich.sent:public.orders` -> when
// the full context was last sent, in ms): it is loaded with the session in its one statement and
// merged back key by key before the response leaves, so it survives restarts, follows the session
// to any instance, and two requests adding different tables at once both keep theirs.
import type { Config } from '../../config/schema.js';
import type { SessionState } from '../session-state.js';
import type { ResultReference } from './context.js';

export type DedupSettings = Config['enrichment']['session_dedup'];

/** full: everything; reference: a short pointer; summary: one line; none: nothing. */
export type Delivery = 'full' | DedupSettings['mode'];

export const SENT_PREFIX = 'enrich.sent:';

export function sentKey(reference: ResultReference): string {
  return SENT_PREFIX + (reference.kind === 'table' ? reference.name : `${reference.kind}:${reference.name}`);
}

/**
 * Without a session (a 2026-07-28 request) there is nothing that remembers what a client was sent,
 * so every result carries the full context: see docs/toolsets.md, "Enrichment and the two eras".
 */
export function decide(session: SessionState | undefined, reference: ResultReference, now: number, settings: DedupSettings): Delivery {
  if (!settings.enabled || session === undefined) return 'full';
  const sentAt = session.get<number>(sentKey(reference));
  if (typeof sentAt !== 'number' || now - sentAt >= settings.entry_ttl) return 'full';
  return settings.mode;
}

export function markSent(session: SessionState, reference: ResultReference, now: number): void {
  session.set(sentKey(reference), now);
}
