// The one HTTP application, identical on every runtime. It knows nothing of Node, Workers or
// Vercel: the entries in src/runtime/ hand it web-standard Requests.
import { type Context, Hono } from 'hono';
import type { Authenticator } from '../auth/authenticate.js';
import { METADATA_PATH } from '../auth/metadata.js';
import { checkOrigin, type OriginPolicy } from '../http/origin-guard.js';
import { JsonRpcCode, jsonRpcError } from '../http/errors.js';
import { errorText, type Logger } from '../log.js';
import type { WaitUntil } from '../core/task-runner.js';
import type { McpEndpoint } from './era.js';
import type { ReadinessView } from '../lifecycle/readiness.js';
import { countRefusal, refusedBecause } from '../telemetry/refusals.js';

export interface AppOptions {
  /** The MCP endpoint behind the guards: routes each request to its protocol era. */
  mcp: McpEndpoint;
  auth: Authenticator;
  originPolicy: OriginPolicy;
  /** The platform's readiness, which /readyz reports. */
  readiness: ReadinessView;
  logger: Logger;
}

/**
 * The waitUntil of the execution context the runtime gave with this request (Workers), if any:
 * work handed to it goes on after the response. Hono's getter throws when there is none (Node).
 */
function waitUntilOf(c: Context): WaitUntil | undefined {
  let executionCtx: Context['executionCtx'];
  try {
    executionCtx = c.executionCtx;
  } catch {
    return undefined;
  }
  return (work) => executionCtx.waitUntil(work);
}

const notFound = () => jsonRpcError(404, JsonRpcCode.ServerError, 'Not found: the MCP endpoint is /mcp');

export function createApp(options: AppOptions): Hono {
  const app = new Hono();

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', (c) => {
    const { state, reason } = options.readiness;
    return c.json({ status: state, ...(reason !== undefined && { reason }) }, state === 'ready' ? 200 : 503);
  });

  // OAuth protected resource metadata (JWT mode): at the root and path-suffixed (RFC 9728).
  app.get(METADATA_PATH, (c) => options.auth.metadata(c.req.raw, '') ?? notFound());
  app.get(`${METADATA_PATH}/*`, (c) => options.auth.metadata(c.req.raw, c.req.path.slice(METADATA_PATH.length)) ?? notFound());

  const serveMcp = async (request: Request, waitUntil: WaitUntil | undefined): Promise<Response> => {
    const refused = checkOrigin(request, options.originPolicy);
    if (refused) return refusedBecause('origin', jsonRpcError(403, JsonRpcCode.ServerError, `Forbidden: ${refused}`));
    const outcome = await options.auth.authenticate(request);
    if (!outcome.ok) return refusedBecause('credential', outcome.response);
    return options.mcp(request, outcome.caller, waitUntil);
  };
  app.all('/mcp', async (c) => countRefusal(await serveMcp(c.req.raw, waitUntilOf(c))));

  app.notFound(notFound);
  // Last line of defence: whatever escaped is a JSON-RPC 500, logged without request details.
  app.onError((error) => {
    options.logger.error('request failed', { error: errorText(error, { stack: true }) });
    return jsonRpcError(500, JsonRpcCode.InternalError, 'Internal error');
  });
  return app;
}
