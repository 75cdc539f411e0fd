// Vercel entry: web-standard functions on the Node.js runtime. `api/mcp.ts` serves /mcp, /healthz
// and /readyz (vercel.json rewrites them there; the function sees the URL the client asked for, so
// the app routes it as anywhere else), `api/cron/cleanup.ts` the cron job. Configuration comes
// from the project's environment variables; `vercel dev` and deployments read the same ones.
import { createHash, timingSafeEqual } from 'node:crypto';
import { configFromEnv } from '../config/index.js';
import { openEdgeDatabase } from '../db/open-edge.js';
import { openEdgeDatasource } from '../tools/data/open-edge.js';
import { JsonRpcCode, jsonRpcError } from '../http/errors.js';
import { createLogger, parseLogLevel } from '../log.js';
import { createPlatform, OPEN_POLICY } from '../platform.js';
import { lazyPlatform, warnAboutMemorySessions } from './lazy-platform.js';

let logger = createLogger();

// One platform per function instance (Fluid compute sends it many requests). A deployment answers
// on its own domain, where DNS rebinding to localhost is not a threat: any Host/Origin unless
// BATON_ALLOWED_HOSTS / BATON_ALLOWED_ORIGINS narrow it.
// LOG_LEVEL is read with the rest of the configuration: a bad value is reported like theirs.
const platform = lazyPlatform(
  () => {
    logger = createLogger(parseLogLevel(process.env.LOG_LEVEL));
    return createPlatform(configFromEnv(process.env, { storeFollowsDatabase: true }), {
      defaultOriginPolicy: OPEN_POLICY,
      logger,
      openDatabase: openEdgeDatabase,
      openDatasource: openEdgeDatasource,
      env: process.env,
    }).then((built) => warnAboutMemorySessions(built, 'Vercel'));
  },
  () => logger,
);

/** Every method of /mcp, /healthz and /readyz. */
export function handleRequest(request: Request): Promise<Response> {
  return platform.respond((started) => started.app.fetch(request));
}

function sameSecret(presented: string, expected: string): boolean {
  // Digests have equal length, which timingSafeEqual needs; the comparison leaks nothing.
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(presented), digest(expected));
}

/**
 * GET /api/cron/cleanup: Vercel's cron calls it with `Authorization: Bearer <CRON_SECRET>`.
 * vercel.json runs it every 5 minutes, which needs the Pro plan: Hobby allows daily cron jobs only
 * (a deploy with a more frequent schedule is refused). Sessions past their lifetime are refused at
 * once in any case; the schedule only bounds how long their rows stay.
 */
export async function handleCleanup(request: Request): Promise<Response> {
  const secret = process.env.CRON_SECRET;
  if (!secret) {
    logger.error('cleanup refused: CRON_SECRET is not set');
    return jsonRpcError(
      500,
      JsonRpcCode.InternalError,
      'CRON_SECRET must be set in the environment for the cleanup route (Vercel sends it with each cron request)',
    );
  }
  if (!sameSecret(request.headers.get('authorization') ?? '', `Bearer ${secret}`)) {
    return jsonRpcError(401, JsonRpcCode.ServerError, 'Unauthorized: expected Authorization: Bearer <CRON_SECRET>', {
      'WWW-Authenticate': 'Bearer',
    });
  }
  return platform.respond(async ({ store }) => {
    const report = await store.cleanup();
    logger.info('cleanup', { ...report });
    return Response.json(report);
  });
}
