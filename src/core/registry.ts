// Compiles the enabled toolsets once per process into what the protocol hands out: tool lists
// with JSON Schemas, prompt and resource lists, and lookup tables. Per-request servers only read
// from here, so a request never converts a schema.
import { z } from 'zod';
import { configProblem } from '../config/errors.js';
import { UriTemplate } from '@modelcontextprotocol/sdk/shared/uriTemplate.js';
import type { Implementation, Prompt, Resource, ResourceTemplate, ServerCapabilities, Tool } from '@modelcontextprotocol/sdk/types.js';
import type {
  HandlerContext,
  PromptDefinition,
  ResourceDefinition,
  ResourceTemplateDefinition,
  TaskSupport,
  ToolDefinition,
  ToolOutput,
  Toolset,
} from './define.js';

/** Wraps every tool call: sees the tool, its arguments and its result (e.g. enrichment). */
export type ToolMiddleware = (
  call: { tool: ToolDefinition; args: Record<string, unknown> },
  ctx: HandlerContext,
  next: () => Promise<ToolOutput>,
) => Promise<ToolOutput>;

export interface CompiledTool {
  definition: ToolDefinition;
  validator: z.ZodObject<z.ZodRawShape>;
  /** Whether calls may become tasks, and whether a task may run again from its start (its default resolved). */
  task: { support: TaskSupport; rerunnable: boolean };
}

export interface CompiledTemplate {
  definition: ResourceTemplateDefinition;
  matcher: UriTemplate;
}

/** Longest URI a template is matched against (the SDK's UriTemplate refuses longer ones). */
const MAX_URI_LENGTH = 1_000_000;

/** The `serverInfo` a platform gives when its owner names none. */
export const DEFAULT_SERVER_INFO: Implementation = { name: 'mcp-baton', version: '0.1.0' };

/** Which lists a change of the registry changed. */
export interface ListChanges {
  tools: boolean;
  prompts: boolean;
  /** Resources or resource templates. */
  resources: boolean;
}

export class Registry {
  readonly tools = new Map<string, CompiledTool>();
  /** Tools' input schemas as listed, by name (the 2026-07-28 leg checks `Mcp-Param-*` headers against them). */
  readonly inputSchemas = new Map<string, Record<string, unknown>>();
  readonly prompts = new Map<string, PromptDefinition>();
  readonly resources = new Map<string, ResourceDefinition>();
  readonly templates: CompiledTemplate[] = [];
  readonly toolList: Tool[] = [];
  readonly promptList: Prompt[] = [];
  readonly resourceList: Resource[] = [];
  readonly templateList: ResourceTemplate[] = [];
  readonly capabilities: ServerCapabilities;

  constructor(
    readonly toolsets: Toolset[],
    readonly middleware: ToolMiddleware[] = [],
    /** What initialize (2025) and every result's `_meta` (2026-07-28) say the server is. */
    readonly serverInfo: Implementation = DEFAULT_SERVER_INFO,
  ) {
    for (const toolset of toolsets) {
      for (const tool of toolset.tools ?? []) this.#addTool(toolset.name, tool);
      for (const prompt of toolset.prompts ?? []) this.#addPrompt(toolset.name, prompt);
      for (const resource of toolset.resources ?? []) this.#addResource(toolset.name, resource);
      for (const template of toolset.resourceTemplates ?? []) this.#addTemplate(template);
    }
    // List changes and resource updates announced on any instance reach every session's stream
    // (src/era-2025/streams.ts), so they are declared.
    this.capabilities = {
      logging: {},
      completions: {},
      tools: { listChanged: true },
      ...(this.prompts.size > 0 && { prompts: { listChanged: true } }),
      ...((this.resources.size > 0 || this.templates.length > 0) && { resources: { subscribe: true, listChanged: true } }),
    };
  }

  /** Which toolset declared each tool, prompt and resource, by kind and name. */
  readonly #owners = new Map<string, string>();

