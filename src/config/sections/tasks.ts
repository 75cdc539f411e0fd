/** `tasks`: the leases running tasks hold, and how often instances look for tasks to take over. */
import { z } from 'zod';
import { duration, MAX_TIMER_MS } from '../values.js';

/** A lease is renewed every third of it; a shorter one could run out on a busy instance and hand a healthy task over. */
const MIN_LEASE_MS = 1_000;
/** Each look is one statement per instance: more often than this costs more than it saves. */
const MIN_TAKEOVER_INTERVAL_MS = 100;

export const tasksSection = z.strictObject({
  /**
   * How long a running task's lease lasts; the instance running it renews it every third of it.
   * After a crash, another instance takes the task over once the lease ran out.
   */
  lease: duration({ positive: true, max: MAX_TIMER_MS })
    .refine((ms) => ms >= MIN_LEASE_MS, {
      error:
        'must be at least 1s: a lease is renewed every third of it, and a shorter one can run out on a busy instance, which hands a healthy task to another',
    })
    .default(30_000),
  /**
   * How often each instance looks for tasks to take over (one statement when there are none): Node
   * servers on an interval, Workers and Vercel at most this often per isolate from requests.
   */
  takeover_interval: duration({ positive: true, max: MAX_TIMER_MS })
    .refine((ms) => ms >= MIN_TAKEOVER_INTERVAL_MS, {
      error: 'must be at least 100ms: each look is a statement on the database, per instance',
    })
    .default(5_000),
});
