// Fixtures for the official MCP conformance suite (`@modelcontextprotocol/conformance`, server
// scenarios). Names, arguments, texts and MIME types follow what the scenarios ask of a server;
// change them only together with the suite version. Enabled with BATON_TOOLSETS=conformance.
import { z } from 'zod';
import type { CallToolResult, CreateMessageResult, ElicitResult } from '@modelcontextprotocol/sdk/types.js';
import { defineTool, defineToolset, text, type HandlerContext, type Toolset } from './define.js';

// A 1x1 RGB PNG and a 1 ms, 8 kHz, 8-bit mono PCM WAV: the smallest files that real decoders
// accept, so clients that actually decode the content do not choke on a placeholder.
const PNG_1X1 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGOQz98KAAH0AUR2/4IrAAAAAElFTkSuQmCC';
const WAV_SILENCE = 'UklGRiwAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQgAAACAgICAgICAgA==';

const LOGGER = 'conformance';

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

function toolError(message: string): CallToolResult {
  return { isError: true, content: [{ type: 'text', text: message }] };
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

// Sampling results carry one content block (2025-06-18) or an array of them (2025-11-25).
function sampledText(result: CreateMessageResult): string {
  const blocks: unknown[] = Array.isArray(result.content) ? result.content : [result.content];
  const texts = blocks.flatMap((block) =>
    block && typeof block === 'object' && (block as { type?: unknown }).type === 'text'
      ? [String((block as { text?: unknown }).text ?? '')]
      : [],
  );
  return texts.length > 0 ? texts.join('\n') : JSON.stringify(result.content);
}

function elicitationSummary(prefix: string, result: ElicitResult): string {
  return `${prefix}: action=${result.action}, content=${JSON.stringify(result.content ?? {})}`;
}

// The scenarios ask for an error result, not a protocol error, when the client lacks the
// capability: the model can read it and the call still completes.
function requireCapability(ctx: HandlerContext, capability: 'sampling' | 'elicitation'): CallToolResult | undefined {
  if (ctx.clientCapabilities?.[capability]) return undefined;
  return toolError(`The client did not declare the '${capability}' capability, so this tool cannot run.`);
}

const simpleText = defineTool({
  name: 'test_simple_text',
  description: 'Returns a fixed text block.',
  input: {},
  handler: () => text('This is a simple text response for testing.'),
});

const imageContent = defineTool({
  name: 'test_image_content',
  description: 'Returns a 1x1 PNG image block.',
  input: {},
  handler: () => ({ content: [{ type: 'image', data: PNG_1X1, mimeType: 'image/png' }] }),
});

const audioContent = defineTool({
  name: 'test_audio_content',
  description: 'Returns a short WAV audio block.',
  input: {},
  handler: () => ({ content: [{ type: 'audio', data: WAV_SILENCE, mimeType: 'audio/wav' }] }),
});

const embeddedResource = defineTool({
  name: 'test_embedded_resource',
  description: 'Returns an embedded text resource.',
  input: {},
  handler: () => ({
    content: [
      {
        type: 'resource',
        resource: {
          uri: 'test://embedded-resource',
          mimeType: 'text/plain',
          text: 'This is an embedded resource content.',
        },
      },
    ],
  }),
});

const multipleContentTypes = defineTool({
  name: 'test_multiple_content_types',
  description: 'Returns text, image and embedded resource blocks in one result.',
  input: {},
  handler: () => ({
    content: [
      { type: 'text', text: 'Multiple content types test:' },
      { type: 'image', data: PNG_1X1, mimeType: 'image/png' },
      {
        type: 'resource',
        resource: {
          uri: 'test://mixed-content-resource',
          mimeType: 'application/json',
          text: JSON.stringify({ test: 'data', value: 123 }),
        },
      },
    ],
  }),
});

const withLogging = defineTool({
  name: 'test_tool_with_logging',
  description: 'Sends three info log messages while it runs.',
  input: {},
  async handler(_args, ctx) {
    // The pauses make the messages arrive as separate events during the call, which is what
    // clients must be able to handle.
    await ctx.log('info', 'Tool execution started', LOGGER);
    await sleep(50, ctx.signal);
    await ctx.log('info', 'Tool processing data', LOGGER);
    await sleep(50, ctx.signal);
    await ctx.log('info', 'Tool execution completed', LOGGER);
    return text('Tool with logging executed successfully');
  },
});

const withProgress = defineTool({
  name: 'test_tool_with_progress',
  description: 'Reports progress 0/100, 50/100 and 100/100 when the caller passes a progress token.',
  input: {},
  async handler(_args, ctx) {
    for (const step of [0, 50, 100]) {
      if (step > 0) await sleep(50, ctx.signal);
      await ctx.progress(step, 100, `Completed step ${step} of 100`);
    }
    return text('Tool with progress executed successfully');
  },
});

const errorHandling = defineTool({
  name: 'test_error_handling',
  description: 'Always fails, with an error result.',
  input: {},
  // Tool failures belong in the result (isError) so the model can see them; returning it
  // directly keeps the shape independent of how the registry maps thrown exceptions.
  handler: () => toolError('This tool intentionally returns an error for testing'),
});

const reconnection = defineTool({
  name: 'test_reconnection',
  description: 'Closes its event stream before answering, so the client must reconnect (Last-Event-ID) to get the result.',
  input: {},
  async handler(_args, ctx) {
    if (ctx.closeStream) {
      ctx.closeStream();
      // Answering after the close is the point: the result has to travel through the event
      // store and reach the client on its resumed stream.
      await sleep(100);
    }
    return text('Reconnection test completed successfully. If you received this, the client properly reconnected after stream closure.');
  },
});

const sampling = defineTool({
  name: 'test_sampling',
  description: "Asks the client's model to answer a prompt (sampling/createMessage) and returns the answer.",
  input: { prompt: z.string().describe('The prompt to send to the LLM') },
  async handler({ prompt }, ctx) {
    const missing = requireCapability(ctx, 'sampling');
    if (missing) return missing;
    try {
      const result = await ctx.sample({
        messages: [{ role: 'user', content: { type: 'text', text: prompt } }],
        maxTokens: 100,
      });
      return text(`LLM response: ${sampledText(result)}`);
    } catch (error) {
      return toolError(`Sampling failed: ${errorMessage(error)}`);
    }
  },
});

const elicitation = defineTool({
  name: 'test_elicitation',
  description: 'Asks the user for a username and an email address (elicitation/create).',
  input: { message: z.string().describe('The message to show the user') },
  async handler({ message }, ctx) {
    const missing = requireCapability(ctx, 'elicitation');
    if (missing) return missing;
    try {
      const result = await ctx.elicit({
        message,
        requestedSchema: {
          type: 'object',
          properties: {
            username: { type: 'string', description: "User's response" },
            email: { type: 'string', description: "User's email address" },
          },
          required: ['username', 'email'],
        },
      });
      return text(elicitationSummary('User response', result));
    } catch (error) {
      return toolError(`Elicitation failed: ${errorMessage(error)}`);
    }
  },
});

const elicitationDefaults = defineTool({
  name: 'test_elicitation_sep1034_defaults',
  description: 'Asks the user to confirm a form whose fields of every primitive type carry defaults (SEP-1034).',
  input: {},
  async handler(_args, ctx) {
    const missing = requireCapability(ctx, 'elicitation');
    if (missing) return missing;
    try {
      const result = await ctx.elicit({
        message: 'Please review and update the form fields with defaults',
        requestedSchema: {
          type: 'object',
          properties: {
            name: { type: 'string', description: 'User name', default: 'John Doe' },
            age: { type: 'integer', description: 'User age', default: 30 },
            score: { type: 'number', description: 'User score', default: 95.5 },
            status: {
              type: 'string',
              description: 'User status',
              enum: ['active', 'inactive', 'pending'],
              default: 'active',
            },
            verified: { type: 'boolean', description: 'Verification status', default: true },
          },
        },
      });
      return text(elicitationSummary('Elicitation completed', result));
    } catch (error) {
      return toolError(`Elicitation failed: ${errorMessage(error)}`);
    }
  },
});

const elicitationEnums = defineTool({
  name: 'test_elicitation_sep1330_enums',
  description: 'Asks the user to fill a form with each enum schema variant of SEP-1330.',
  input: {},
  async handler(_args, ctx) {
    const missing = requireCapability(ctx, 'elicitation');
    if (missing) return missing;
    try {
      const result = await ctx.elicit({
        message: 'Please choose from each list',
        requestedSchema: {
          type: 'object',
          properties: {
            untitledSingle: {
              type: 'string',
              description: 'Single choice, values only',
              enum: ['option1', 'option2', 'option3'],
            },
            titledSingle: {
              type: 'string',
              description: 'Single choice, with titles',
              oneOf: [
                { const: 'value1', title: 'First Option' },
                { const: 'value2', title: 'Second Option' },
                { const: 'value3', title: 'Third Option' },
              ],
            },
            // Deprecated form, kept because older clients only understand enumNames.
            legacyEnum: {
              type: 'string',
              description: 'Single choice, legacy titles',
              enum: ['opt1', 'opt2', 'opt3'],
              enumNames: ['Option One', 'Option Two', 'Option Three'],
            },
            untitledMulti: {
              type: 'array',
              description: 'Several choices, values only',
              items: { type: 'string', enum: ['option1', 'option2', 'option3'] },
            },
            titledMulti: {
              type: 'array',
              description: 'Several choices, with titles',
              items: {
                anyOf: [
                  { const: 'value1', title: 'First Choice' },
                  { const: 'value2', title: 'Second Choice' },
                  { const: 'value3', title: 'Third Choice' },
                ],
              },
            },
          },
        },
      });
      return text(elicitationSummary('Elicitation completed', result));
    } catch (error) {
      return toolError(`Elicitation failed: ${errorMessage(error)}`);
    }
  },
});

// SEP-1613: the advertised schema must reach clients untouched ($schema, $defs, $ref,
// additionalProperties), which a schema derived from zod would not reproduce.
const JSON_SCHEMA_2020_12: Record<string, unknown> = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  $defs: {
    address: {
      type: 'object',
      properties: {
        street: { type: 'string' },
        city: { type: 'string' },
      },
    },
  },
  properties: {
    name: { type: 'string' },
    address: { $ref: '#/$defs/address' },
  },
  additionalProperties: false,
};

