// Builds the MCP server (SDK v1, the 2025 protocol era) that serves the requests of one session.
// It is cheap by design: the method table is made once per registry (`createDispatcher`), so a
// server costs one SDK Server object whose only per-session facts are the negotiated client
// capabilities (restored by the caller) and the session's state.
//
// The methods themselves are the era-neutral ones of ../core/calls.ts. What is particular to this era
// lives here: session state for the logging level and subscriptions, the fulfilment of input
// requests (./input.ts: a handler's InputRequired becomes real elicitation, sampling and roots
// requests on the request's stream), and the 2025-11-25 tasks (./tasks.ts), declared without the
// SDK's own TaskStore so that the platform's task records answer.
import type { WaitUntil } from '../core/task-runner.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CfWorkerJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/cfworker-provider.js';
import {
  CallToolRequestSchema,
  CancelTaskRequestSchema,
  CompleteRequestSchema,
  GetTaskPayloadRequestSchema,
  GetTaskRequestSchema,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListTasksRequestSchema,
  ListToolsRequestSchema,
  LoggingLevelSchema,
  ReadResourceRequestSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  type JSONRPCRequest,
  type LoggingLevel,
  type ServerResult,
} from '@modelcontextprotocol/sdk/types.js';
import type { z } from 'zod';
import type { HandlerContext } from '../core/define.js';
import type { Principal } from '../auth/caller.js';
import type { SessionState } from '../core/session-state.js';
import { callTool, complete, FaultCode, getPrompt, ProtocolFault, progressNotification, readResource } from '../core/calls.js';
import { type CallProgress, type Extra, withInput } from './input.js';
import { type SessionTasks, TASKS_CAPABILITY, type TaskRequester, toolsWithTaskSupport } from './tasks.js';
import type { Registry } from '../core/registry.js';
import type { ChangeNotifier } from '../store/channel/types.js';
import { STATE_KEYS } from './state-keys.js';

const LEVELS = LoggingLevelSchema.options;

// Validates elicitation answers against the requested schema. The cfworker validator interprets
// schemas instead of compiling code (Workers forbid code generation); one instance serves all.
const sharedValidator = new CfWorkerJsonSchemaValidator();

export interface RequestScope {
  sessionId: string;
  session: SessionState;
  /** The caller's credential digest (what tasks are bound to, with the session). */
  credentialHash: string;
  principal: Principal | undefined;
  /** Ends the request's event stream early, when the session can resume it (see src/era-2025/streams.ts). */
  closeStream?: () => void;
  /** Announces changes on every instance. */
  changes: ChangeNotifier;
  /**
   * Where the request's tools/call stands, kept for a hand-over in a drain (./handover.ts); set
   * by the owner of a request that may be handed over. Its `round`, when set before the call
   * starts, is the round a handed-over call continues in.
   */
  call?: CallProgress;
  /** The runtime's waitUntil (Workers): a task the request starts runs on under it after the response. */
  waitUntil?: WaitUntil;
}

/** What a method handler gets: the validated request, the SDK's extras, the request's scope. */
interface Call<R> {
  request: R;
  extra: Extra;
  scope: RequestScope;
  server: Server;
  context(): HandlerContext;
}

interface Method<S extends z.ZodType = z.ZodType> {
  schema: S;
  handle(call: Call<z.infer<S>>): ServerResult | Promise<ServerResult>;
}

export type Dispatcher = (request: JSONRPCRequest, extra: Extra, scope: RequestScope, server: Server) => Promise<ServerResult>;

const method = <S extends z.ZodType>(schema: S, handle: Method<S>['handle']): Method => ({ schema, handle: handle as Method['handle'] });

export interface DispatcherOptions {
  /** Resources one session may be subscribed to at once; unset or 0: no limit. */
  maxSubscriptions?: number;
  /** The 2025-11-25 tasks, when some tool may become one (./tasks.ts). */
  tasks?: SessionTasks;
}

