// What one instance of the platform holds while it runs, for 2025 sessions, and the life of one
// request through it. Everything that lives as long as the instance is here, owned by the
// platform (created by createPlatform, closed by platform.close()): the pool of restored servers,
// the work in flight and how messages about it reach it from other instances
// (src/era-2025/exchange-router.ts, over the store's channel), the event streams it serves
// (src/era-2025/streams.ts), the count of HTTP exchanges. Nothing of it is module-level, so two
// platforms in one process behave like two instances: they share only the database.
//
// One request of an existing session, top to bottom (src/era-2025/handler.ts opens the session
// and calls `serve`):
//   restore    a server already restored to the session from the pool, or a new one restored
//              from the stored record;
//   serve      the request's messages go through its POST's transport (./post-transport.ts) to
//              that server;
//   write back the session's changed state is stored before the answer that completes the
//              request leaves (a store failure is a 503 while nothing was sent yet);
//   release    the server goes back to the pool for the session's next request on this instance.
import type { WaitUntil } from '../core/task-runner.js';
import {
  ErrorCode,
  type JSONRPCMessage,
  type JSONRPCRequest,
  type JSONRPCResponse,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';
import { createDispatcher, serveScope, type Dispatcher, type RequestScope } from './server.js';
import type { InputRound } from './input.js';
import { type Continuation, Handover, type LiveCall } from './handover.js';
import type { StreamCursor } from './cursor.js';
import { DEFAULT_POOL_LIMITS, ServerPool, connectServer, type SessionServer } from './server-pool.js';
import { ExchangeRouter, type Exchange } from './exchange-router.js';
import type { ExchangeOptions, Outcome } from './exchange.js';
import type { Registry } from '../core/registry.js';
import { InFlight } from '../lifecycle/in-flight.js';
import { SessionRefusedError } from '../store/errors.js';
import { errorText, type Logger } from '../log.js';
import { SessionState } from '../core/session-state.js';
import { newInstanceId, newSessionId } from './ids.js';
import { offersTasks, SessionTasks, type SessionTasksOptions } from './tasks.js';
import {
  DEFAULT_INBOX_LIMIT,
  type EarlyListen,
  RequestStream,
  SessionStreams,
  resumable,
  subscriptionChange,
  type StreamOptions,
} from './streams.js';
import { changeNotifier } from '../store/channel/changes.js';
import { asPayload, type HandoverNote, requestStreamTopic, sessionTopic, type SessionMessage } from '../store/channel/topics.js';
import type { ChangeNotifier } from '../store/channel/types.js';
import type { Negotiated, OpenResult, SessionRecord, SessionStore } from '../store/types.js';
import type { Caller } from '../auth/caller.js';
import { sessionCreated } from '../telemetry/sessions.js';
import { sseEvent, wholeEventStream } from '../http/sse.js';
import { PostTransport } from './post-transport.js';

export interface InstanceOptions {
  store: SessionStore;
  registry: Registry;
  logger: Logger;
  /**
   * How long an event stream's answer is waited for, to be sent whole (see `serve`); default
   * 20 ms. Tests set it to be independent of the machine's speed.
   */
  holdMs?: number;
  /** Event streams: the retry advised to clients, how long a GET stream stays open. */
  streams?: Partial<StreamOptions>;
  /** The id the instance is known by (task leases, request ids); a new one by default. */
  id?: string;
  /** The 2025-11-25 tasks (./tasks.ts); offered when some tool of the registry may become a task. */
  tasks?: SessionTasksOptions;
}

/** A session as the store opened it for this request. */
export type Opened = Extract<OpenResult, { status: 'ok' }>;

const DEFAULT_HOLD_MS = 20;
const SAVE_FAILED = 'Session state could not be saved; the request was not completed. Retry later.';

export class Instance {
  /** Names this instance in the ids of its server-to-client requests. */
  readonly id: string;
  /** The GET event streams this instance serves. */
  readonly streams: SessionStreams;
  /** Announces changes to every session's stream on every instance. */
  readonly changes: ChangeNotifier;
  /** HTTP exchanges in progress, until their response is completely sent (the Node entry feeds it). */
  readonly requests = new InFlight();
  readonly #router: ExchangeRouter;
  readonly #handover: Handover;
  readonly #store: SessionStore;
  readonly #registry: Registry;
  readonly #logger: Logger;
  readonly #dispatch: Dispatcher;
  readonly #pool: ServerPool;
  readonly #holdMs: number;
  readonly #retryMs: number;
  readonly #tasks: boolean;

  constructor(options: InstanceOptions) {
    this.id = options.id ?? newInstanceId();
    this.#router = new ExchangeRouter(this.id, options.store.channel, options.logger);
    this.#handover = new Handover({
      tasks: options.store.tasks,
      channel: options.store.channel,
      registry: options.registry,
      owner: this.id,
      logger: options.logger,
    });
    this.#store = options.store;
    this.#registry = options.registry;
    this.#logger = options.logger;
    this.#tasks = options.tasks !== undefined && offersTasks(options.registry);
    this.#dispatch = createDispatcher(options.registry, {
      maxSubscriptions: options.store.limits.maxSubscriptions,
      ...(this.#tasks && { tasks: new SessionTasks(options.registry, options.tasks!) }),
    });
    this.#pool = new ServerPool(DEFAULT_POOL_LIMITS, (sessionId) => this.#watchEnd(sessionId));
    this.changes = changeNotifier(options.store.channel);
    this.#holdMs = options.holdMs ?? DEFAULT_HOLD_MS;
    this.#retryMs = options.streams?.retryMs ?? 1_000;
    this.streams = new SessionStreams(options.store, options.logger, {
      retryMs: this.#retryMs,
      timeoutMs: options.streams?.timeoutMs ?? 0,
      inboxLimit: options.streams?.inboxLimit ?? DEFAULT_INBOX_LIMIT,
    });
  }

  /** A new session: stored, then its `initialize` goes through a new server, which is then as restored as any. */
  async initialize(
    request: Request,
    message: JSONRPCRequest,
    negotiated: Negotiated,
    caller: Caller,
  ): Promise<{ id: string; response: Response }> {
    const id = newSessionId();
    // A credential that was presented but not checked (no principal) could be a new one each time.
    const capGroup = caller.credentialHash !== '' && caller.principal === undefined ? 'all' : 'credential';
    await this.#store.create({ id, credentialHash: caller.credentialHash, ...negotiated, state: {}, capGroup });
    sessionCreated();
    this.#logger.info('session created', {
      session: id.slice(0, 8),
      client: negotiated.clientInfo.name,
      protocol: negotiated.protocolVersion,
    });
    const server = await this.#connect(id);
    const scope: RequestScope = {
      sessionId: id,
      session: new SessionState(),
      credentialHash: caller.credentialHash,
      principal: caller.principal,
      changes: this.changes,
    };
    const inner = new PostTransport({ json: true });
    const exchange = await this.#attach(server, inner, scope, { requestIds: [message.id], holdLastAnswer: false });
    return { id, response: await this.#handle(server, exchange, request, message) };
  }

  /** One request of an opened session: restore, serve, write back, release. */
  async serve(
    request: Request,
    opened: Opened,
    caller: Caller,
    body: unknown,
    requestIds: RequestId[],
    waitUntil?: WaitUntil,
  ): Promise<Response> {
    return (await this.#serve(request, opened, caller, body, requestIds, undefined, waitUntil)).response;
  }

  /**
   * `serve`, and the exchange it opened; `continues`: a call handed over in a drain goes on here
   * (./handover.ts), its messages on the request stream it had, from the round it waited in.
   */
  async #serve(
    request: Request,
    opened: Opened,
    caller: Caller,
    body: unknown,
    requestIds: RequestId[],
    continues?: { key: string; round: InputRound | undefined; record: string },
    waitUntil?: WaitUntil,
  ): Promise<{ response: Response; exchange: Exchange }> {
    const { session, at } = opened;
    const server = this.#pool.take(session.id) ?? (await this.#restore(session));
    const state = new SessionState(session.state);
    const scope: RequestScope = {
      sessionId: session.id,
      session: state,
      credentialHash: caller.credentialHash,
      principal: caller.principal,
      changes: this.changes,
      ...(waitUntil && { waitUntil }),
    };
    const inner = new PostTransport();
    const exchange = await this.#attach(server, inner, scope, { requestIds, holdLastAnswer: true, since: at });
    // A session that can resume streams gets a stream the tool may close early (SSE polling), and
    // that outlives a client that goes away: the rest is kept for it, for any instance to deliver.
    const stream = resumable(session) ? new RequestStream(exchange, this.#store.channel, this.#logger, continues?.key) : undefined;
    if (stream) scope.closeStream = () => stream.close();
    // The client reads a continued call on its resumed stream: everything goes to the stream's topic.
    if (stream && continues) stream.close();
    const live: LiveCall = {
      exchange,
      stream,
      progress: undefined,
      sessionId: session.id,
      credentialHash: caller.credentialHash,
      requestId: requestIds[0]!,
      since: at,
      ...(continues && { continues: continues.record }),
    };
    if (requestIds.length === 1) {
      live.progress = { params: undefined, round: continues?.round, onAsk: () => this.#handover.asked(live) };
      scope.call = live.progress;
    }
    this.#handover.track(live);
    return { response: await this.#respond(server, exchange, stream, state, opened, request, body), exchange };
  }

  async #respond(
    server: SessionServer,
    exchange: Exchange,
    stream: RequestStream | undefined,
    state: SessionState,
    opened: Opened,
    request: Request,
    body: unknown,
  ): Promise<Response> {
    const { session } = opened;
    const response = await this.#handle(server, exchange, request, body);
    if (response.status !== 200) return response;

    // An event stream whose only event is the answer is sent whole when the answer is ready
    // within the hold and nothing else was sent before it: one socket write instead of three
    // (headers, event, end), and while nothing was sent, a failed write-back can still be a 503.
    // Anything that streams (a progress notification, a log message, an elicitation) or takes
    // longer is streamed as it comes.
    const early = await answeredWithin(exchange, this.#holdMs);
    if (!early) {
      void this.#complete(exchange, state);
      return stream ? stream.wrap(response, this.#retryMs) : response;
    }
    if (early.kind !== 'ended') {
      let answer = early.kind === 'answered' ? early.message : undefined;
      try {
        await this.#writeBack(session.id, state);
      } catch (error) {
        if (!(error instanceof SessionRefusedError)) {
          exchange.abandon();
          void response.body?.cancel();
          // Nothing was sent: the handler answers a store failure with 503 and Retry-After (and
          // logs it), as everywhere else; the client may retry, and the stored state is unchanged.
          throw error;
        }
        answer = this.#refused(exchange, answer, error);
      }
      // The answer goes out as the body itself, not written to the POST's stream and read back.
      if (exchange.finishWhole()) return wholeEventStream(answer ? sseEvent(answer) : '');
      await exchange.finish(answer);
    }
    // The POST's event stream (no event ids) with what was written to it.
    return wholeEventStream(await response.text());
  }

  /**
   * A request of the session came in (call before the store opens the session): a cancel the
   * client sends for it from now on reaches it, whichever instance gets the cancel and however
   * early. Returns the release, to call once `serve` returned or the request was refused.
   */
  arriving(sessionId: string): () => void {
    return this.#router.arriving(sessionId);
  }

  /**
   * Takes what answers or cancels work in flight, on this instance or another (replies to
   * server-to-client requests, `notifications/cancelled`); returns the messages left to serve.
   */
  route(sessionId: string, messages: JSONRPCMessage[]): Promise<JSONRPCMessage[]> {
    return this.#router.route(sessionId, messages);
  }

  /** The session was deleted: what it still runs here stops, and its servers are not used again. */
  async endSession(sessionId: string): Promise<void> {
    this.#pool.drop(sessionId);
    await this.#router.endSession(sessionId);
  }

  /** Ends the GET streams this instance serves (shutdown: their clients resume elsewhere). */
  closeStreams(): void {
    this.streams.closeAll();
  }

  /**
   * A GET event stream of an opened session (fresh, or resumed after `cursor`): a call handed over
   * in a drain whose note the resumed stream comes upon goes on here, unless another instance
   * already does. `early` listens since before the session was opened (`streams.listen`).
   */
  openStream(opened: Opened, caller: Caller, cursor: StreamCursor | undefined, early: EarlyListen): Response {
    const { session, at } = opened;
    const key = cursor?.kind === 'request' ? cursor.key : undefined;
    const onHandover = (note: HandoverNote) => {
      if (key === undefined) return;
      void this.#handover.continue(note, session, (how, record) => this.#continue(opened, caller, note, key, how, record));
    };
    return this.streams.open(session, at, cursor, early, onHandover);
  }

  /** The drain began: calls that only wait for their client are handed over now (./handover.ts). */
  drainCalls(): void {
    this.#handover.drain();
  }

  /** The grace period is over: every call still served here is handed over, or answered with the cut-off error. */
  cutOffCalls(): Promise<void> {
    return this.#handover.cutOff();
  }

  /** Serves a handed-over call here; resolves once it is over. Its messages go to the stream's topic. */
  async #continue(opened: Opened, caller: Caller, note: HandoverNote, key: string, how: Continuation, record: string): Promise<void> {
    const { session } = opened;
    if ('error' in how) {
      const answer = { jsonrpc: '2.0' as const, id: note.requestId, error: how.error };
      await this.#store.channel.publish(requestStreamTopic(session.id, key), asPayload({ message: answer, last: true }));
      return;
    }
    const body = { jsonrpc: '2.0', id: note.requestId, method: 'tools/call', params: note.params };
    const request = new Request('http://continued.invalid/mcp', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': session.protocolVersion,
      },
      body: JSON.stringify(body),
    });
    const { response, exchange } = await this.#serve(request, opened, caller, body, [note.requestId], { key, round: how.round, record });
    // Nobody reads this response: the call's messages go to the stream's topic.
    await response.body?.cancel();
    await exchange.done;
  }

  /** Client requests whose answer has not been sent yet (shutdown waits for them). */
  get unfinishedRequests(): number {
    return this.#router.unfinished;
  }

  /** Whether idle servers of the session are pooled here (for tests and diagnostics). */
  pools(sessionId: string): boolean {
    return this.#pool.holds(sessionId);
  }

  async close(): Promise<void> {
    this.#handover.close();
    this.streams.closeAll();
    this.#router.close();
    this.#pool.clear();
  }

  /**
   * While the session has idle servers here: its end, published by whichever instance served
   * the DELETE or revoke, lets them go. Passive: a polling channel reads no statement for it
   * alone, only along with what the instance waits for anyway; the store's check on every request
   * keeps a server of an ended session from being used meanwhile.
   */
  #watchEnd(sessionId: string): () => void {
    const subscription = this.#store.channel.subscribe(
      sessionTopic(sessionId),
      (message) => {
        if ((message.payload as unknown as SessionMessage)?.kind === 'ended') this.#pool.drop(sessionId);
      },
      { passive: true },
    );
    return () => subscription.unsubscribe();
  }

  async #restore(session: SessionRecord): Promise<SessionServer> {
    const server = await this.#connect(session.id);
    await server.transport.restore({
      method: 'initialize',
      params: { protocolVersion: session.protocolVersion, capabilities: session.clientCapabilities, clientInfo: session.clientInfo },
    });
    return server;
  }

  async #connect(sessionId: string): Promise<SessionServer> {
    const server = await connectServer(this.#registry, sessionId, this.#router, { tasks: this.#tasks });
    server.server.onerror = (error) => this.#logger.debug('mcp server error', { session: sessionId.slice(0, 8), error: errorText(error) });
    return server;
  }

  /** Points the server at this request and opens the exchange; the server is released when it ends. */
  async #attach(server: SessionServer, inner: PostTransport, scope: RequestScope, options: ExchangeOptions): Promise<Exchange> {
    serveScope(server.server, this.#dispatch, scope);
    const exchange = await server.transport.attach(inner, options);
    void exchange.done.then((reusable) => {
      if (reusable) this.#pool.give(scope.sessionId, server);
    });
    return exchange;
  }

  /** The POST's transport handles the request; what it refuses itself never reached the server. */
  async #handle(server: SessionServer, exchange: Exchange, request: Request, body: unknown): Promise<Response> {
    let response: Response;
    try {
      response = await exchange.handle(request, body);
    } catch (error) {
      // Nothing will answer through this exchange: end it, so that its requests stop counting
      // as in flight, and let the server go rather than pool one in an unknown state.
      await server.transport.close();
      throw error;
    }
    if (response.status !== 200) exchange.abandon();
    return response;
  }

  async #writeBack(sessionId: string, state: SessionState): Promise<void> {
    const patch = state.takePatch();
    if (patch) await this.#store.update(sessionId, patch, subscriptionChange(patch));
  }

  /**
   * The rest of a streamed exchange: its headers went out long ago, so a failed write-back can
   * no longer be an HTTP status. The answer is replaced by a JSON-RPC error saying the request
   * did not complete (the client may retry, or, refused by a limit, must change course), and the
   * failure is logged.
   */
  async #complete(exchange: Exchange, state: SessionState): Promise<void> {
    const outcome = await exchange.outcome;
    if (outcome.kind === 'ended') return;
    let answer: JSONRPCResponse | undefined = outcome.kind === 'answered' ? outcome.message : undefined;
    try {
      await this.#writeBack(exchange.sessionId, state);
    } catch (error) {
      if (error instanceof SessionRefusedError) {
        answer = this.#refused(exchange, answer, error);
      } else {
        this.#logger.warn('session state could not be saved; the streamed request ends with an error instead of its result', {
          session: exchange.sessionId.slice(0, 8),
          error: errorText(error),
        });
        if (answer) answer = { jsonrpc: '2.0', id: answer.id, error: { code: ErrorCode.InternalError, message: SAVE_FAILED } };
      }
    }
    try {
      await exchange.finish(answer);
    } catch (error) {
      this.#logger.debug('answer not delivered', { session: exchange.sessionId.slice(0, 8), error: errorText(error) });
    }
  }

  /** A limit refused the session's changed state: nothing was stored, and the answer says why instead of the result. */
  #refused(exchange: Exchange, answer: JSONRPCResponse | undefined, error: SessionRefusedError): JSONRPCResponse | undefined {
    this.#logger.info('session state not stored', { session: exchange.sessionId.slice(0, 8), reason: error.message });
    return answer && { jsonrpc: '2.0', id: answer.id, error: { code: error.code, message: error.message } };
  }
}

/** The exchange's outcome if it came within `ms` and before anything had to be streamed. */
function answeredWithin(exchange: Exchange, ms: number): Promise<Outcome | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    const settle = (outcome: Outcome | undefined) => {
      clearTimeout(timer);
      resolve(outcome);
    };
    void exchange.outcome.then(settle);
    void exchange.streaming.then(() => settle(undefined));
  });
}
