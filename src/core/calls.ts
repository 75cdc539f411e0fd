// The platform's MCP methods, written once for both protocol eras. Each takes the registry, the
// request's parameters and a HandlerContext, and answers with a result or, where the protocol
// allows it (tools/call, prompts/get, resources/read), with an InputRequired. The era legs only
// adapt them: src/era-2025/server.ts serves them to 2025 sessions through SDK v1 (and fulfils input
// requests itself), src/era-2026/ to 2026-07-28 requests through SDK v2.
import type { CompleteResult, GetPromptResult, ReadResourceResult } from '@modelcontextprotocol/sdk/types.js';
import { type HandlerContext, type InputRequired, isInputRequired, type ToolOutput, type ToolResult } from './define.js';
import type { Registry } from './registry.js';
import { noteErrorType } from '../telemetry/request-scope.js';
import { JsonRpcCode as FaultCode } from '../http/errors.js';

/**
 * A JSON-RPC error a method answers with. Both SDKs turn a thrown error with a numeric `code`
 * (and optional `data`) into that error response, so one class serves both eras.
 */
export class ProtocolFault extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
    this.name = 'ProtocolFault';
  }
}

/** The codes a ProtocolFault carries: the one JSON-RPC code table, under its public name. */
export { FaultCode };

export interface CallToolParams {
  name: string;
  arguments?: Record<string, unknown>;
}

/** Runs a tool; its request's span and operation metric learn of an error result (error.type). */
export async function callTool(registry: Registry, params: CallToolParams, ctx: HandlerContext): Promise<ToolResult | InputRequired> {
  try {
    const result = await runTool(registry, params, ctx);
    if (!isInputRequired(result) && result.isError) noteErrorType('tool_error');
    return result;
  } catch (error) {
    noteErrorType(String((error as { code?: unknown }).code ?? 'error'));
    throw error;
  }
}

async function runTool(registry: Registry, params: CallToolParams, ctx: HandlerContext): Promise<ToolResult | InputRequired> {
  const compiled = registry.tools.get(params.name);
  if (!compiled) throw new ProtocolFault(FaultCode.InvalidParams, `Unknown tool: ${params.name}`);
  const parsed = compiled.validator.safeParse(params.arguments ?? {});
  if (!parsed.success) return invalidArguments(params.name, parsed.error.issues);
  const args = parsed.data as Record<string, unknown>;
  const run = async (index: number): Promise<ToolOutput> => {
    const middleware = registry.middleware[index];
    if (middleware) return middleware({ tool: compiled.definition, args }, ctx, () => run(index + 1));
    return compiled.definition.handler(args, ctx);
  };
  try {
    const output = await run(0);
    if (isInputRequired(output)) return output;
    const { references: _references, ...result } = output;
    return result;
  } catch (error) {
    // A protocol error stays one; any other failure is the tool's, reported in the result where
    // the model can read it.
    if (error instanceof ProtocolFault || isCodedError(error)) throw error;
    return errorResult(error instanceof Error ? error.message : String(error));
  }
}

/**
 * What comes before a tool's task is created, in the request: its arguments checked (refused ones
 * are answered at once, as a tool error) and the input the tool gathers first (`task.input`).
 * Undefined: create the task, with `args` as checked.
 */
export async function beforeTask(
  registry: Registry,
  params: CallToolParams,
  ctx: HandlerContext,
): Promise<{ answer: ToolResult | InputRequired } | { args: Record<string, unknown> }> {
  const compiled = registry.tools.get(params.name);
  if (!compiled) throw new ProtocolFault(FaultCode.InvalidParams, `Unknown tool: ${params.name}`);
  const parsed = compiled.validator.safeParse(params.arguments ?? {});
  if (!parsed.success) return { answer: invalidArguments(params.name, parsed.error.issues) };
  const args = parsed.data as Record<string, unknown>;
  const asked = await compiled.definition.task?.input?.(args, ctx);
  return asked ? { answer: asked } : { args };
}

export interface GetPromptParams {
  name: string;
  arguments?: Record<string, string>;
}

export async function getPrompt(
  registry: Registry,
  params: GetPromptParams,
  ctx: HandlerContext,
): Promise<GetPromptResult | InputRequired> {
  const prompt = registry.prompts.get(params.name);
  if (!prompt) throw new ProtocolFault(FaultCode.InvalidParams, `Unknown prompt: ${params.name}`);
  const args = params.arguments ?? {};
  for (const [name, arg] of Object.entries(prompt.arguments ?? {})) {
    if (arg.required && args[name] === undefined) {
      throw new ProtocolFault(FaultCode.InvalidParams, `Prompt ${prompt.name}: missing required argument "${name}"`);
    }
  }
  return prompt.get(args, ctx);
}

export async function readResource(registry: Registry, uri: string, ctx: HandlerContext): Promise<ReadResourceResult | InputRequired> {
  const resource = registry.resources.get(uri);
  if (resource) return resource.read(ctx);
  const match = registry.matchTemplate(uri);
  if (match) return match.template.definition.read(uri, match.variables, ctx);
  // 2025-11-25 names its own code; 2026-07-28 (SEP-2164) asks for InvalidParams with the URI.
  const code = ctx.era === 'stateless' ? FaultCode.InvalidParams : FaultCode.ResourceNotFound;
  throw new ProtocolFault(code, `Resource not found: ${uri}`, { uri });
}

export interface CompleteParams {
  ref: { type: 'ref/prompt'; name: string } | { type: 'ref/resource'; uri: string };
  argument: { name: string; value: string };
  context?: { arguments?: Record<string, string> };
}

export async function complete(registry: Registry, params: CompleteParams): Promise<CompleteResult> {
  const { ref, argument, context } = params;
  const known = context?.arguments ?? {};
  let suggest: ((value: string, context: Record<string, string>) => string[] | Promise<string[]>) | undefined;
  if (ref.type === 'ref/prompt') {
    const prompt = registry.prompts.get(ref.name);
    if (!prompt) throw new ProtocolFault(FaultCode.InvalidParams, `Unknown prompt: ${ref.name}`);
    suggest = prompt.arguments?.[argument.name]?.complete;
  } else {
    const template = registry.templates.find((t) => t.definition.uriTemplate === ref.uri);
    if (!template && !registry.resources.has(ref.uri)) throw new ProtocolFault(FaultCode.InvalidParams, `Unknown resource: ${ref.uri}`);
    suggest = template?.definition.complete?.[argument.name];
  }
  const values = suggest ? await suggest(argument.value, known) : [];
  return { completion: { values: values.slice(0, 100), total: values.length, hasMore: values.length > 100 } };
}

/** The progress notification a handler's `ctx.progress` sends, when the request asked for progress. */
export function progressNotification(progressToken: string | number | undefined, progress: number, total?: number, message?: string) {
  if (progressToken === undefined) return undefined;
  return {
    method: 'notifications/progress' as const,
    params: { progressToken, progress, ...(total !== undefined && { total }), ...(message && { message }) },
  };
}

function invalidArguments(tool: string, issues: { path: PropertyKey[]; message: string }[]): ToolResult {
  return errorResult(
    `Invalid arguments for tool ${tool}: ${issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
  );
}

export function errorResult(message: string): ToolResult {
  return { content: [{ type: 'text', text: message }], isError: true };
}

/** An SDK's own protocol error (either era's): it carries a JSON-RPC code. */
function isCodedError(error: unknown): boolean {
  return error instanceof Error && Number.isSafeInteger((error as { code?: unknown }).code);
}
