// Vercel function behind /mcp, /healthz and /readyz (see the rewrites in vercel.json).
import { handleRequest } from '../src/runtime/vercel.js';

export default { fetch: handleRequest };
