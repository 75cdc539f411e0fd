// Which signals stop a Node server, and when a signal means "exit now". SIGTERM, SIGINT and SIGHUP
// start the drain. Process managers and terminals often signal the whole process group (systemd's
// KillMode=control-group, `tini -g`, supervisord's stopasgroup, Ctrl-C), and under `npm start` npm
// then passes its own copy on: the server receives the same signal twice within milliseconds. So a
// repeat of the first signal within REPEAT_WINDOW_MS is that same stop; only a different signal, or
// the same one later, forces the exit.
import { errorText, type Logger } from '../log.js';

export const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

const SIGNAL_NUMBERS: Record<StopSignal, number> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };
/** npm relays within milliseconds; a person pressing Ctrl-C again takes longer than this. */
export const REPEAT_WINDOW_MS = 1_000;

export interface SignalHandlerOptions {
  /** Starts the drain; called once, with the first signal. */
  stop(signal: StopSignal): Promise<unknown>;
  logger: Logger;
  /** Requests in flight, for the log line of a forced exit. */
  inFlight(): number;
  /** After the first signal, how long the whole stop may take before the process gives up. */
  deadlineMs: number;
  /** Default process.exit; tests of this module pass their own. */
  exit?: (code: number) => void;
  now?: () => number;
}

/**
 * Installs the handlers: the first stop signal drains, then exits 0 (1 when the drain failed or
 * outran `deadlineMs`); a later or different signal exits at once with 128 + its number. Returns
 * what removes them (once the server is shut down, the process's signals are its owner's again).
 */
export function handleStopSignals(options: SignalHandlerOptions): () => void {
  const { logger } = options;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const now = options.now ?? (() => performance.now());
  let first: { signal: StopSignal; at: number } | undefined;

  const onSignal = (signal: StopSignal) => {
    if (first) {
      if (signal === first.signal && now() - first.at < REPEAT_WINDOW_MS) {
        logger.debug('same signal again, already shutting down', { signal });
        return;
      }
      const code = 128 + SIGNAL_NUMBERS[signal];
      logger.warn('second signal, exiting now', { signal, code, inFlight: options.inFlight() });
      exit(code);
      return;
    }
    first = { signal, at: now() };
    // Kubernetes kills at terminationGracePeriodSeconds anyway; this only bounds a hung close.
    setTimeout(() => {
      logger.error('shutdown did not complete in time, exiting');
      exit(1);
    }, options.deadlineMs).unref();
    options.stop(signal).then(
      () => exit(0),
      (error: unknown) => {
        logger.error('shutdown failed', { error: errorText(error, { stack: true }) });
        exit(1);
      },
    );
  };
  const handlers = STOP_SIGNALS.map((signal) => [signal, () => onSignal(signal)] as const);
  for (const [signal, handler] of handlers) process.on(signal, handler);
  return () => {
    for (const [signal, handler] of handlers) process.off(signal, handler);
  };
}
