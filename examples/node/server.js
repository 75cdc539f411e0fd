// An MCP server whose sessions survive restarts and deploys: a notes tool that remembers what a
// session told it. With DATABASE_URL set, sessions live in Postgres: restart the process (or run
// several behind a load balancer) and a client carries on with the same Mcp-Session-Id.
import { defineTool, defineToolset, text } from 'mcp-baton';
import { createBaton, serve } from 'mcp-baton/node';
import { z } from 'zod';

const remember = defineTool({
  name: 'remember',
  description: 'Keeps a note for the rest of this session.',
  input: { note: z.string().min(1).describe('What to remember') },
  handler({ note }, ctx) {
    // Session state is stored with the session before the answer leaves: a restart loses nothing.
    if (!ctx.session) return text('Nothing to keep it in: this request has no session (a 2026-07-28 client).');
    const notes = ctx.session.get('notes') ?? [];
    ctx.session.set('notes', [...notes, note]);
    return text(`Noted (${notes.length + 1} so far).`);
  },
});

const recall = defineTool({
  name: 'recall',
  description: 'Lists the notes kept in this session.',
  input: {},
  handler(_args, ctx) {
    const notes = ctx.session?.get('notes') ?? [];
    return text(notes.length === 0 ? 'No notes yet.' : notes.map((note, i) => `${i + 1}. ${note}`).join('\n'));
  },
});

const baton = await createBaton({
  name: 'notes',
  version: '1.0.0',
  toolsets: [defineToolset({ name: 'notes', description: 'Notes kept per session', tools: [remember, recall] })],
  // Sessions go to Postgres when DATABASE_URL is set, and stay in memory otherwise.
  config: { sessions: { store: process.env.DATABASE_URL ? 'database' : 'memory' } },
});
// Listens on PORT (default 8080), serves /mcp, /healthz and /readyz, and drains on SIGTERM.
await serve(baton);