const jsonSchema202012 = defineTool({
  name: 'json_schema_2020_12_tool',
  description: 'Tool with JSON Schema 2020-12 features',
  inputJsonSchema: JSON_SCHEMA_2020_12,
  // Validates only what the handler reads; the advertised schema above is the contract.
  input: {
    name: z.string().optional(),
    address: z.object({ street: z.string().optional(), city: z.string().optional() }).loose().optional(),
  },
  handler: ({ name, address }) => text(`Received: ${JSON.stringify({ name, address })}`),
});

// Suggestions offered by completion/complete for prompt arguments; matched by prefix.
const ARGUMENT_SUGGESTIONS = ['paris', 'park', 'party', 'tea', 'temple', 'test', 'text'];

function suggest(candidates: readonly string[], value: string): string[] {
  const prefix = value.toLowerCase();
  return candidates.filter((candidate) => candidate.toLowerCase().startsWith(prefix));
}

export const conformanceToolset: Toolset = defineToolset({
  name: 'conformance',
  description: 'Fixtures that the official MCP conformance suite calls on a server.',
  tools: [
    simpleText,
    imageContent,
    audioContent,
    embeddedResource,
    multipleContentTypes,
    withLogging,
    withProgress,
    errorHandling,
    reconnection,
    sampling,
    elicitation,
    elicitationDefaults,
    elicitationEnums,
    jsonSchema202012,
  ],
  prompts: [
    {
      name: 'test_simple_prompt',
      description: 'A prompt without arguments.',
      get: () => ({
        messages: [{ role: 'user', content: { type: 'text', text: 'This is a simple prompt for testing.' } }],
      }),
    },
    {
      name: 'test_prompt_with_arguments',
      description: 'A prompt that substitutes two arguments.',
      arguments: {
        arg1: {
          description: 'First test argument',
          required: true,
          complete: (value) => suggest(ARGUMENT_SUGGESTIONS, value),
        },
        arg2: {
          description: 'Second test argument',
          required: true,
          complete: (value) => suggest(ARGUMENT_SUGGESTIONS, value),
        },
      },
      get: (args) => ({
        messages: [
          {
            role: 'user',
            content: {
              type: 'text',
              text: `Prompt with arguments: arg1='${args.arg1 ?? ''}', arg2='${args.arg2 ?? ''}'`,
            },
          },
        ],
      }),
    },
    {
      name: 'test_prompt_with_embedded_resource',
      description: 'A prompt that embeds the resource named by resourceUri.',
      arguments: {
        resourceUri: { description: 'URI of the resource to embed', required: true },
      },
      get: (args) => ({
        messages: [
          {
            role: 'user',
            content: {
              type: 'resource',
              resource: {
                uri: args.resourceUri ?? 'test://example-resource',
                mimeType: 'text/plain',
                text: 'Embedded resource content for testing.',
              },
            },
          },
          { role: 'user', content: { type: 'text', text: 'Please process the embedded resource above.' } },
        ],
      }),
    },
    {
      name: 'test_prompt_with_image',
      description: 'A prompt that carries an image.',
      get: () => ({
        messages: [
          { role: 'user', content: { type: 'image', data: PNG_1X1, mimeType: 'image/png' } },
          { role: 'user', content: { type: 'text', text: 'Please analyze the image above.' } },
        ],
      }),
    },
  ],
  resources: [
    {
      uri: 'test://static-text',
      name: 'static-text',
      description: 'A fixed text resource.',
      mimeType: 'text/plain',
      read: () => ({
        contents: [
          {
            uri: 'test://static-text',
            mimeType: 'text/plain',
            text: 'This is the content of the static text resource.',
          },
        ],
      }),
    },
    {
      uri: 'test://static-binary',
      name: 'static-binary',
      description: 'A fixed binary resource (1x1 PNG).',
      mimeType: 'image/png',
      read: () => ({
        contents: [{ uri: 'test://static-binary', mimeType: 'image/png', blob: PNG_1X1 }],
      }),
    },
    {
      uri: 'test://watched-resource',
      name: 'watched-resource',
      description: 'A resource clients may subscribe to.',
      mimeType: 'text/plain',
      read: () => ({
        contents: [{ uri: 'test://watched-resource', mimeType: 'text/plain', text: 'Watched resource content' }],
      }),
    },
  ],
  resourceTemplates: [
    {
      uriTemplate: 'test://template/{id}/data',
      name: 'template-data',
      description: 'JSON data for the given id.',
      mimeType: 'application/json',
      complete: { id: (value) => suggest(['1', '2', '3', '123'], value) },
      read: (uri, { id = '' }) => ({
        contents: [
          {
            uri,
            mimeType: 'application/json',
            text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }),
          },
        ],
      }),
    },
  ],
});
