// The lives of 2025 sessions as metrics: created, ended (deleted by their client, revoked by an
// operator, expired or idle and swept, evicted by the per-credential cap), how long each lasted
// (mcp.server.session.duration), and how many are live now (one store statement per collection,
// none per request). Counted where the store ends them: a revoke or cleanup run from the command
// line counts in that process, not on the servers' /metrics.
import { instruments } from './instruments.js';

export type SessionEnd = 'deleted' | 'revoked' | 'expired' | 'evicted';

export function sessionCreated(): void {
  instruments().sessionsCreated.add(1);
}

/**
 * Sessions ended, each by how long it lived in seconds: from its creation to its end (a DELETE or
 * a revoke: now; an expired or idle one: when it stopped being usable, not when the sweep found it).
 */
export function sessionsEnded(reason: SessionEnd, lived: readonly number[]): void {
  if (lived.length === 0) return;
  const meters = instruments();
  const attributes = { 'baton.session.end': reason };
  meters.sessionsEnded.add(lived.length, attributes);
  for (const seconds of lived) meters.session.record(Math.max(0, seconds), attributes);
}

/** Seconds from `createdAt` to `endedAt` (milliseconds or dates). */
export function livedSeconds(createdAt: Date | number, endedAt: Date | number = Date.now()): number {
  return (Number(endedAt) - Number(createdAt)) / 1000;
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
