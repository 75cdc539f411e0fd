// The one way to declare what a toolset offers: tools, prompts, resources and resource
// templates, each described once with zod. The MCP layer (src/mcp/registry.ts) turns these into
// protocol lists once per process, so building a server per request costs almost nothing.
import type { z } from 'zod';
import type {
  CallToolResult,
  ClientCapabilities,
  CreateMessageRequestParams,
  CreateMessageResult,
  ElicitRequestFormParams,
  ElicitResult,
  GetPromptResult,
  Implementation,
  LoggingLevel,
  ReadResourceResult,
  ServerNotification,
  ToolAnnotations,
} from '@modelcontextprotocol/sdk/types.js';
import type { SessionState } from '../sessions/state.js';
import type { ChangeNotifier } from '../channel/types.js';

/** Who is calling: filled by authentication; anonymous callers have no principal. */
export interface Principal {
  /** Stable identifier of the caller (API key id, or JWT `iss` + `sub`). */
  id: string;
  /** How the caller authenticated. */
  method: 'api_key' | 'jwt';
  /** Verified claims, for JWT callers. */
  claims?: Record<string, unknown>;
}

/** What a handler may do while it serves one request of one session. */
export interface HandlerContext {
  sessionId: string;
  /** The session's key/value state; changes are written back before the response leaves. */
  session: SessionState;
  principal: Principal | undefined;
  clientCapabilities: ClientCapabilities | undefined;
  clientInfo: Implementation | undefined;
  /** Aborted when the client cancels the request or the connection closes. */
  signal: AbortSignal;
  /** Sends a log message to the client if its logging level lets it through. */
  log(level: LoggingLevel, data: unknown, logger?: string): Promise<void>;
  /** Reports progress when the client asked for it (a progress token); otherwise does nothing. */
  progress(progress: number, total?: number, message?: string): Promise<void>;
  /** Asks the user for input through the client (elicitation, form mode). */
  elicit(params: Omit<ElicitRequestFormParams, 'mode'> & { mode?: 'form' }): Promise<ElicitResult>;
  /** Asks the client's model for a completion (sampling). */
  sample(params: CreateMessageRequestParams): Promise<CreateMessageResult>;
  /** Sends any notification on this request's stream. */
  notify(notification: ServerNotification): Promise<void>;
  /**
   * Announces a change to every session's stream, on every instance: list changes, and updates
   * of a resource (to the sessions subscribed to it).
   */
  changes: ChangeNotifier;
  /**
   * Closes this request's event stream early so that the client reconnects and polls for the
   * result (SSE polling). Undefined when the client cannot resume.
   */
  closeStream: (() => void) | undefined;
}

/** Where a result came from: what the enrichment middleware may add context about. */
export interface ResultReference {
  kind: 'table';
  /** Fully qualified name, e.g. `public.orders`. */
  name: string;
}

/** A tool's answer plus, optionally, what it referenced (read by middleware, never sent). */
export type ToolOutput = CallToolResult & { references?: ResultReference[] };

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
  handler(args: z.infer<z.ZodObject<Shape>>, ctx: HandlerContext): Promise<ToolOutput> | ToolOutput;
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
  arguments?: Record<string, PromptArgument>;
  get(args: Record<string, string>, ctx: HandlerContext): Promise<GetPromptResult> | GetPromptResult;
}

export interface ResourceDefinition {
  uri: string;
  name: string;
  title?: string;
  description?: string;
  mimeType?: string;
  read(ctx: HandlerContext): Promise<ReadResourceResult> | ReadResourceResult;
}

export interface ResourceTemplateDefinition {
  uriTemplate: string;
  name: string;
  title?: string;
  description?: string;
  mimeType?: string;
  /** Suggestions for template variables in `completion/complete`. */
  complete?: Record<string, (value: string, context: Record<string, string>) => string[] | Promise<string[]>>;
  read(uri: string, variables: Record<string, string>, ctx: HandlerContext): Promise<ReadResourceResult> | ReadResourceResult;
}

export interface Toolset {
  name: string;
  description: string;
  tools?: ToolDefinition<any>[];
  prompts?: PromptDefinition[];
  resources?: ResourceDefinition[];
  resourceTemplates?: ResourceTemplateDefinition[];
}

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
