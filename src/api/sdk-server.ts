// Serving an existing SDK server's tools, prompts and resources through mcp-baton. The user's
// registration function runs once, on a real `McpServer` of the SDK (v1), when the platform
// starts; that server then stays in the process, connected to a transport of ours, and every call
// is forwarded to it as the JSON-RPC request its own client would send. Only the SDK's public
// surface is used: the lists come from tools/list, prompts/list, resources/list and
// resources/templates/list, read again whenever the SDK server says one changed (it does when
// something is registered, removed, enabled or changed after start); validation, output schemas
// and error results stay the SDK's.
//
// What a handler sends during a call comes back to that call's context: log messages go through
// `ctx.log` (the real client's log level applies), progress through `ctx.progress`, anything else
// through `ctx.notify`. The caller reaches the handler as `extra.authInfo` (see authInfoOf); the
// client's own `_meta` and the session id do not. A handler that asks the client something in the middle of a call
// (elicitInput, createMessage, listRoots) is refused by its own SDK server, which was told of no
// client capability: in the 2026-07-28 era there is no connection to ask on. Such a tool is
// ported by returning `inputRequired(...)` (docs/api.md).
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  type CallToolResult,
  type CompleteResult,
  type GetPromptResult,
  type JSONRPCMessage,
  LATEST_PROTOCOL_VERSION,
  type LoggingLevel,
  type Prompt,
  type ReadResourceResult,
  type Resource,
  type ResourceTemplate,
  type ServerNotification,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import { UriTemplate } from '@modelcontextprotocol/sdk/shared/uriTemplate.js';
import { FaultCode, ProtocolFault } from '../core/calls.js';
import { errorText } from '../log.js';
import type { Principal } from '../auth/caller.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type {
  HandlerContext,
  PromptArgument,
  PromptDefinition,
  ResourceDefinition,
  ResourceTemplateDefinition,
  ToolDefinition,
  Toolset,
} from '../core/define.js';
import type { ToolsetFactory } from '../tools/index.js';

/** A function that registers tools, prompts and resources on an SDK server, as written for the SDK. */
export type SdkRegistration = (server: McpServer) => void | Promise<void>;

export interface SdkServerOptions {
  /** The toolset's description (for the operator; clients do not see it). */
  description?: string;
}

/** What a JSON-RPC error answer carries. */
interface WireError {
  code: number;
  message: string;
  data?: unknown;
}

interface Pending {
  resolve(result: unknown): void;
  reject(error: ProtocolFault): void;
  /** The call's context, for what the handler sends while it runs; none for the lists. */
  ctx: HandlerContext | undefined;
}

const LIST_CHANGED = new Set([
  'notifications/tools/list_changed',
  'notifications/prompts/list_changed',
  'notifications/resources/list_changed',
]);

/**
 * The SDK server's peer: it plays the client, in process. Requests get ids of their own, so that
 * what the server sends with a `relatedRequestId` finds the call it belongs to.
 */
class InProcessPeer implements Transport {
  onmessage?: Transport['onmessage'];
  onclose?: () => void;
  onerror?: (error: Error) => void;
  /** The SDK server said that one of its lists changed (a `list_changed` notification). */
  onListChanged?: () => void;
  readonly #pending = new Map<number, Pending>();
  #next = 0;

  async start(): Promise<void> {}

