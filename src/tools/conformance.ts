// Fixtures for the official MCP conformance suite (`@modelcontextprotocol/conformance`, server
// scenarios). Names, arguments, texts and MIME types follow what the scenarios ask of a server;
// change them only together with the suite version. Enabled with BATON_TOOLSETS=conformance.
import { z } from 'zod';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { inputPrompt, inputTools } from './conformance-input.js';
import { taskTools } from './conformance-tasks.js';
import { defineTool, defineToolset, text, type Toolset } from '../core/define.js';

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

// SEP-1613 / SEP-2106: the advertised schema must reach clients untouched ($schema, $defs,
// $anchor, $ref, composition and conditionals, additionalProperties), which a schema derived
// from zod would not reproduce.
const JSON_SCHEMA_2020_12: Record<string, unknown> = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  $defs: {
    address: {
      $anchor: 'addressDef',
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
    contactMethod: { type: 'string', enum: ['phone', 'email'] },
    phone: { type: 'string' },
    email: { type: 'string' },
  },
  allOf: [{ anyOf: [{ required: ['phone'] }, { required: ['email'] }] }],
  if: { properties: { contactMethod: { const: 'phone' } }, required: ['contactMethod'] },
  // biome-ignore lint/suspicious/noThenProperty: `then` is a JSON Schema keyword here.
  then: { required: ['phone'] },
  else: { required: ['email'] },
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
    contactMethod: z.enum(['phone', 'email']).optional(),
    phone: z.string().optional(),
    email: z.string().optional(),
  },
  handler: (args) => text(`Received: ${JSON.stringify(args)}`),
});

// The 2026-07-28 scenarios look at the stream of an ordinary call: it must carry its result and
// no request of its own (the era has no server-to-client requests).
const streamingElicitation = defineTool({
  name: 'test_streaming_elicitation',
  description: 'Answers with a result and nothing else on its stream.',
  input: {},
  handler: () => text('stream observed: result frames only, no top-level requests'),
});

// Logs one message; a 2026-07-28 request that names no log level in its _meta must not see it.
const loggingTool = defineTool({
  name: 'test_logging_tool',
  description: "Logs one message through the request's logging channel.",
  input: {},
  async handler(_args, ctx) {
    await ctx.log('info', 'test_logging_tool ran (delivered only when the request set a log level)', LOGGER);
    return text('logged through the request-scoped, level-gated channel');
  },
});

// The toolsets are fixed for the life of a deployment, so nothing really changes here: these
// announce a change so that listening clients can be seen to hear of it.
const triggerToolChange = defineTool({
  name: 'test_trigger_tool_change',
  description: 'Announces that the tool list changed.',
  input: {},
  async handler(_args, ctx) {
    await ctx.changes.toolsChanged();
    return text('tools_list_changed published');
  },
});

const triggerPromptChange = defineTool({
  name: 'test_trigger_prompt_change',
  description: 'Announces that the prompt list changed.',
  input: {},
  async handler(_args, ctx) {
    await ctx.changes.promptsChanged();
    return text('prompts_list_changed published');
  },
});

// SEP-2243: an argument mirrored into an Mcp-Param-Region header, which the server must check
// against the body.
const mirroredHeader = defineTool({
  name: 'test_x_mcp_header',
  description: 'Has an argument mirrored into the Mcp-Param-Region header.',
  inputJsonSchema: {
    type: 'object',
    properties: {
      region: { type: 'string', description: 'mirrored into Mcp-Param-Region', 'x-mcp-header': 'Region' },
      level: { type: 'integer', description: 'not mirrored' },
    },
  },
  input: { region: z.string().optional(), level: z.number().int().optional() },
  handler: ({ region }) => text(`region=${region ?? '<none>'}`),
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
    jsonSchema202012,
    streamingElicitation,
    loggingTool,
    triggerToolChange,
    triggerPromptChange,
    mirroredHeader,
    ...inputTools,
    ...taskTools,
  ],
  prompts: [
    inputPrompt,
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
