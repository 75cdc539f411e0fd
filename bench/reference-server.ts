// The baseline (a): what people deploy today, built only from the SDK. Stateful Streamable HTTP,
// one McpServer and one transport per session, all in this process's memory. It serves the same
// tool the platform is measured with (`test_simple_text` of the conformance toolset).
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';

const transports = new Map<string, StreamableHTTPServerTransport>();

function newServer(): McpServer {
  const server = new McpServer({ name: 'sdk-reference', version: '1.0.0' });
  server.registerTool('test_simple_text', { description: 'Returns a fixed text block.' }, async () => ({
    content: [{ type: 'text', text: 'This is a simple text response for testing.' }],
  }));
  return server;
}

const http = createServer(async (req, res) => {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = chunks.length > 0 ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
  const id = req.headers['mcp-session-id'];
  let transport = typeof id === 'string' ? transports.get(id) : undefined;
  if (!transport) {
    if (req.method !== 'POST' || !isInitializeRequest(body)) {
      res.writeHead(typeof id === 'string' ? 404 : 400).end();
      return;
    }
    const created = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (sessionId) => void transports.set(sessionId, created),
    });
    created.onclose = () => created.sessionId && transports.delete(created.sessionId);
    await newServer().connect(created);
    transport = created;
  }
  await transport.handleRequest(req, res, body);
});

// PORT=0: any free port, named in the "listening" line.
http.listen(Number(process.env.PORT ?? 8090), '127.0.0.1', () => {
  const address = http.address();
  console.log(JSON.stringify({ msg: 'listening', port: typeof address === 'object' && address ? address.port : 0 }));
});
process.on('SIGTERM', () => process.exit(0));
