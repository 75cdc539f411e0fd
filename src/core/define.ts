// The one way to declare what a toolset offers: tools, prompts, resources and resource
// templates, each described once with zod. The registry (src/core/registry.ts) turns these into
// protocol lists once per process, so building a server per request costs almost nothing.
import type { z } from 'zod';
import {
  acceptedContent,
  inputResponse,
  inputRequired as sdkInputRequired,
  type InputRequests,
  type InputResponses,
} from '@modelcontextprotocol/server';
import type {
  CallToolResult,
  ClientCapabilities,
  GetPromptResult,
  Icon,
  Implementation,
  LoggingLevel,
  ReadResourceResult,
  ServerNotification,
  ToolAnnotations,
} from '@modelcontextprotocol/sdk/types.js';
import type { SessionState } from './session-state.js';
import type { ChangeNotifier } from '../store/channel/types.js';
import type { Config } from '../config/schema.js';
import type { Principal } from '../auth/caller.js';
import type { ContextProviders, ResultReference } from './enrichment/context.js';
import type { Logger } from '../log.js';

export { acceptedContent, inputResponse, type InputRequests, type InputResponses };

/**
 * What a handler may do while it serves one request. The same handler serves both protocol eras:
 * a 2025-era request belongs to a session (`sessionId`, `session`); a 2026-07-28 request stands
 * alone, and whatever must outlive it travels in `requestState`.
 */
export interface HandlerContext {
  /** `session`: a 2025-era request of a durable session; `stateless`: a 2026-07-28 request. */
  era: 'session' | 'stateless';
  /** The session's id (2025 era); undefined for 2026-07-28 requests, which have no session. */
  sessionId: string | undefined;
  /**
   * The session's key/value state, written back before the response leaves (2025 era).
   * Undefined for 2026-07-28 requests: there is nothing to write it to.
   */
  session: SessionState | undefined;
  principal: Principal | undefined;
  clientCapabilities: ClientCapabilities | undefined;
  clientInfo: Implementation | undefined;
  /** Aborted when the client cancels the request or the connection closes. */
  signal: AbortSignal;
  /**
   * The client's answers to the previous round's input requests, by key; undefined on the first
   * entry. Client input: read it with `acceptedContent(ctx.inputResponses, key, schema)` or
   * `inputResponse(ctx.inputResponses, key)`, which validate and discriminate.
   */
  inputResponses: InputResponses | undefined;
  /**
   * The `requestState` the previous round returned, verified (a 2026-07-28 client sends it back
   * signed by this platform, and it is checked before the handler runs); undefined on the first
   * entry.
   */
  requestState: unknown;
  /** Sends a log message to the client if its logging level lets it through. */
  log(level: LoggingLevel, data: unknown, logger?: string): Promise<void>;
  /** Reports progress when the client asked for it (a progress token); otherwise does nothing. */
  progress(progress: number, total?: number, message?: string): Promise<void>;
  /** Sends any notification on this request's stream. */
  notify(notification: ServerNotification): Promise<void>;
  /**
   * Announces a change to the clients listening for it, on every instance: list changes, and
   * updates of a resource (to the 2025 sessions subscribed to it, and the 2026-07-28
   * `subscriptions/listen` streams that asked for it).
   */
  changes: ChangeNotifier;
  /**
   * Closes this request's event stream early so that the client reconnects and polls for the
   * result (SSE polling). Undefined when the client cannot resume.
   */
  closeStream: (() => void) | undefined;
}

/**
 * A handler's answer when it needs input from the client first (elicitation, sampling, roots).
 * The platform asks the client (in-band as an `input_required` result for 2026-07-28 clients, as
 * real requests on the session's stream for 2025 sessions) and runs the handler again with the
 * answers in `ctx.inputResponses` and this `requestState` in `ctx.requestState`. Write handlers so
 * that every entry reads what has arrived and asks only for what is still missing.
 */
export interface InputRequired {
  resultType: 'input_required';
  inputRequests?: InputRequests;
  /**
   * What the next round needs to know (any JSON value). Before it leaves for a 2026-07-28 client
   * the platform signs it, binds it to the caller and to this request, and gives it an expiry;
   * the client can read it, so keep secrets out of it.
   */
  requestState?: unknown;
}

export interface InputRequiredBuilder {
  (spec: { inputRequests?: InputRequests; requestState?: unknown }): InputRequired;
  /** A form elicitation; `requestedSchema` is a JSON Schema or a zod object of primitives. */
  elicit: (typeof sdkInputRequired)['elicit'];
  /** A URL-mode elicitation (the user completes it out of band). */
  elicitUrl: (typeof sdkInputRequired)['elicitUrl'];
  /** A sampling request (`sampling/createMessage`). */
  createMessage: (typeof sdkInputRequired)['createMessage'];
  /** A `roots/list` request. */
  listRoots: (typeof sdkInputRequired)['listRoots'];
}

/** Builds an InputRequired answer; the embedded request builders are the SDK's. */
export const inputRequired: InputRequiredBuilder = Object.assign(
  (spec: { inputRequests?: InputRequests; requestState?: unknown }): InputRequired => {
    if (spec.inputRequests === undefined && spec.requestState === undefined) {
      throw new TypeError('inputRequired: give inputRequests, requestState or both');
    }
    return { resultType: 'input_required', ...spec };
  },
  {
    elicit: sdkInputRequired.elicit,
    elicitUrl: sdkInputRequired.elicitUrl,
    createMessage: sdkInputRequired.createMessage,
    listRoots: sdkInputRequired.listRoots,
  },
);

export function isInputRequired(value: unknown): value is InputRequired {
  return typeof value === 'object' && value !== null && (value as { resultType?: unknown }).resultType === 'input_required';
}