  /**
   * Serves a toolset's new contents in place of its old ones (see ToolsetServices.update),
   * compiled as at start: a name another toolset declares is refused and nothing changes. The
   * capabilities stay those of the start. Returns which lists changed.
   */
  update(toolset: Toolset): ListChanges {
    const index = this.toolsets.findIndex((t) => t.name === toolset.name);
    if (index < 0) throw new Error(`no toolset named "${toolset.name}" is served`);
    const next = new Registry(this.toolsets.with(index, toolset), this.middleware, this.serverInfo);
    const differ = (a: unknown[], b: unknown[]) => JSON.stringify(a) !== JSON.stringify(b);
    const changes: ListChanges = {
      tools: differ(this.toolList, next.toolList),
      prompts: differ(this.promptList, next.promptList),
      resources: differ(this.resourceList, next.resourceList) || differ(this.templateList, next.templateList),
    };
    this.toolsets[index] = toolset;
    // In place: the servers and dispatchers built at start hold these very maps and lists.
    for (const [own, theirs] of [
      [this.tools, next.tools],
      [this.inputSchemas, next.inputSchemas],
      [this.prompts, next.prompts],
      [this.resources, next.resources],
      [this.#owners, next.#owners],
    ] as [Map<string, unknown>, Map<string, unknown>][]) {
      own.clear();
      for (const [key, value] of theirs) own.set(key, value);
    }
    for (const [own, theirs] of [
      [this.templates, next.templates],
      [this.toolList, next.toolList],
      [this.promptList, next.promptList],
      [this.resourceList, next.resourceList],
      [this.templateList, next.templateList],
    ] as [unknown[], unknown[]][]) {
      own.splice(0, own.length, ...theirs);
    }
    return changes;
  }

  /** Refuses a second declaration of one name, naming both toolsets (the owner's configuration is at fault). */
  #claim(kind: 'tool' | 'prompt' | 'resource', name: string, toolset: string): void {
    const key = `${kind}\0${name}`;
    const first = this.#owners.get(key);
    if (first !== undefined) {
      const where = first === toolset ? `twice by toolset "${toolset}"` : `by toolsets "${first}" and "${toolset}"`;
      throw configProblem(`toolsets: ${kind} "${name}" is declared ${where}; names must be unique across the toolsets served`);
    }
    this.#owners.set(key, toolset);
  }

  #addTool(toolset: string, tool: ToolDefinition): void {
    this.#claim('tool', tool.name, toolset);
    const validator = tool.uncheckedInput ? z.looseObject({}) : z.object(tool.input);
    const task = { support: tool.task?.support ?? 'never', rerunnable: tool.task?.rerunnable ?? tool.annotations?.idempotentHint ?? false };
    this.tools.set(tool.name, { definition: tool, validator, task });
    const inputSchema = (tool.inputJsonSchema ?? toJsonSchema(validator)) as Tool['inputSchema'];
    this.inputSchemas.set(tool.name, inputSchema);
    this.toolList.push({
      name: tool.name,
      ...(tool.title && { title: tool.title }),
      description: tool.description,
      inputSchema,
      ...((tool.outputJsonSchema || tool.output) && {
        outputSchema: (tool.outputJsonSchema ?? toJsonSchema(z.object(tool.output!), 'output')) as Tool['outputSchema'],
      }),
      ...(tool.annotations && { annotations: tool.annotations }),
      ...(tool.icons && { icons: tool.icons }),
      ...(tool._meta && { _meta: tool._meta }),
    });
  }

  #addPrompt(toolset: string, prompt: PromptDefinition): void {
    this.#claim('prompt', prompt.name, toolset);
    this.prompts.set(prompt.name, prompt);
    this.promptList.push({
      name: prompt.name,
      ...(prompt.title && { title: prompt.title }),
      description: prompt.description,
      ...(prompt.icons && { icons: prompt.icons }),
      ...(prompt._meta && { _meta: prompt._meta }),
      ...(prompt.arguments && {
        arguments: Object.entries(prompt.arguments).map(([name, arg]) => ({
          name,
          ...(arg.description && { description: arg.description }),
          required: arg.required ?? false,
        })),
      }),
    });
  }

  #addResource(toolset: string, resource: ResourceDefinition): void {
    this.#claim('resource', resource.uri, toolset);
    this.resources.set(resource.uri, resource);
    const { read: _read, ...listed } = resource;
    this.resourceList.push(listed);
  }

  #addTemplate(template: ResourceTemplateDefinition): void {
    this.templates.push({ definition: template, matcher: new UriTemplate(template.uriTemplate) });
    const { read: _read, complete: _complete, ...listed } = template;
    this.templateList.push(listed);
  }

  /** The template a concrete URI belongs to, with its variables. */
  matchTemplate(uri: string): { template: CompiledTemplate; variables: Record<string, string> } | undefined {
    // The SDK's matcher throws on longer URIs; such a URI is simply no resource of ours.
    if (uri.length > MAX_URI_LENGTH) return undefined;
    for (const template of this.templates) {
      const match = template.matcher.match(uri);
      if (match) {
        const variables = Object.fromEntries(Object.entries(match).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : v]));
        return { template, variables };
      }
    }
    return undefined;
  }
}

function toJsonSchema(schema: z.ZodType, io: 'input' | 'output' = 'input'): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}
