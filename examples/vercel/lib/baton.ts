// One mcp-baton for the project's functions: each function instance builds it on its first
// request and keeps it. Settings come from the project's environment variables (DATABASE_URL for
// sessions every instance shares, CRON_SECRET for the cleanup route, ...).
import { defineTool, defineToolset, text } from 'mcp-baton';
import { createVercel } from 'mcp-baton/vercel';
import { z } from 'zod';

const shout = defineTool({
  name: 'shout',
  description: 'Repeats a text in capitals.',
  input: { text: z.string().describe('What to shout') },
  handler: ({ text: said }) => text(said.toUpperCase()),
});

export const baton = createVercel({
  name: 'shouter',
  version: '1.0.0',
  toolsets: [defineToolset({ name: 'shouter', description: 'Shouting', tools: [shout] })],
});