/** A tool's result plus, optionally, what it referenced (read by middleware, never sent). */
export type ToolResult = CallToolResult & { references?: ResultReference[] };

/** What a tool handler returns: its result, or a request for input first. */
export type ToolOutput = ToolResult | InputRequired;

export interface ToolDefinition<Shape extends z.ZodRawShape = z.ZodRawShape> {
  name: string;
  title?: string;
  description: string;
  input: Shape;
  /** When given, results carry `structuredContent` that matches it. */
  output?: z.ZodRawShape;
  annotations?: ToolAnnotations;
  /** A raw JSON Schema to advertise instead of the one derived from `input`. */
  inputJsonSchema?: Record<string, unknown>;
  /**
   * The handler gets the arguments as the client sent them and checks them itself; `input` is not
   * applied (a tool served through `fromSdkServer`, whose SDK server validates).
   * @internal
   */
  uncheckedInput?: boolean;
  /** A raw JSON Schema for `structuredContent`, advertised instead of one derived from `output`. */
  outputJsonSchema?: Record<string, unknown>;
  /** Icons clients may show for the tool. */
  icons?: Icon[];
  /** Listed with the tool as it is (e.g. a client's own keys, such as an app's output template). */
  _meta?: Record<string, unknown>;
  /** Whether a call may become a task that outlives its request (docs/toolsets.md); never, by default. */
  task?: ToolTaskOptions<Shape>;
  handler(args: z.infer<z.ZodObject<Shape>>, ctx: HandlerContext): Promise<ToolOutput> | ToolOutput;
}

/**
 * How a tool takes part in tasks (the 2026-07-28 tasks extension, `io.modelcontextprotocol/tasks`):
 * - `never`: always answered in the request;
 * - `optional`: a task when the client declared the extension, answered in the request otherwise;
 * - `required`: a task; a client without the extension is refused (-32021) before anything runs.
 */
export type TaskSupport = 'never' | 'optional' | 'required';

export interface ToolTaskOptions<Shape extends z.ZodRawShape = z.ZodRawShape> {
  support: TaskSupport;
  /**
   * Whether the task may run again from its start, with the input it already received, when the
   * instance running it is gone. Default: the tool's `annotations.idempotentHint`.
   */
  rerunnable?: boolean;
  /**
   * Input gathered in the request, before the task exists (multi-round-trip): answer InputRequired
   * for another round, or nothing to create the task. The answers of that last round reach the
   * handler, which then runs in the task, as `ctx.inputResponses` (`requestState` does not).
   */
  input?(args: z.infer<z.ZodObject<Shape>>, ctx: HandlerContext): Promise<InputRequired | undefined> | InputRequired | undefined;
}

export interface PromptArgument {
  description?: string;
  required?: boolean;
  /** Suggestions for `completion/complete`. */
  complete?: (value: string, context: Record<string, string>) => string[] | Promise<string[]>;
}

export interface PromptDefinition {
  name: string;
  title?: string;
  description: string;
  icons?: Icon[];
  _meta?: Record<string, unknown>;
  arguments?: Record<string, PromptArgument>;
  get(args: Record<string, string>, ctx: HandlerContext): Promise<GetPromptResult | InputRequired> | GetPromptResult | InputRequired;
}

export interface ResourceDefinition {
  uri: string;
  name: string;
  title?: string;
  description?: string;
  mimeType?: string;
  read(ctx: HandlerContext): Promise<ReadResourceResult | InputRequired> | ReadResourceResult | InputRequired;
}

export interface ResourceTemplateDefinition {
  uriTemplate: string;
  name: string;
  title?: string;
  description?: string;
  mimeType?: string;
  /** Suggestions for template variables in `completion/complete`. */
  complete?: Record<string, (value: string, context: Record<string, string>) => string[] | Promise<string[]>>;
  read(
    uri: string,
    variables: Record<string, string>,
    ctx: HandlerContext,
  ): Promise<ReadResourceResult | InputRequired> | ReadResourceResult | InputRequired;
}

export interface Toolset {
  name: string;
  description: string;
  tools?: ToolDefinition<any>[];
  prompts?: PromptDefinition[];
  resources?: ResourceDefinition[];
  resourceTemplates?: ResourceTemplateDefinition[];
}

/** What the platform offers toolsets that need more than their own code. */
export interface ToolsetServices {
  /** The configuration the platform runs with. */
  config: Config;
  logger: Logger;
  /** Where a toolset registers what the enrichment middleware may say about its references. */
  context: ContextProviders;
  /** Runs when the platform closes. */
  onClose(close: () => Promise<void>): void;
  /**
   * For a toolset whose contents change while the platform runs: serves `toolset` (same name) in
   * place of what it served, and tells every client whose lists changed (list_changed). Refused
   * (ConfigError, nothing changes) when it declares a name another toolset has. The kinds served
   * (prompts, resources) are those some toolset had at start.
   */
  update(toolset: Toolset): Promise<void>;
}

/** A toolset built when the platform starts, from its services (it may be async). */
export type ToolsetFactory = (services: ToolsetServices) => Toolset | Promise<Toolset>;

/** A toolset as its owner gives it: declared, or built when the platform starts. */
export type ToolsetSource = Toolset | ToolsetFactory;

/** Declares a tool; a function only so that `args` is typed from the zod shape. */
export function defineTool<Shape extends z.ZodRawShape>(definition: ToolDefinition<Shape>): ToolDefinition<Shape> {
  return definition;
}

export function defineToolset(toolset: Toolset): Toolset {
  return toolset;
}

/** The text content block most tools answer with. */
export function text(value: string): CallToolResult {
  return { content: [{ type: 'text', text: value }] };
}
