// An MCP server on Cloudflare Workers whose sessions every isolate shares: with the secret
// DATABASE_URL (a Neon Postgres URL) set, a client's session survives isolates coming and going.
import { defineTool, defineToolset, text } from 'mcp-baton';
import { createWorker } from 'mcp-baton/worker';
import { z } from 'zod';

const greet = defineTool({
  name: 'greet',
  description: 'Greets someone, and says how many greetings this session has seen.',
  input: { name: z.string().min(1).describe('Who to greet') },
  handler({ name }, ctx) {
    const count = (ctx.session?.get<number>('greetings') ?? 0) + 1;
    ctx.session?.set('greetings', count);
    return text(ctx.session ? `Hello, ${name}! (greeting ${count} in this session)` : `Hello, ${name}!`);
  },
});

// The handlers wrangler runs: `fetch` for /mcp, /healthz and /readyz, `scheduled` for the cron
// trigger that removes expired sessions. Settings come from the bindings (wrangler.toml [vars],
// secrets); `config` here sets what code should decide.
export default createWorker({
  name: 'greeter',
  version: '1.0.0',
  toolsets: [defineToolset({ name: 'greeter', description: 'Greetings', tools: [greet] })],
});
