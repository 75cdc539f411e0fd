// The 2026-07-28 leg: stateless requests, each carrying its own `_meta` envelope. The SDK v2's
// `createMcpHandler` owns the protocol (envelope and header validation, server/discover,
// subscriptions/listen, removed methods, the input_required seam, serverInfo and caching fields);
// this module gives it a server per request built from the same registry the 2025 sessions use.
//
// Building that server costs no schema work: the registry converted every schema once at start,
// and the per-request server only points the methods at it. The server is an McpServer (the SDK
// checks `Mcp-Param-*` headers only for those) whose tool schemas come from the registry.
import {
  CLIENT_CAPABILITIES_META_KEY,
  CLIENT_INFO_META_KEY,
  type CacheHint,
  createMcpHandler,
  type InputRequiredResult,
  type ListToolsResult,
  type ReadResourceResult,
  McpServer,
  type ServerCapabilities as ModernCapabilities,
  type ServerContext,
} from '@modelcontextprotocol/server';
import type { CallToolResult, Implementation } from '@modelcontextprotocol/sdk/types.js';
import { CfWorkerJsonSchemaValidator } from '@modelcontextprotocol/server/validators/cf-worker';
import type { Caller } from '../auth/caller.js';
import { beforeTask, callTool, complete, getPrompt, progressNotification, readResource } from '../core/calls.js';
import type { Registry } from '../core/registry.js';
import type { WaitUntil } from '../core/task-runner.js';
import { errorText, type Logger } from '../log.js';
import { CUT_OFF_BY_RESTART, unavailable } from '../http/errors.js';
import { sseEvent } from '../http/sse.js';
import { StoreUnavailableError } from '../store/errors.js';
import { type HandlerContext, type InputRequired, isInputRequired } from '../core/define.js';
import type { Channel, ChangeNotifier, Json } from '../store/channel/types.js';
import { channelEventBus } from './bus.js';
import { listenToTasks, namesTasks } from './task-listen.js';
import { taskCreated } from '../telemetry/tasks.js';
import type { CacheHints } from './caching.js';
import type { RequestStateSeal } from './request-state.js';
import {
  capGroupOf,
  createTaskResult,
  declaresTasks,
  waitUntilOf,
  type ModernTasksOptions,
  registerTaskMethods,
  TASKS_EXTENSION,
  tasksRequired,
  type OutageNote,
  withStore,
} from './tasks.js';

export interface ModernLegOptions {
  registry: Registry;
  seal: RequestStateSeal;
  caching: CacheHints;
  /** Carries change events between instances, for `subscriptions/listen` streams. */
  channel: Channel;
  /** What tools get as `ctx.changes`: announces changes on every instance. */
  changes: ChangeNotifier;
  maxBodyBytes: number;
  /**
   * Longest a `subscriptions/listen` stream stays open (0: no limit); the client listens again.
   * A polling channel reads while a stream is open, so there it has a limit by default.
   */
  listenTimeoutMs: number;
  /** The tasks extension: offered when some tool may become a task. */
  tasks: ModernTasksOptions;
  logger: Logger;
}

export interface ModernLeg {
  /**
   * Serves one 2026-07-28 request (or answers it with the protocol's error). `waitUntil`, where the
   * runtime lends one, keeps a task the request starts running after the response.
   */
  handle(request: Request, caller: Caller, parsedBody: unknown, waitUntil?: WaitUntil): Promise<Response>;
  /** Ends the open `subscriptions/listen` streams (shutdown: their clients listen elsewhere). */
  closeStreams(): void;
  /** How many `subscriptions/listen` streams are open. */
  readonly openStreams: number;
  /**
   * The drain's grace period is over: each request still served is answered with a JSON-RPC error
   * saying a restart cut it off (503 with Retry-After while nothing was sent; an error event on its
   * stream once it streams) and its handler is stopped; resolves once they are answered.
   */
  cutOffCalls(): Promise<void>;
  close(): Promise<void>;
}

