// Event streams an instance holds open (each a connection): the 2025 sessions' GET streams and
// the 2026-07-28 `subscriptions/listen` streams. Counted per instance: sum() over instances.
import { instruments } from './instruments.js';

export interface OpenStreams {
  /** 2025 GET streams (standalone or a request's, resumed). */
  session: number;
  /** 2026-07-28 subscriptions/listen streams. */
  listen: number;
}

/** Reports the open streams at each collection; returns the function that stops it (the platform's close). */
export function observeOpenStreams(count: () => OpenStreams): () => void {
  const { meter } = instruments();
  const gauge = meter.createObservableGauge('baton.streams.open', { unit: '{stream}', description: 'Event streams open on this instance' });
  const observe = (result: { observe(value: number, attributes: { 'baton.stream.kind': string }): void }) => {
    const open = count();
    result.observe(open.session, { 'baton.stream.kind': 'session' });
    result.observe(open.listen, { 'baton.stream.kind': 'listen' });
  };
  gauge.addCallback(observe);
  return () => gauge.removeCallback(observe);
}
