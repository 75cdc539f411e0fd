// The 2026-07-28 baseline: a stock SDK v2 server as its documentation shows it, `createMcpHandler`
// with a per-request McpServer from a factory, served on Node through @hono/node-server (the
// adapter the platform's Node entry uses too). It serves the tool the platform is measured with.
import { serve } from '@hono/node-server';
import { createMcpHandler, McpServer } from '@modelcontextprotocol/server';

const handler = createMcpHandler(() => {
  const server = new McpServer({ name: 'sdk-v2-reference', version: '1.0.0' });
  server.registerTool('test_simple_text', { description: 'Returns a fixed text block.' }, async () => ({
    content: [{ type: 'text', text: 'This is a simple text response for testing.' }],
  }));
  return server;
});

const port = Number(process.env.PORT ?? 8091);
serve({ fetch: (request) => handler.fetch(request), port, hostname: '127.0.0.1' }, () =>
  console.log(JSON.stringify({ msg: 'listening', port })),
);
process.on('SIGTERM', () => process.exit(0));
