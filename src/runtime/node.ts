// The Node server that `npm start` and the container image run: mcp-baton on its own settings
// (baton.yaml / BATON_CONFIG, environment overrides), built on the public API like any user's
// server. Exit codes: 2 for a configuration error (every problem is printed), 1 when it cannot
// start or listen; after a signal, as `serve` says (0 drained, 1 failed, 128 + n on a second one).
import { ConfigError } from '../config/errors.js';
import { createLogger, errorText } from '../log.js';
import { createBaton, serve } from '../api/node.js';
import type { Baton } from '../api/baton.js';
import { type NodeTelemetry, startNodeTelemetry } from './telemetry-node.js';

let baton: Baton;
let telemetry: NodeTelemetry | undefined;
try {
  // Before the platform: its instruments and spans go to the SDK from the first request on.
  telemetry = await startNodeTelemetry(process.env, createLogger());
  baton = await createBaton({ env: process.env });
} catch (error) {
  // Problems found while building (auth keys, toolsets, catalog) are configuration errors too.
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(2);
  }
  createLogger().error('platform failed to start', { error: errorText(error) });
  process.exit(1);
}

try {
  // The SDK's flush is the drain's last step: the batch of spans still buffered leaves before the exit.
  await serve(baton, { ...(telemetry && { onShutdown: () => telemetry.shutdown() }) });
} catch (error) {
  createLogger().error(errorText(error), { code: (error as NodeJS.ErrnoException).code });
  await baton.close().catch((closing: unknown) => createLogger().warn('closing the store failed', { error: errorText(closing) }));
  await telemetry?.shutdown().catch((closing: unknown) => createLogger().warn('stopping telemetry failed', { error: errorText(closing) }));
  process.exit(1);
}
