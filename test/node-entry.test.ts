// The Node entry as an operator meets it (src/runtime/node.ts, started as `npm start` starts it):
// the port it listens on, and what it says when something outside its configuration is wrong.
import { describe, expect, it } from 'vitest';
import { startServer } from './helpers/server.js';

describe('listening', () => {
  it('PORT=0 binds a port the system picks and names it in the "listening" line', async () => {
    const server = await startServer({ PORT: '0' });
    try {
      expect(server.port).toBeGreaterThan(0);
      const line = server.logs
        .join('')
        .split('\n')
        .find((l) => l.includes('"msg":"listening"'));
      expect(JSON.parse(line!)).toMatchObject({ port: server.port });
      expect((await fetch(`http://127.0.0.1:${server.port}/healthz`)).status).toBe(200);
    } finally {
      await server.stop();
    }
  });
});