/**
 * The method table for a registry, built once. Prompts and resources exist only when some
 * toolset provides them, matching the capabilities the server declares.
 */
export function createDispatcher(registry: Registry, options: DispatcherOptions = {}): Dispatcher {
  const { tasks } = options;
  const methods = new Map<string, Method>([
    ['tools/list', method(ListToolsRequestSchema, () => (tasks ? toolsWithTaskSupport(registry) : { tools: registry.toolList }))],
    [
      'tools/call',
      method(CallToolRequestSchema, async ({ request, server, extra, scope, context }) => {
        const task = await tasks?.call(request.params, requester(server, scope), server, extra, context());
        if (task) return task;
        if (scope.call) scope.call.params = request.params;
        return withInput(server, extra, context(), (ctx) => callTool(registry, request.params, ctx), scope.call);
      }),
    ],
    // The SDK keeps the level in process memory; here it is session state, so it survives restarts.
    [
      'logging/setLevel',
      method(SetLevelRequestSchema, ({ request, scope }) => {
        scope.session.set(STATE_KEYS.loggingLevel, request.params.level);
        return {};
      }),
    ],
    ['completion/complete', method(CompleteRequestSchema, ({ request }) => complete(registry, request.params))],
  ]);
  if (tasks) {
    methods.set(
      'tasks/get',
      method(GetTaskRequestSchema, ({ request, server, scope }) => tasks.get(request.params.taskId, requester(server, scope))),
    );
    methods.set(
      'tasks/result',
      method(GetTaskPayloadRequestSchema, ({ request, server, extra, scope }) =>
        tasks.result(request.params.taskId, requester(server, scope), server, extra),
      ),
    );
    methods.set(
      'tasks/list',
      method(ListTasksRequestSchema, ({ request, server, scope }) => tasks.list(request.params?.cursor, requester(server, scope))),
    );
    methods.set(
      'tasks/cancel',
      method(CancelTaskRequestSchema, ({ request, server, scope }) => tasks.cancel(request.params.taskId, requester(server, scope))),
    );
  }
  if (registry.capabilities.prompts) {
    methods.set(
      'prompts/list',
      method(ListPromptsRequestSchema, () => ({ prompts: registry.promptList })),
    );
    methods.set(
      'prompts/get',
      method(GetPromptRequestSchema, ({ request, server, extra, context }) =>
        withInput(server, extra, context(), (ctx) => getPrompt(registry, request.params, ctx)),
      ),
    );
  }
  if (registry.capabilities.resources) {
    methods.set(
      'resources/list',
      method(ListResourcesRequestSchema, () => ({ resources: registry.resourceList })),
    );
    methods.set(
      'resources/templates/list',
      method(ListResourceTemplatesRequestSchema, () => ({ resourceTemplates: registry.templateList })),
    );
    methods.set(
      'resources/read',
      method(ReadResourceRequestSchema, ({ request, server, extra, context }) =>
        withInput(server, extra, context(), (ctx) => readResource(registry, request.params.uri, ctx)),
      ),
    );
    methods.set(
      'resources/subscribe',
      method(SubscribeRequestSchema, ({ request, scope }) => {
        subscribe(registry, scope.session, request.params.uri, options.maxSubscriptions);
        return {};
      }),
    );
    methods.set(
      'resources/unsubscribe',
      method(UnsubscribeRequestSchema, ({ request, scope }) => {
        scope.session.delete(STATE_KEYS.subscriptionPrefix + request.params.uri);
        return {};
      }),
    );
  }

  return async (request, extra, scope, server) => {
    const entry = methods.get(request.method);
    if (!entry) throw new ProtocolFault(FaultCode.MethodNotFound, `Method not found: ${request.method}`);
    const parsed = entry.schema.safeParse(request);
    if (!parsed.success) throw new ProtocolFault(FaultCode.InvalidParams, `Invalid ${request.method} request: ${parsed.error.message}`);
    return entry.handle({ request: parsed.data, extra, scope, server, context: () => handlerContext(server, scope, extra) });
  };
}

