// Builds the MCP server that serves one HTTP request of one session. It is cheap by design: the
// method table is made once per registry (`createDispatcher`), so a request costs one SDK Server
// object whose only per-session facts are the negotiated client capabilities (restored by the
// caller) and the session's state.
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CfWorkerJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/cfworker-provider.js';
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  ErrorCode,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  LoggingLevelSchema,
  McpError,
  ReadResourceRequestSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  type CallToolResult,
  type JSONRPCRequest,
  type LoggingLevel,
  type ServerNotification,
  type ServerRequest,
  type ServerResult,
} from '@modelcontextprotocol/sdk/types.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { z } from 'zod';
import type { HandlerContext, Principal, ToolOutput } from '../tools/define.js';
import type { SessionState } from '../sessions/state.js';
import type { Registry } from './registry.js';
import type { ChangeNotifier } from '../channel/types.js';

export const SERVER_INFO = { name: 'mcp-baton', version: '0.1.0' };

/** State keys the protocol layer owns (toolsets use their own prefixes). */
export const STATE_KEYS = {
  loggingLevel: 'mcp.logging_level',
  subscriptionPrefix: 'mcp.sub:',
} as const;

const LEVELS = LoggingLevelSchema.options;

// Validates elicitation answers against the requested schema. The cfworker validator interprets
// schemas instead of compiling code (Workers forbid code generation); one instance serves all.
const sharedValidator = new CfWorkerJsonSchemaValidator();

export interface RequestScope {
  sessionId: string;
  session: SessionState;
  principal: Principal | undefined;
  /** Ends the request's event stream early, when the session can resume it (see src/sessions/streams.ts). */
  closeStream?: () => void;
  /** Announces changes on every instance. */
  changes: ChangeNotifier;
}

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

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

/**
 * The method table for a registry, built once. Prompts and resources exist only when some
 * toolset provides them, matching the capabilities the server declares.
 */