  async close(): Promise<void> {
    for (const pending of this.#pending.values()) pending.reject(new ProtocolFault(FaultCode.InternalError, 'the SDK server was closed'));
    this.#pending.clear();
    this.onclose?.();
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if ('id' in message && ('result' in message || 'error' in message)) {
      const pending = this.#pending.get(Number(message.id));
      if (!pending) return;
      this.#pending.delete(Number(message.id));
      if ('error' in message) {
        const { code, message: text, data } = message.error as WireError;
        pending.reject(new ProtocolFault(code, text, data));
      } else {
        pending.resolve(message.result);
      }
      return;
    }
    if ('id' in message && 'method' in message) {
      // A request to the client in the middle of a call: there is no connection to carry it.
      this.onmessage?.({
        jsonrpc: '2.0',
        id: message.id,
        error: {
          code: FaultCode.MethodNotFound,
          message: `${message.method} is not available to a server served through fromSdkServer: return inputRequired(...) from a tool declared with defineTool instead (docs/api.md)`,
        },
      });
      return;
    }
    if ('method' in message && LIST_CHANGED.has(message.method)) {
      this.onListChanged?.();
      return;
    }
    const related = options?.relatedRequestId;
    const ctx = related === undefined ? undefined : this.#pending.get(Number(related))?.ctx;
    if (ctx) await deliver(message as ServerNotification, ctx);
  }

  /** Sends a request to the SDK server; resolves with its result, rejects with its error. */
  request<T>(method: string, params: Record<string, unknown>, ctx?: HandlerContext): Promise<T> {
    if (ctx?.signal.aborted) return Promise.reject(new ProtocolFault(FaultCode.InternalError, 'cancelled'));
    const id = ++this.#next;
    return new Promise<T>((resolve, reject) => {
      const cancel = () => {
        if (!this.#pending.delete(id)) return;
        this.onmessage?.({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: 'the client cancelled' } });
        reject(new ProtocolFault(FaultCode.InternalError, 'cancelled'));
      };
      const settle =
        <A>(then: (value: A) => void) =>
        (value: A) => {
          ctx?.signal.removeEventListener('abort', cancel);
          then(value);
        };
      this.#pending.set(id, { resolve: settle(resolve as (result: unknown) => void), reject: settle(reject), ctx });
      ctx?.signal.addEventListener('abort', cancel, { once: true });
      // Progress is always asked for: ctx.progress passes it on only when the real client asked.
      const meta = ctx ? { _meta: { progressToken: id } } : {};
      const authInfo = ctx?.principal && authInfoOf(ctx.principal);
      this.onmessage?.({ jsonrpc: '2.0', id, method, params: { ...params, ...meta } }, authInfo ? { authInfo } : undefined);
    });
  }

  notify(method: string): void {
    this.onmessage?.({ jsonrpc: '2.0', method });
  }
}

/**
 * The caller as an SDK handler reads it (`extra.authInfo`): who (`clientId`: the API key's id, or
 * the JWT's issuer and subject), the JWT's scopes and expiry, and how it authenticated. The
 * credential itself is not passed on (`token` is empty): it was checked already.
 */
function authInfoOf(principal: Principal): AuthInfo {
  const claims = principal.claims ?? {};
  const scope = claims.scope ?? claims.scp;
  const scopes = typeof scope === 'string' ? scope.split(' ').filter(Boolean) : Array.isArray(scope) ? scope.map(String) : [];
  return {
    token: '',
    clientId: principal.id,
    scopes,
    ...(typeof claims.exp === 'number' && { expiresAt: claims.exp }),
    extra: { method: principal.method, ...(principal.claims && { claims: principal.claims }) },
  };
}

/** What the SDK server sends during a call, passed on through the call's context. */
async function deliver(notification: ServerNotification, ctx: HandlerContext): Promise<void> {
  if (notification.method === 'notifications/message') {
    const { level, data, logger } = notification.params as { level: LoggingLevel; data: unknown; logger?: string };
    return ctx.log(level, data, logger);
  }
  if (notification.method === 'notifications/progress') {
    const { progress, total, message } = notification.params as { progress: number; total?: number; message?: string };
    return ctx.progress(progress, total, message);
  }
  return ctx.notify(notification);
}

/** Every page of a list, or nothing when the SDK server has no such method (nothing registered). */
async function listAll<T>(peer: InProcessPeer, method: string, key: string): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  do {
    let page: Record<string, unknown>;
    try {
      page = await peer.request<Record<string, unknown>>(method, cursor === undefined ? {} : { cursor });
    } catch (error) {
      if (error instanceof ProtocolFault && error.code === FaultCode.MethodNotFound) return items;
      throw error;
    }
    items.push(...((page[key] as T[] | undefined) ?? []));
    cursor = typeof page.nextCursor === 'string' ? page.nextCursor : undefined;
  } while (cursor !== undefined);
  return items;
}

function toolFrom(peer: InProcessPeer, tool: Tool): ToolDefinition {
  return {
    name: tool.name,
    ...(tool.title && { title: tool.title }),
    description: tool.description ?? '',
    input: {},
    uncheckedInput: true,
    inputJsonSchema: tool.inputSchema,
    ...(tool.outputSchema && { outputJsonSchema: tool.outputSchema }),
    ...(tool.annotations && { annotations: tool.annotations }),
    ...(tool.icons && { icons: tool.icons }),
    ...(tool._meta && { _meta: tool._meta }),
    handler: (args, ctx) => peer.request<CallToolResult>('tools/call', { name: tool.name, arguments: args }, ctx),
  };
}

/** Suggestions from the SDK server's completion/complete; none when it offers none. */
async function suggestions(peer: InProcessPeer, ref: Record<string, string>, name: string, value: string, context: Record<string, string>) {
  try {
    const answer = await peer.request<CompleteResult>('completion/complete', {
      ref,
      argument: { name, value },
      ...(Object.keys(context).length > 0 && { context: { arguments: context } }),
    });
    return answer.completion.values;
  } catch {
    return [];
  }
}

