/** `enrichment`: middleware that changes results using session state. */
import { z } from 'zod';
import { boolean, duration } from '../values.js';

export const enrichmentSection = z.strictObject({
  session_dedup: z
    .strictObject({
      enabled: boolean().default(true),
      /** What a result carries for context already sent in this session. */
      mode: z.enum(['reference', 'summary', 'none']).default('reference'),
      /** After this long, the full context is sent again. */
      entry_ttl: duration({ positive: true }).default(60 * 60_000),
    })
    .prefault({}),
});