export function createDispatcher(registry: Registry): Dispatcher {
  const methods = new Map<string, Method>([
    ['tools/list', method(ListToolsRequestSchema, () => ({ tools: registry.toolList }))],
    ['tools/call', method(CallToolRequestSchema, (call) => callTool(registry, call))],
    // The SDK keeps the level in process memory; here it is session state, so it survives restarts.
    [
      'logging/setLevel',
      method(SetLevelRequestSchema, ({ request, scope }) => {
        scope.session.set(STATE_KEYS.loggingLevel, request.params.level);
        return {};
      }),
    ],
    ['completion/complete', method(CompleteRequestSchema, (call) => complete(registry, call))],
  ]);
  if (registry.capabilities.prompts) {
    methods.set(
      'prompts/list',
      method(ListPromptsRequestSchema, () => ({ prompts: registry.promptList })),
    );
    methods.set(
      'prompts/get',
      method(GetPromptRequestSchema, ({ request, context }) => {
        const prompt = registry.prompts.get(request.params.name);
        if (!prompt) throw new McpError(ErrorCode.InvalidParams, `Unknown prompt: ${request.params.name}`);
        const args = request.params.arguments ?? {};
        for (const [name, arg] of Object.entries(prompt.arguments ?? {})) {
          if (arg.required && args[name] === undefined) {
            throw new McpError(ErrorCode.InvalidParams, `Prompt ${prompt.name}: missing required argument "${name}"`);
          }
        }
        return prompt.get(args, context());
      }),
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
      method(ReadResourceRequestSchema, ({ request, context }) => {
        const { uri } = request.params;
        const resource = registry.resources.get(uri);
        if (resource) return resource.read(context());
        const match = registry.matchTemplate(uri);
        if (match) return match.template.definition.read(uri, match.variables, context());
        throw new McpError(-32002, `Resource not found: ${uri}`, { uri });
      }),
    );
    methods.set(
      'resources/subscribe',
      method(SubscribeRequestSchema, ({ request, scope }) => {
        scope.session.set(STATE_KEYS.subscriptionPrefix + request.params.uri, true);
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
    if (!entry) throw new McpError(ErrorCode.MethodNotFound, `Method not found: ${request.method}`);
    const parsed = entry.schema.safeParse(request);
    if (!parsed.success) throw new McpError(ErrorCode.InvalidParams, `Invalid ${request.method} request: ${parsed.error.message}`);
    return entry.handle({ request: parsed.data, extra, scope, server, context: () => handlerContext(server, scope, extra) });
  };
}

/**
 * A server for one session, built without knowing any request: methods the SDK's Server answers
 * itself (initialize, ping) stay its own; every other request goes through the registry's
 * dispatcher, with the scope `serveScope` gives it for the request at hand.
 */
export function buildServer(capabilities: Registry['capabilities']): Server {
  // `logging` is left out of the constructor's capabilities: the SDK would install its own
  // in-memory logging/setLevel handler, and ours (session state) must answer instead.
  const { logging: _logging, ...rest } = capabilities;
  const server = new Server(SERVER_INFO, { capabilities: rest, jsonSchemaValidator: sharedValidator });
  server.registerCapabilities({ logging: {} });
  return server;
}

/** Points the server's methods at the request being served: its session state and caller. */
export function serveScope(server: Server, dispatch: Dispatcher, scope: RequestScope): void {
  server.fallbackRequestHandler = (request, extra) => dispatch(request, extra as Extra, scope, server);
}

function handlerContext(server: Server, scope: RequestScope, extra: Extra): HandlerContext {
  return {
    sessionId: scope.sessionId,
    session: scope.session,
    principal: scope.principal,
    clientCapabilities: server.getClientCapabilities(),
    clientInfo: server.getClientVersion(),
    signal: extra.signal,
    async log(level, data, logger) {
      const threshold = scope.session.get<LoggingLevel>(STATE_KEYS.loggingLevel);
      if (threshold && LEVELS.indexOf(level) < LEVELS.indexOf(threshold)) return;
      await extra.sendNotification({ method: 'notifications/message', params: { level, data, ...(logger && { logger }) } });
    },
    async progress(progress, total, message) {
      const progressToken = extra._meta?.progressToken;
      if (progressToken === undefined) return;
      await extra.sendNotification({
        method: 'notifications/progress',
        params: { progressToken, progress, ...(total !== undefined && { total }), ...(message && { message }) },
      });
    },
    elicit: (params) => server.elicitInput({ ...params, mode: 'form' }, { relatedRequestId: extra.requestId }),
    sample: (params) => server.createMessage(params, { relatedRequestId: extra.requestId }),
    notify: (notification) => extra.sendNotification(notification),
    closeStream: scope.closeStream,
    changes: scope.changes,
  };
}

async function callTool(registry: Registry, { request, context }: Call<z.infer<typeof CallToolRequestSchema>>): Promise<CallToolResult> {
  const compiled = registry.tools.get(request.params.name);
  if (!compiled) throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${request.params.name}`);
  const parsed = compiled.validator.safeParse(request.params.arguments ?? {});
  if (!parsed.success) {
    return errorResult(
      `Invalid arguments for tool ${request.params.name}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
    );
  }
  const ctx = context();
  const args = parsed.data as Record<string, unknown>;
  const run = async (index: number): Promise<ToolOutput> => {
    const middleware = registry.middleware[index];
    if (middleware) return middleware({ tool: compiled.definition, args }, ctx, () => run(index + 1));
    return compiled.definition.handler(args, ctx);
  };
  try {
    const { references: _references, ...result } = await run(0);
    return result;
  } catch (error) {
    if (error instanceof McpError) throw error;
    return errorResult(error instanceof Error ? error.message : String(error));
  }
}

async function complete(registry: Registry, { request }: Call<z.infer<typeof CompleteRequestSchema>>) {
  const { ref, argument, context: completionContext } = request.params;
  const known = completionContext?.arguments ?? {};
  let suggest: ((value: string, context: Record<string, string>) => string[] | Promise<string[]>) | undefined;
  if (ref.type === 'ref/prompt') {
    const prompt = registry.prompts.get(ref.name);
    if (!prompt) throw new McpError(ErrorCode.InvalidParams, `Unknown prompt: ${ref.name}`);
    suggest = prompt.arguments?.[argument.name]?.complete;
  } else {
    const template = registry.templates.find((t) => t.definition.uriTemplate === ref.uri);
    if (!template && !registry.resources.has(ref.uri)) throw new McpError(ErrorCode.InvalidParams, `Unknown resource: ${ref.uri}`);
    suggest = template?.definition.complete?.[argument.name];
  }
  const values = suggest ? await suggest(argument.value, known) : [];
  return { completion: { values: values.slice(0, 100), total: values.length, hasMore: values.length > 100 } };
}

function errorResult(message: string): CallToolResult {
  return { content: [{ type: 'text', text: message }], isError: true };
}