/** Methods whose handlers may return or receive requestState (input_required). */
const STATEFUL_METHODS = new Set(['tools/call', 'prompts/get', 'resources/read']);

/** Workers forbid code generation: the cfworker validator interprets schemas instead. */
const validator = new CfWorkerJsonSchemaValidator();

/** The registry's precomputed tool schemas (kept current by the registry), for the SDK's `Mcp-Param-*` header check. */
class RegistryServer extends McpServer {
  readonly #schemas: ReadonlyMap<string, Record<string, unknown>>;

  constructor(
    info: Implementation,
    schemas: ReadonlyMap<string, Record<string, unknown>>,
    options: ConstructorParameters<typeof McpServer>[1],
  ) {
    super(info, options);
    this.#schemas = schemas;
  }

  override toolInputSchemaJson(name: string): Record<string, unknown> | undefined {
    return this.#schemas.get(name);
  }
}

export function createModernLeg(options: ModernLegOptions): ModernLeg {
  const { registry, seal, caching, logger } = options;
  const schemas = registry.inputSchemas;
  const offersTasks = [...registry.tools.values()].some((tool) => tool.task.support !== 'never');
  const capabilities = {
    ...registry.capabilities,
    ...(offersTasks && { extensions: { [TASKS_EXTENSION]: {} } }),
  } as ModernCapabilities;
  const cacheHints: Record<string, CacheHint> = {
    'tools/list': caching.lists,
    'prompts/list': caching.lists,
    'resources/list': caching.lists,
    'resources/templates/list': caching.lists,
  };

  const buildServer = () => {
    const mcp = new RegistryServer(registry.serverInfo, schemas, {
      requestState: { verify: seal.verify },
      cacheHints,
      jsonSchemaValidator: validator,
    });
    const server = mcp.server;
    // Declared after construction, so that McpServer installs none of its own handlers.
    server.registerCapabilities(capabilities);
    server.setRequestHandler('tools/list', () => ({ tools: registry.toolList as ListToolsResult['tools'] }));
    server.setRequestHandler('tools/call', async (request, ctx) => {
      const target = targetOf(`tools/call ${request.params.name}`, request.params.arguments ?? {});
      const handlerCtx = await handlerContext(ctx, target);
      const task = registry.tools.get(request.params.name)?.task;
      if (task && task.support !== 'never') {
        if (declaresTasks(handlerCtx.clientCapabilities)) return startTask(request.params, handlerCtx, target, ctx, task.rerunnable);
        // Refused before anything runs; an optional one is answered in the request, after the
        // input it gathers first, as in a task.
        if (task.support === 'required') throw tasksRequired(`tool ${request.params.name}`);
        const before = await beforeTask(registry, request.params, handlerCtx);
        if ('answer' in before) return isInputRequired(before.answer) ? sealInput(before.answer, target, ctx) : before.answer;
      }
      const result = await callTool(registry, request.params, handlerCtx);
      return isInputRequired(result) ? sealInput(result, target, ctx) : result;
    });
    if (offersTasks) registerTaskMethods(server, options.tasks, taskRequest);
    server.setRequestHandler('completion/complete', (request) => complete(registry, request.params));
    if (registry.capabilities.prompts) {
      server.setRequestHandler('prompts/list', () => ({ prompts: registry.promptList }));
      server.setRequestHandler('prompts/get', async (request, ctx) => {
        const target = targetOf(`prompts/get ${request.params.name}`, request.params.arguments ?? {});
        const result = await getPrompt(registry, request.params, await handlerContext(ctx, target));
        return isInputRequired(result) ? sealInput(result, target, ctx) : result;
      });
    }
    if (registry.capabilities.resources) {
      server.setRequestHandler('resources/list', () => ({ resources: registry.resourceList }));
      server.setRequestHandler('resources/templates/list', () => ({ resourceTemplates: registry.templateList }));
      server.setRequestHandler('resources/read', async (request, ctx) => {
        const { uri } = request.params;
        const target = targetOf(`resources/read ${uri}`, undefined);
        const result = await readResource(registry, uri, await handlerContext(ctx, target));
        if (isInputRequired(result)) return sealInput(result, target, ctx);
        return { ...caching.read(uri), ...(result as ReadResourceResult) };
      });
    }
    server.onerror = (error) => logger.debug('mcp server error', { era: '2026-07-28', error: errorText(error) });
    return mcp;
  };

  /**
   * A tools/call that becomes a task: the input the tool gathers first (in this request, like any
   * multi-round-trip call), then the record stored, then the answer, then the work, here.
   */
  async function startTask(
    params: { name: string; arguments?: Record<string, unknown> },
    ctx: HandlerContext,
    target: Target,
    serverCtx: ServerContext,
    rerunnable: boolean,
  ) {
    const before = await beforeTask(registry, params, ctx);
    if ('answer' in before) return isInputRequired(before.answer) ? sealInput(before.answer, target, serverCtx) : before.answer;
    const { caller, task: taskCaller } = taskRequest(serverCtx);
    const { store, runner, ttlMs, pollIntervalMs } = options.tasks;
    const record = await withStore(serverCtx, () =>
      store.create({
        credentialHash: caller.credentialHash,
        capGroup: capGroupOf(caller),
        tool: params.name,
        arguments: before.args as Record<string, Json>,
        ttlMs,
        rerunnable,
        lease: { owner: runner.owner, ms: runner.leaseMs },
        caller: taskCaller,
        ...(ctx.inputResponses && { inputResponses: ctx.inputResponses as unknown as Record<string, Json> }),
      }),
    );
    taskCreated(record);
    void runner.start(record, waitUntilOf(serverCtx));
    return createTaskResult(record, pollIntervalMs) as unknown as CallToolResult;
  }

  /** Who sends a request about tasks, and whether its envelope declares the extension. */
  function taskRequest(ctx: ServerContext) {
    const caller = callerOf(ctx);
    if (!caller) throw new Error('a 2026-07-28 request reached the tasks extension without its caller');
    const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
    const clientCapabilities = envelope?.[CLIENT_CAPABILITIES_META_KEY] as HandlerContext['clientCapabilities'];
    return {
      caller,
      declared: declaresTasks(clientCapabilities),
      task: { principal: caller.principal, clientCapabilities, clientInfo: envelope?.[CLIENT_INFO_META_KEY] as Implementation | undefined },
    };
  }

  /** A handler's InputRequired, with its state sealed for the trip through the client. */
  async function sealInput(result: InputRequired, target: Target, ctx: ServerContext): Promise<InputRequiredResult> {
    const { requestState, ...rest } = result;
    if (requestState === undefined) return rest;
    return { ...rest, requestState: await seal.seal(requestState, await target(), ctx) };
  }

  async function handlerContext(ctx: ServerContext, target: Target): Promise<HandlerContext> {
    const { mcpReq } = ctx;
    const verified = mcpReq.requestState();
    const caller = callerOf(ctx);
    // The SDK's envelope type is opaque; its keys are the specification's.
    const envelope = mcpReq.envelope as Record<string, unknown> | undefined;
    return {
      era: 'stateless',
      sessionId: undefined,
      session: undefined,
      principal: caller?.principal,
      clientCapabilities: envelope?.[CLIENT_CAPABILITIES_META_KEY] as HandlerContext['clientCapabilities'],
      clientInfo: envelope?.[CLIENT_INFO_META_KEY] as HandlerContext['clientInfo'],
      signal: mcpReq.signal,
      inputResponses: mcpReq.inputResponses as HandlerContext['inputResponses'],
      requestState: verified === undefined ? undefined : seal.open(verified, await target()),
      log: (level, data, logger) => mcpReq.log(level, data, logger),
      async progress(progress, total, message) {
        const notification = progressNotification(mcpReq._meta?.progressToken, progress, total, message);
        if (notification) await mcpReq.notify(notification);
      },
      notify: (notification) => mcpReq.notify(notification),
      changes: options.changes,
      closeStream: undefined,
    };
  }

  const handler = createMcpHandler(buildServer, {
    legacy: 'reject',
    maxRequestBodySize: options.maxBodyBytes,
    bus: channelEventBus(options.channel, logger),
    onerror: (error) => logger.debug('2026-07-28 request refused or failed', { error: errorText(error) }),
  });

  // The open listen streams, each ended by its own signal: the SDK ends a listen stream when its
  // request's signal aborts, so a stream can be ended (shutdown, timeout) without touching the
  // calls in flight.
  const listens = new Set<AbortController>();
  const listenRequest = (request: Request): { served: Request; end: () => void } => {
    const stop = new AbortController();
    listens.add(stop);
    const timer = options.listenTimeoutMs > 0 ? setTimeout(() => stop.abort(), options.listenTimeoutMs) : undefined;
    const end = () => {
      clearTimeout(timer);
      listens.delete(stop);
      // The host's signal may outlive the stream (ended by timeout or shutdown): let go of it.
      request.signal.removeEventListener('abort', end);
      stop.abort();
    };
    if (request.signal.aborted) end();
    else request.signal.addEventListener('abort', end, { once: true });
    stop.signal.addEventListener('abort', end, { once: true });
    // The body was read already (the SDK is handed it parsed); only the signal is new.
    return { served: new Request(request.url, { method: request.method, headers: request.headers, signal: stop.signal }), end };
  };

  /** A listen stream: the SDK's, or ours when its filter names tasks (task-listen.ts). */
  const listen = async (
    request: Request,
    caller: Caller,
    parsedBody: unknown,
    fetch: (served: Request, body?: unknown) => Promise<Response>,
  ): Promise<Response> => {
    const { served, end } = listenRequest(request);
    if (!namesTasks(parsedBody)) return fetch(served);
    try {
      const { channel, tasks } = options;
      const response = await listenToTasks({
        body: parsedBody,
        caller,
        tasks,
        channel,
        signal: served.signal,
        logger,
        rest: (body) => fetch(served, body),
      });
      if (!(response.headers.get('content-type') ?? '').includes('text/event-stream')) end();
      return response;
    } catch (error) {
      end();
      if (!(error instanceof StoreUnavailableError)) throw error;
      logger.warn('session store unavailable', { era: '2026-07-28', error: error.message });
      return unavailable(error.publicMessage);
    }
  };

  // The calls being served (every request but listen streams), each cut off by its own function.
  const calls = new Set<() => void>();
  /** Serves a call so that a drain can cut it off with an answer instead of a dropped connection. */
  const cuttable = async (request: Request, parsedBody: unknown, serve: (request: Request) => Promise<Response>): Promise<Response> => {
    const stop = new AbortController();
    const abort = () => stop.abort();
    if (request.signal.aborted) abort();
    else request.signal.addEventListener('abort', abort, { once: true });
    let cut!: () => void;
    const cutOff = new Promise<'cut'>((resolve) => (cut = () => resolve('cut')));
    calls.add(cut);
    const id = (parsedBody as { id?: unknown } | undefined)?.id;
    const answer = { jsonrpc: '2.0', id: typeof id === 'string' || typeof id === 'number' ? id : null, error: CUT_OFF_BY_RESTART };
    const release = () => {
      calls.delete(cut);
      request.signal.removeEventListener('abort', abort);
    };
    try {
      const served = serve(new Request(request.url, { method: request.method, headers: request.headers, signal: stop.signal }));
      const first = await Promise.race([served, cutOff]);
      if (first === 'cut') {
        stop.abort();
        void served.then((response) => response.body?.cancel()).catch(() => {});
        release();
        return new Response(JSON.stringify(answer), { status: 503, headers: { 'Content-Type': 'application/json', 'Retry-After': '1' } });
      }
      if (!first.body || !(first.headers.get('content-type') ?? '').includes('text/event-stream')) {
        release();
        return first;
      }
      return new Response(
        cutStream(first.body, cutOff, answer, () => {
          stop.abort();
          release();
        }),
        first,
      );
    } catch (error) {
      release();
      throw error;
    }
  };

  return {
    async cutOffCalls() {
      for (const cut of [...calls]) cut();
    },
    async handle(request, caller, parsedBody, waitUntil) {
      // The methods that may carry or hand out requestState need its key, which may live in the
      // database: loaded first, so that a database outage is a 503 like on the 2025 leg, not an
      // error inside the protocol that says where the database is, or that valid state is invalid.
      if (STATEFUL_METHODS.has((parsedBody as { method?: unknown } | undefined)?.method as string)) {
        try {
          await seal.ready();
        } catch (error) {
          if (!(error instanceof StoreUnavailableError)) throw error;
          logger.warn('session store unavailable', { era: '2026-07-28', error: error.message });
          return unavailable(error.publicMessage);
        }
      }
      const listening = (parsedBody as { method?: unknown } | undefined)?.method === 'subscriptions/listen';
      const outage: OutageNote = {};
      const fetch = (served: Request, body: unknown = parsedBody) =>
        handler.fetch(served, {
          // The caller digest binds requestState; the token itself is never passed on.
          authInfo: { token: '', clientId: caller.credentialHash, scopes: [], extra: { caller, outage, waitUntil } },
          ...(body !== undefined && { parsedBody: body }),
        });
      // The body was read already (the SDK is handed it parsed), so the request may be remade with a signal of its own.
      const response = listening
        ? await listen(request, caller, parsedBody, fetch)
        : parsedBody === undefined
          ? await fetch(request)
          : await cuttable(request, parsedBody, fetch);
      // A task operation found the store away: answered as every outage is (its error said nothing more).
      if (outage.error) {
        logger.warn('session store unavailable', { era: '2026-07-28', error: outage.error.message });
        return unavailable(outage.error.publicMessage);
      }
      return response;
    },
    closeStreams() {
      for (const stop of listens) stop.abort();
    },
    get openStreams() {
      return listens.size;
    },
    close: () => handler.close(),
  };
}

