// The graceful shutdown sequence of a long-running server, independent of the HTTP server that
// runs it (the Node entry supplies the steps that touch sockets):
//
//   readiness 503 -> wait pre_shutdown_delay (the load balancer stops routing here)
//   -> stop accepting connections -> end the open event streams (their clients resume them on
//   another instance) and hand over the calls that only wait for their client
//   -> let exchanges in flight finish within grace_period -> cut off the calls still running
//   (handed over to another instance, or answered with an error; never a dropped connection) and
//   let those answers leave -> close what is still open -> check that no session state waits to
//   be written
//   -> stop the cleanup schedule -> close the store (database pool) -> the runtime's last step
//   (the telemetry SDK's flush, so the spans of the last requests and of the drain leave)
//   -> the caller exits 0.
import { errorText, type Logger } from '../log.js';
import { observeDrain } from '../telemetry/drain.js';
import type { InFlight } from './in-flight.js';

export interface ShutdownSteps {
  preShutdownDelayMs: number;
  gracePeriodMs: number;
  logger: Logger;
  inFlight: InFlight;
  /** Readiness answers 503 from now on. */
  markDraining(): void;
  /** Stops listening; connections already open may finish their requests. */
  stopAccepting(): void;
  /**
   * Ends the standalone event streams (GET): they would otherwise last the whole grace period;
   * their clients reconnect with Last-Event-ID and miss nothing.
   */
  endStreams?(): void;
  /**
   * The drain began: calls that only wait for their client (an elicitation they sent) are handed
   * over to another instance now (src/era-2025/handover.ts).
   */
  handOverCalls?(): void;
  /**
   * The grace period is over: every call still running is handed over to another instance or
   * answered with a JSON-RPC error saying a restart cut it off; resolves once those answers are
   * written. Their responses then end within CUT_OFF_FLUSH_MS, before connections are closed.
   */
  cutOffCalls?(): Promise<void>;
  /** Closes every connection still open (after the grace period, or once idle). */
  closeConnections(): void;
  /** MCP requests whose handler has not sent its last response yet. */
  unfinishedRequests(): number;
  stopCleanup(): Promise<void>;
  closeStore(): Promise<void>;
  /**
   * The runtime's last step, once the store is closed (the Node entry flushes and stops its
   * OpenTelemetry SDK). Its failure is logged and does not fail the shutdown.
   */
  onShutdown?(): Promise<void>;
  sleep?: (ms: number) => Promise<void>;
}

export interface ShutdownReport {
  /** Every exchange finished within the grace period. */
  drained: boolean;
  /** Exchanges cut off when the grace period ended. */
  cutOff: number;
  durationMs: number;
}

/** After the cut-off, how long its answers get to leave before the connections are closed. */
export const CUT_OFF_FLUSH_MS = 2_000;

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function shutdown(steps: ShutdownSteps, reason: string): Promise<ShutdownReport> {
  const { logger, inFlight } = steps;
  const sleep = steps.sleep ?? defaultSleep;
  const started = performance.now();
  const drainObserved = observeDrain(reason, inFlight.count);

  steps.markDraining();
  logger.info('shutting down', {
    reason,
    inFlight: inFlight.count,
    preShutdownDelayMs: steps.preShutdownDelayMs,
    gracePeriodMs: steps.gracePeriodMs,
  });
  // Load balancers and Kubernetes endpoints learn about the 503 only at their next probe; until
  // then they keep sending requests, which are still served.
  if (steps.preShutdownDelayMs > 0) await sleep(steps.preShutdownDelayMs);

  steps.stopAccepting();
  steps.endStreams?.();
  steps.handOverCalls?.();
  const deadline = performance.now() + steps.gracePeriodMs;
  let drained = await inFlight.idle(steps.gracePeriodMs);
  const cutOff = inFlight.count;
  // A handler may outlive its exchange when the client went away mid-request; it still writes
  // its session state before it answers, so it gets the rest of the grace period too.
  while (drained && steps.unfinishedRequests() > 0 && performance.now() < deadline) await sleep(20);
  if (steps.unfinishedRequests() > 0) drained = false;
  if (!drained && steps.cutOffCalls) {
    await steps.cutOffCalls().catch((error: unknown) => logger.warn('cutting off the calls in flight failed', { error: errorText(error) }));
    await inFlight.idle(CUT_OFF_FLUSH_MS);
  }
  if (drained) logger.info('drained', { durationMs: Math.round(performance.now() - started) });
  else logger.warn('grace period over, closing connections still open', { cutOff, unfinished: steps.unfinishedRequests() });
  steps.closeConnections();

  // Nothing to flush: session state is written to the store before each response leaves (see
  // the write-back in src/era-2025/instance.ts), so once every request is answered no write can be pending.
  // A request still unanswered here was cut off with its connection; its client got no result,
  // so not storing its state keeps the rule that no result is seen whose state was not stored.
  const unfinished = steps.unfinishedRequests();
  if (unfinished > 0) logger.warn('requests cut off before their response; their session state is not written', { unfinished });
  else logger.debug('no session state pending');

  await steps.stopCleanup();
  await steps.closeStore();
  const durationMs = Math.round(performance.now() - started);
  logger.info('shutdown complete', { durationMs, drained });
  drainObserved({ drained, cutOff });
  // Last: what it sends includes the drain itself; a collector that is down costs telemetry, not the exit code.
  await steps.onShutdown?.().catch((error: unknown) => logger.warn('the last shutdown step failed', { error: errorText(error) }));
  return { drained, cutOff, durationMs };
}