function promptFrom(peer: InProcessPeer, prompt: Prompt): PromptDefinition {
  const ref = { type: 'ref/prompt', name: prompt.name };
  const args: Record<string, PromptArgument> = {};
  for (const argument of prompt.arguments ?? []) {
    args[argument.name] = {
      ...(argument.description && { description: argument.description }),
      required: argument.required ?? false,
      complete: (value, context) => suggestions(peer, ref, argument.name, value, context),
    };
  }
  return {
    name: prompt.name,
    ...(prompt.title && { title: prompt.title }),
    description: prompt.description ?? '',
    ...(prompt.icons && { icons: prompt.icons }),
    ...(prompt._meta && { _meta: prompt._meta }),
    ...(prompt.arguments && { arguments: args }),
    get: (values, ctx) => peer.request<GetPromptResult>('prompts/get', { name: prompt.name, arguments: values }, ctx),
  };
}

const readThrough = (peer: InProcessPeer, uri: string, ctx: HandlerContext) =>
  peer.request<ReadResourceResult>('resources/read', { uri }, ctx);

/** Listed as the SDK server lists it (annotations, size, icons, _meta included). */
function resourceFrom(peer: InProcessPeer, resource: Resource): ResourceDefinition {
  return { ...resource, read: (ctx) => readThrough(peer, resource.uri, ctx) };
}

function templateFrom(peer: InProcessPeer, template: ResourceTemplate): ResourceTemplateDefinition {
  const { uriTemplate } = template;
  const ref = { type: 'ref/resource', uri: uriTemplate };
  const complete = Object.fromEntries(
    new UriTemplate(uriTemplate).variableNames.map((variable) => [
      variable,
      (value: string, context: Record<string, string>) => suggestions(peer, ref, variable, value, context),
    ]),
  );
  return { ...template, complete, read: (uri, _variables, ctx) => readThrough(peer, uri, ctx) };
}

/**
 * A toolset made of what `register` puts on an SDK `McpServer`: pass your server's registration
 * function unchanged, e.g. `fromSdkServer('weather', (server) => { server.registerTool(...) })`.
 * The server is built when the platform starts and closed with it. What it registers, removes or
 * changes later is served from then on, and clients are told (list_changed); a kind of thing
 * (tools, prompts, resources) must have been registered at start for later ones to be served, as
 * the SDK itself requires.
 */
export function fromSdkServer(name: string, register: SdkRegistration, options: SdkServerOptions = {}): ToolsetFactory {
  return async ({ onClose, update, logger }) => {
    // Logging is declared, as the platform declares it: the SDK refuses log messages otherwise.
    // Strict capabilities: a request to the client (none declared) is refused by the SDK itself.
    const server = new McpServer({ name, version: '0.0.0' }, { capabilities: { logging: {} }, enforceStrictCapabilities: true });
    let closed = false;
    onClose(() => {
      closed = true;
      return server.close();
    });
    await register(server);
    const peer = new InProcessPeer();
    await server.connect(peer);
    await peer.request('initialize', {
      protocolVersion: LATEST_PROTOCOL_VERSION,
      capabilities: {},
      clientInfo: { name: 'mcp-baton', version: '0' },
    });
    peer.notify('notifications/initialized');
    const read = async (): Promise<Toolset> => {
      const [tools, prompts, resources, templates] = await Promise.all([
        listAll<Tool>(peer, 'tools/list', 'tools'),
        listAll<Prompt>(peer, 'prompts/list', 'prompts'),
        listAll<Resource>(peer, 'resources/list', 'resources'),
        listAll<ResourceTemplate>(peer, 'resources/templates/list', 'resourceTemplates'),
      ]);
      return {
        name,
        description: options.description ?? `the SDK server "${name}"`,
        tools: tools.map((tool) => toolFrom(peer, tool)),
        prompts: prompts.map((prompt) => promptFrom(peer, prompt)),
        resources: resources.map((resource) => resourceFrom(peer, resource)),
        resourceTemplates: templates.map((template) => templateFrom(peer, template)),
      };
    };
    const toolset = await read();
    // One reading at a time, and one waiting at most: it reads whatever happened before it started.
    let reading = Promise.resolve();
    let queued = false;
    peer.onListChanged = () => {
      if (queued || closed) return;
      queued = true;
      reading = reading.then(async () => {
        queued = false;
        if (closed) return;
        try {
          await update(await read());
        } catch (error) {
          logger.warn('the lists of an SDK server changed, but the new ones could not be served', {
            toolset: name,
            error: errorText(error),
          });
        }
      });
    };
    return toolset;
  };
}
