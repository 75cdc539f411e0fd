// Vercel functions of this repository, on the public API: `api/mcp.ts` serves /mcp, /healthz and
// /readyz (vercel.json rewrites them there; the function sees the URL the client asked for, so
// the app routes it as anywhere else), `api/cron/cleanup.ts` the cron job. Configuration comes
// from the project's environment variables; `vercel dev` and deployments read the same ones.
//
// vercel.json runs the cleanup every 5 minutes, which needs the Pro plan: Hobby allows daily cron
// jobs only (a deploy with a more frequent schedule is refused). Sessions past their lifetime are
// refused at once in any case; the schedule only bounds how long their rows stay.
import { createVercel } from '../api/vercel.js';

const vercel = createVercel();

/** Every method of /mcp, /healthz and /readyz. */
export const handleRequest = vercel.fetch;
/** GET /api/cron/cleanup, with `Authorization: Bearer <CRON_SECRET>`. */
export const handleCleanup = vercel.cleanup;
