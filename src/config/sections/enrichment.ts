/** `enrichment`: middleware that changes results using session state. */
import { boolean, duration, oneOf, section } from '../values.js';

export const enrichmentSection = section({
  session_dedup: section({
    enabled: boolean().default(true),
    /** What a result carries for context already sent in this session. */
    mode: oneOf(['reference', 'summary', 'none'] as const).default('reference'),
    /** After this long, the full context is sent again. */
    entry_ttl: duration({ positive: true }).default(60 * 60_000),
  }).prefault({}),
});
