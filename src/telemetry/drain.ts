// The drain of a stopping server (src/lifecycle/shutdown.ts) as a span of its own (`baton.drain`,
// a trace per drain) and a histogram (`baton.drain.duration`), so that a deploy shows how long each
// instance took to let go and whether it cut requests off.
import { trace } from '@opentelemetry/api';
import { instruments, SCOPE } from './instruments.js';

export interface DrainEnd {
  /** Every request finished within the grace period. */
  drained: boolean;
  /** Requests cut off when the grace period ended. */
  cutOff: number;
}

/** Starts observing a drain; call what it returns once the drain is over (before the SDK's flush). */
export function observeDrain(reason: string, inFlight: number): (end: DrainEnd) => void {
  const started = performance.now();
  const span = trace
    .getTracer(SCOPE)
    .startSpan('baton.drain', { attributes: { 'baton.drain.reason': reason, 'baton.drain.in_flight': inFlight } });
  return ({ drained, cutOff }) => {
    span.setAttributes({ 'baton.drain.drained': drained, 'baton.drain.cut_off': cutOff });
    span.end();
    instruments().drain.record((performance.now() - started) / 1000, { 'baton.drain.drained': drained });
  };
}