/** Who asks about tasks: the session's caller, and what a task it starts knows of the client. */
function requester(server: Server, scope: RequestScope): TaskRequester {
  return {
    caller: { credentialHash: scope.credentialHash, principal: scope.principal },
    sessionId: scope.sessionId,
    task: { principal: scope.principal, clientCapabilities: server.getClientCapabilities(), clientInfo: server.getClientVersion() },
    ...(scope.waitUntil && { waitUntil: scope.waitUntil }),
  };
}

/**
 * Records a subscription in session state, which every later request of the session loads: only
 * to what this server serves, and only so many.
 */
function subscribe(registry: Registry, session: SessionState, uri: string, max: number | undefined): void {
  const key = STATE_KEYS.subscriptionPrefix + uri;
  // A URI may be megabytes long: messages name its start only.
  const named = uri.length > 200 ? `${uri.slice(0, 200)}...` : uri;
  if (!registry.resources.has(uri) && !registry.matchTemplate(uri)) {
    throw new ProtocolFault(
      FaultCode.InvalidParams,
      `Cannot subscribe to ${named}: no resource or resource template of this server matches it`,
    );
  }
  if (session.has(key)) return;
  if (max && session.entries(STATE_KEYS.subscriptionPrefix).length >= max) {
    throw new ProtocolFault(
      FaultCode.InvalidParams,
      `Cannot subscribe to ${named}: this session is subscribed to ${max} resources already, the most it may be (sessions.max_subscriptions); unsubscribe from one first`,
    );
  }
  session.set(key, true);
}

/**
 * A server for one session, built without knowing any request: methods the SDK's Server answers
 * itself (initialize, ping) stay its own; every other request goes through the registry's
 * dispatcher, with the scope `serveScope` gives it for the request at hand.
 */
export function buildServer(registry: Pick<Registry, 'capabilities' | 'serverInfo'>, options: { tasks?: boolean } = {}): Server {
  // `logging` is left out of the constructor's capabilities: the SDK would install its own
  // in-memory logging/setLevel handler, and ours (session state) must answer instead. Tasks are
  // declared without a TaskStore: the SDK's own task handling stays off, ours answers.
  const { logging: _logging, ...rest } = registry.capabilities;
  const capabilities = { ...rest, ...(options.tasks && { tasks: TASKS_CAPABILITY }) };
  const server = new Server(registry.serverInfo, { capabilities, jsonSchemaValidator: sharedValidator });
  server.registerCapabilities({ logging: {} });
  return server;
}

/** Points the server's methods at the request being served: its session state and caller. */
export function serveScope(server: Server, dispatch: Dispatcher, scope: RequestScope): void {
  server.fallbackRequestHandler = (request, extra) => dispatch(request, extra as Extra, scope, server);
}

function handlerContext(server: Server, scope: RequestScope, extra: Extra): HandlerContext {
  return {
    era: 'session',
    sessionId: scope.sessionId,
    session: scope.session,
    principal: scope.principal,
    clientCapabilities: server.getClientCapabilities(),
    clientInfo: server.getClientVersion(),
    signal: extra.signal,
    inputResponses: undefined,
    requestState: undefined,
    async log(level, data, logger) {
      const threshold = scope.session.get<LoggingLevel>(STATE_KEYS.loggingLevel);
      if (threshold && LEVELS.indexOf(level) < LEVELS.indexOf(threshold)) return;
      await extra.sendNotification({ method: 'notifications/message', params: { level, data, ...(logger && { logger }) } });
    },
    async progress(progress, total, message) {
      const notification = progressNotification(extra._meta?.progressToken, progress, total, message);
      if (notification) await extra.sendNotification(notification);
    },
    notify: (notification) => extra.sendNotification(notification),
    closeStream: scope.closeStream,
    changes: scope.changes,
  };
}
