// Run the local Neon HTTP endpoint:
//   tsx src/dev/neon-endpoint/cli.ts [--postgres URL] [--pglite DIR] [--port N] [--host H]
// With --postgres, the database in each request's connection string is used on that server;
// otherwise an embedded PGlite (in memory, or in DIR) serves every request.
// Env fallbacks: NEON_ENDPOINT_POSTGRES_URL, NEON_ENDPOINT_PGLITE_DIR, NEON_ENDPOINT_PORT.
import { parseArgs } from 'node:util';
import { startNeonEndpoint } from './index.js';

const usage = 'usage: tsx src/dev/neon-endpoint/cli.ts [--postgres URL] [--pglite DIR] [--port N] [--host HOST]';

async function main() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        postgres: { type: 'string' },
        pglite: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (error) {
    console.error(`${(error as Error).message}\n${usage}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(usage);
    return;
  }
  const postgresUrl = values.postgres ?? process.env.NEON_ENDPOINT_POSTGRES_URL;
  const pgliteDir = values.pglite ?? process.env.NEON_ENDPOINT_PGLITE_DIR;
  if (postgresUrl && pgliteDir) {
    console.error(`--postgres and --pglite are exclusive\n${usage}`);
    process.exit(2);
  }
  const portText = values.port ?? process.env.NEON_ENDPOINT_PORT ?? '0';
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`invalid port: ${portText}\n${usage}`);
    process.exit(2);
  }

  const endpoint = await startNeonEndpoint({
    ...(postgresUrl ? { postgresUrl } : {}),
    ...(pgliteDir ? { pgliteDir } : {}),
    port,
    ...(values.host ? { host: values.host } : {}),
  });
  const backend = postgresUrl ? `postgres ${redact(postgresUrl)}` : `pglite ${pgliteDir ? pgliteDir : '(in memory)'}`;
  console.log(endpoint.url);
  console.log(`neon endpoint ready: neonConfig.fetchEndpoint = '${endpoint.fetchEndpoint}', backend ${backend}`);
  console.log(`example connection string: ${endpoint.connectionString()}`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: stopping`);
    await endpoint.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
