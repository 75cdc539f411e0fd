// An operator's revoke ends a session as its client's DELETE does (test/streams.test.ts): what the
// session has open on any instance ends with it, here a GET stream held on the other platform.
// The end is published in the statement that removes the session.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/index.js';
import { openNodeDatabase } from '../src/store/db/open-node.js';
import { createLogger } from '../src/log.js';
import { createPlatform, type Platform } from '../src/platform/platform.js';
import type { DatabaseSessionStore } from '../src/store/database-store.js';
import { driverDatabases } from './helpers/drivers.js';
import { RawSession } from './helpers/mcp.js';
import { SseReader } from './helpers/sse.js';

const quiet = createLogger('error');
const { setups } = driverDatabases('baton_end');

describe.each(setups)('the end of a session reaches the other platform ($name)', (setup) => {
  let a: Platform;
  let b: Platform;

  beforeAll(async () => {
    const config = parseConfig(
      { sessions: { store: 'database' }, database: setup.database(), toolsets: ['conformance'], channel: { poll_interval: '50ms' } },
      {},
    );
    a = await createPlatform(config, { logger: quiet, openDatabase: openNodeDatabase });
    b = await createPlatform(config, { logger: quiet, openDatabase: openNodeDatabase });
    await Promise.all([a.store.ready?.(), b.store.ready?.()]);
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  /** A session on A with its GET stream open (primed). */
  async function streamOnA() {
    const session = new RawSession((r) => a.app.fetch(r));
    await session.initialize();
    const response = await session.send('GET', undefined);
    expect(response.status).toBe(200);
    const stream = new SseReader(response);
    await stream.next();
    return { session, stream };
  }

  it('a revoke (the operator) ends the session streams held elsewhere', async () => {
    const { session, stream } = await streamOnA();
    expect(await (b.store as DatabaseSessionStore).revoke(session.id)).toBe(true);
    // The stream ends by itself: nothing else would end it.
    expect(await stream.rest()).toEqual([]);
    expect((await session.callTool('test_simple_text')).status).toBe(404);
    expect(await (b.store as DatabaseSessionStore).revoke(session.id)).toBe(false);
  });
});
