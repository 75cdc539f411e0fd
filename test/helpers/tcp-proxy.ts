// A TCP proxy on loopback in front of a real service (Postgres, the Neon endpoint) that tests can
// break on purpose: `cut()` is the database going away (every open connection dropped, new ones
// refused), `stall()` is a network that swallows packets (connections accepted, nothing
// forwarded), `restore()` brings it back on the same port.
import { createServer, connect, type Server, type Socket } from 'node:net';

export type ProxyMode = 'open' | 'cut' | 'stalled';

export interface TcpProxy {
  readonly port: number;
  readonly mode: ProxyMode;
  /** Connections accepted since start. */
  readonly accepted: number;
  /** `url` with its host and port replaced by the proxy's. */
  rewrite(url: string): string;
  /** Drops every open connection and refuses new ones (ECONNREFUSED). */
  cut(): Promise<void>;
  /** Accepts connections but forwards nothing, either way, until restored. */
  stall(): Promise<void>;
  /** Forwards again; stalled bytes are delivered, a cut proxy listens again. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let mode: ProxyMode = 'open';
  let accepted = 0;
  const pairs = new Set<Pair>();

  const onConnection = (client: Socket) => {
    accepted++;
    const upstream = connect(target.port, target.host);
    const pair = { client, upstream };
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
    if (mode === 'stalled') pause(pair);
  };

  const pause = ({ client, upstream }: Pair) => {
    client.pause();
    upstream.pause();
    client.unpipe(upstream);
    upstream.unpipe(client);
  };
  const resume = ({ client, upstream }: Pair) => {
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
    upstream.resume();
  };

  let server: Server = createServer(onConnection);
  await listen(server, 0);
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  const restore = async () => {
    if (mode === 'cut') {
      server = createServer(onConnection);
      await listen(server, port);
    } else if (mode === 'stalled') {
      for (const pair of pairs) resume(pair);
    }
    mode = 'open';
  };

  return {
    port,
    get mode() {
      return mode;
    },
    get accepted() {
      return accepted;
    },
    rewrite(url) {
      const parsed = new URL(url);
      parsed.hostname = '127.0.0.1';
      parsed.port = String(port);
      return parsed.toString();
    },
    async cut() {
      if (mode === 'cut') return;
      mode = 'cut';
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const pair of [...pairs]) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      pairs.clear();
      await closed;
    },
    async stall() {
      if (mode === 'cut') await restore();
      mode = 'stalled';
      for (const pair of pairs) pause(pair);
    },
    restore,
    async close() {
      for (const pair of [...pairs]) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      pairs.clear();
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}
