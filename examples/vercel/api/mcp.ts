// /mcp, /healthz and /readyz (vercel.json rewrites them here), every method.
import { baton } from '../lib/baton.js';

export default { fetch: baton.fetch };
