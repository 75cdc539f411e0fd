// The lives of 2025 sessions as metrics: created, ended (deleted by their client, revoked by an
// operator, expired or idle and swept), how long each lasted (mcp.server.session.duration), and
// how many are live now (one store statement per collection, none per request).
import { instruments } from './instruments.js';

export type SessionEnd = 'deleted' | 'revoked' | 'expired';

export function sessionCreated(): void {
  instruments().sessionsCreated.add(1);
}

/** `count` sessions ended; `createdAt` when the store knows the one session's start. */
export function sessionsEnded(reason: SessionEnd, count = 1, createdAt?: Date | number): void {
  if (count === 0) return;
  const meters = instruments();
  meters.sessionsEnded.add(count, { 'baton.session.end': reason });
  if (createdAt !== undefined) meters.session.record(Math.max(0, Date.now() - Number(createdAt)) / 1000, { 'baton.session.end': reason });
}

/**
 * baton.sessions.live: sessions live in the store (every instance reports the same number: take
 * max(), not sum()). Returns the function that stops observing (the platform's close).
 */
export function observeLiveSessions(count: () => Promise<number>): () => void {
  const { meter } = instruments();
  const gauge = meter.createObservableGauge('baton.sessions.live', { unit: '{session}', description: 'Live sessions in the store' });
  const observe = async (result: { observe(value: number): void }) => result.observe(await count());
  gauge.addCallback(observe);
  return () => gauge.removeCallback(observe);
}