/**
 * A call's event stream that a drain can end with the cut-off error: what the SDK writes passes
 * through until `cutOff` resolves, then the error goes out as the last event. `done` runs once the
 * stream ended, whichever way.
 */
function cutStream(
  inner: ReadableStream<Uint8Array>,
  cutOff: Promise<'cut'>,
  answer: unknown,
  done: () => void,
): ReadableStream<Uint8Array> {
  const reader = inner.getReader();
  let over = false;
  const finish = () => {
    if (over) return;
    over = true;
    done();
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await Promise.race([reader.read(), cutOff]);
      if (next === 'cut') {
        controller.enqueue(new TextEncoder().encode(sseEvent(answer)));
        controller.close();
        finish();
        void reader.cancel().catch(() => {});
        return;
      }
      if (next.done) {
        controller.close();
        finish();
      } else controller.enqueue(next.value);
    },
    async cancel(reason) {
      finish();
      await reader.cancel(reason);
    },
  });
}

/** The request a requestState belongs to, worked out only when state is minted or redeemed. */
type Target = () => Promise<string>;

/**
 * Method, name (or URI) and a digest of the arguments: state minted for one call is refused by a
 * call with other arguments (the client sends the same arguments again with its answers).
 */
function targetOf(name: string, args: unknown): Target {
  let target: Promise<string> | undefined;
  return () =>
    (target ??= (async () => {
      if (args === undefined) return name;
      const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(canonicalJson(args)));
      return `${name} ${btoa(String.fromCharCode(...new Uint8Array(digest)))}`;
    })());
}

/** JSON with object keys in order, so that equal values give equal text. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function callerOf(ctx: ServerContext): Caller | undefined {
  return (ctx.http?.authInfo?.extra as { caller?: Caller } | undefined)?.caller;
}
