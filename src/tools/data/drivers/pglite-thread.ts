// The demo dataset's PGlite, inside a worker thread (see ./pglite.ts for why). Seeds the database
// in memory, then runs one batch at a time through the extended protocol with text results, the
// same machinery the local Neon endpoint uses (src/store/db/pglite-wire.ts).
import { parentPort, workerData } from 'node:worker_threads';
import { PgliteWire } from '../../../store/db/pglite-wire.js';
import type { Statement } from '../datasource.js';

export interface ThreadRequest {
  id: number;
  statements: Statement[];
}

export type ThreadReply =
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { id: number; ok: true; results: { fields: { name: string; dataTypeID: number }[]; rows: (string | null)[][] }[] }
  | { id: number; ok: false; error: { message: string; code?: string; position?: string } };

const port = parentPort!;
const { seed } = workerData as { seed: string[] };

const toQuery = (s: Statement) => ({ query: s.text, params: s.params ?? [], arrayMode: true });

try {
  const backend = await PgliteWire.open();
  await backend.batch(
    'demo',
    seed.map((text) => toQuery({ text })),
    'begin',
  );
  port.on('message', async (request: ThreadRequest) => {
    let reply: ThreadReply;
    try {
      const results = await backend.batch('demo', request.statements.map(toQuery), 'begin read only');
      reply = {
        id: request.id,
        ok: true,
        results: results.map((r) => ({ fields: r.fields.map((f) => ({ name: f.name, dataTypeID: f.dataTypeID })), rows: r.rows })),
      };
    } catch (error) {
      // Errors do not cross threads with their fields; send the ones that matter.
      const e = error as { message?: string; code?: string; position?: string };
      reply = { id: request.id, ok: false, error: { message: String(e.message ?? error), code: e.code, position: e.position } };
    }
    port.postMessage(reply);
  });
  port.postMessage({ type: 'ready' } satisfies ThreadReply);
} catch (error) {
  port.postMessage({ type: 'failed', message: error instanceof Error ? error.message : String(error) } satisfies ThreadReply);
}
