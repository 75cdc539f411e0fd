// Conformance fixtures that ask the client for input, written once in the multi-round-trip style
// (they return InputRequired and read the answers on the next entry). 2026-07-28 clients get the
// requests in-band; 2025 sessions get them as real requests on the call's stream (src/era-2025/server.ts).
// Names, texts and request keys follow what the suite's scenarios expect.
import { z } from 'zod';
import type { CallToolResult, CreateMessageResult, ElicitResult } from '@modelcontextprotocol/sdk/types.js';
import {
  acceptedContent,
  defineTool,
  type HandlerContext,
  type InputRequests,
  inputRequired,
  inputResponse,
  type PromptDefinition,
  text,
} from '../core/define.js';

function toolError(message: string): CallToolResult {
  return { isError: true, content: [{ type: 'text', text: message }] };
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

// The 2025 scenarios ask for an error result, not a protocol error, when the client lacks the
// capability: the model can read it and the call still completes.
function requireCapability(ctx: HandlerContext, capability: 'sampling' | 'elicitation'): CallToolResult | undefined {
  if (ctx.clientCapabilities?.[capability]) return undefined;
  return toolError(`The client did not declare the '${capability}' capability, so this tool cannot run.`);
}

/** The elicitation answer under `key` as the 2025 scenarios print it, if one arrived. */
function elicited(ctx: HandlerContext, key: string): ElicitResult | undefined {
  const view = inputResponse(ctx.inputResponses, key);
  return view.kind === 'elicit'
    ? { action: view.action, ...(view.content && { content: view.content as ElicitResult['content'] }) }
    : undefined;
}

/**
 * A form elicitation tool of the 2025 scenarios: ask once, then report what the user did. The
 * form's message is fixed, or (without `fixedMessage`) the call's `message` argument.
 */
function formTool(options: { name: string; description: string; fixedMessage?: string; prefix: string; schema: Record<string, unknown> }) {
  return defineTool({
    name: options.name,
    description: options.description,
    input: options.fixedMessage === undefined ? { message: z.string().describe('The message to show the user') } : {},
    handler(args: { message?: string }, ctx) {
      const missing = requireCapability(ctx, 'elicitation');
      if (missing) return missing;
      const answer = elicited(ctx, 'form');
      if (answer) return text(elicitationSummary(options.prefix, answer));
      return inputRequired({
        inputRequests: {
          form: inputRequired.elicit({
            message: options.fixedMessage ?? args.message ?? '',
            requestedSchema: options.schema as never,
          }),
        },
      });
    },
  });
}

export const sampling = defineTool({
  name: 'test_sampling',
  description: "Asks the client's model to answer a prompt (sampling/createMessage) and returns the answer.",
  input: { prompt: z.string().describe('The prompt to send to the LLM') },
  handler({ prompt }, ctx) {
    const missing = requireCapability(ctx, 'sampling');
    if (missing) return missing;
    const answer = inputResponse(ctx.inputResponses, 'answer');
    if (answer.kind === 'sampling') return text(`LLM response: ${sampledText(answer.result as CreateMessageResult)}`);
    return inputRequired({
      inputRequests: {
        answer: inputRequired.createMessage({ messages: [{ role: 'user', content: { type: 'text', text: prompt } }], maxTokens: 100 }),
      },
    });
  },
});

export const elicitation = formTool({
  name: 'test_elicitation',
  description: 'Asks the user for a username and an email address (elicitation/create).',
  prefix: 'User response',
  schema: {
    type: 'object',
    properties: {
      username: { type: 'string', description: "User's response" },
      email: { type: 'string', description: "User's email address" },
    },
    required: ['username', 'email'],
  },
});

export const elicitationDefaults = formTool({
  name: 'test_elicitation_sep1034_defaults',
  description: 'Asks the user to confirm a form whose fields of every primitive type carry defaults (SEP-1034).',
  fixedMessage: 'Please review and update the form fields with defaults',
  prefix: 'Elicitation completed',
  schema: {
    type: 'object',
    properties: {
      name: { type: 'string', description: 'User name', default: 'John Doe' },
      age: { type: 'integer', description: 'User age', default: 30 },
      score: { type: 'number', description: 'User score', default: 95.5 },
      status: { type: 'string', description: 'User status', enum: ['active', 'inactive', 'pending'], default: 'active' },
      verified: { type: 'boolean', description: 'Verification status', default: true },
    },
  },
});

export const elicitationEnums = formTool({
  name: 'test_elicitation_sep1330_enums',
  description: 'Asks the user to fill a form with each enum schema variant of SEP-1330.',
  fixedMessage: 'Please choose from each list',
  prefix: 'Elicitation completed',
  schema: {
    type: 'object',
    properties: {
      untitledSingle: { type: 'string', description: 'Single choice, values only', enum: ['option1', 'option2', 'option3'] },
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

const NAME_FORM = { type: 'object' as const, properties: { name: { type: 'string' as const } }, required: ['name'] };
const CONFIRM_FORM = { type: 'object' as const, properties: { ok: { type: 'boolean' as const } }, required: ['ok'] };
const askName = (message = 'What is your name?') => inputRequired.elicit({ message, requestedSchema: NAME_FORM });

const nameOf = (ctx: HandlerContext, key: string) => acceptedContent(ctx.inputResponses, key, z.object({ name: z.string() }))?.name;

/** The text of a sampling answer under `key`, if one arrived. */
function sampled(ctx: HandlerContext, key: string): string | undefined {
  const view = inputResponse(ctx.inputResponses, key);
  return view.kind === 'sampling' ? sampledText(view.result as CreateMessageResult) : undefined;
}

function rootsOf(ctx: HandlerContext, key: string) {
  const view = inputResponse(ctx.inputResponses, key);
  return view.kind === 'roots' ? view.roots : undefined;
}

const mrtrElicitation = defineTool({
  name: 'test_input_required_result_elicitation',
  description: 'Asks for the caller name with an in-band elicitation request, then greets them.',
  input: {},
  handler(_args, ctx) {
    const name = nameOf(ctx, 'user_name');
    if (name === undefined) return inputRequired({ inputRequests: { user_name: askName() } });
    return text(`Hello, ${name}!`);
  },
});

const mrtrSampling = defineTool({
  name: 'test_input_required_result_sampling',
  description: "Asks the client's model a question with an in-band sampling request.",
  input: {},
  handler(_args, ctx) {
    const answer = sampled(ctx, 'capital_question');
    if (answer === undefined) {
      return inputRequired({
        inputRequests: {
          capital_question: inputRequired.createMessage({
            messages: [{ role: 'user', content: { type: 'text', text: 'What is the capital of France?' } }],
            maxTokens: 100,
          }),
        },
      });
    }
    return text(`Sampling response: ${answer}`);
  },
});

const mrtrRoots = defineTool({
  name: 'test_input_required_result_list_roots',
  description: "Asks for the client's roots with an in-band roots/list request.",
  input: {},
  handler(_args, ctx) {
    const roots = rootsOf(ctx, 'client_roots');
    if (roots === undefined) return inputRequired({ inputRequests: { client_roots: inputRequired.listRoots() } });
    return text(`Client exposed ${roots.length} root(s): ${roots.map((root) => root.uri).join(', ')}`);
  },
});

/** State a fixture carries between rounds; the platform signs it, so it comes back as it left. */
interface FixtureState {
  tool: string;
  round?: number;
  name?: string;
}

const stateOf = (ctx: HandlerContext, tool: string): FixtureState | undefined => {
  const state = ctx.requestState as FixtureState | undefined;
  return state?.tool === tool ? state : undefined;
};

const mrtrRequestState = defineTool({
  name: 'test_input_required_result_request_state',
  description: 'Carries signed requestState beside an elicitation request and checks it on the retry.',
  input: {},
  handler(_args, ctx) {
    const confirmed = acceptedContent(ctx.inputResponses, 'confirm');
    if (confirmed === undefined) {
      return inputRequired({
        inputRequests: { confirm: inputRequired.elicit({ message: 'Please confirm', requestedSchema: CONFIRM_FORM }) },
        requestState: { tool: 'request_state' },
      });
    }
    if (!stateOf(ctx, 'request_state')) return toolError('requestState was missing on the retry');
    return text('state-ok: requestState verified and confirmation received');
  },
});

const mrtrMultipleInputs = defineTool({
  name: 'test_input_required_result_multiple_inputs',
  description: 'Asks for an elicitation, a sampling answer and the roots in one round.',
  input: {},
  handler(_args, ctx) {
    const name = nameOf(ctx, 'user_name');
    const greeting = sampled(ctx, 'greeting');
    const roots = rootsOf(ctx, 'client_roots');
    if (name === undefined || greeting === undefined || roots === undefined) {
      return inputRequired({
        inputRequests: {
          user_name: askName(),
          greeting: inputRequired.createMessage({
            messages: [{ role: 'user', content: { type: 'text', text: 'Generate a greeting' } }],
            maxTokens: 50,
          }),
          client_roots: inputRequired.listRoots(),
        },
        requestState: { tool: 'multiple_inputs' },
      });
    }
    return text(`${greeting} ${name} — ${roots.length} root(s) visible`);
  },
});

const mrtrMultiRound = defineTool({
  name: 'test_input_required_result_multi_round',
  description: 'Two elicitation rounds in sequence; what the first taught travels in requestState.',
  input: {},
  handler(_args, ctx) {
    const state = stateOf(ctx, 'multi_round');
    switch (state?.round) {
      case undefined:
        return inputRequired({
          inputRequests: { step1: askName('Step 1: What is your name?') },
          requestState: { tool: 'multi_round', round: 1 },
        });
      case 1:
        return inputRequired({
          inputRequests: {
            step2: inputRequired.elicit({
              message: 'Step 2: What is your favorite color?',
              requestedSchema: { type: 'object', properties: { color: { type: 'string' } }, required: ['color'] },
            }),
          },
          requestState: { tool: 'multi_round', round: 2, name: nameOf(ctx, 'step1') ?? 'unknown' },
        });
      default: {
        const color = acceptedContent(ctx.inputResponses, 'step2', z.object({ color: z.string() }))?.color ?? 'unknown';
        return text(`Multi-round complete: ${state?.name ?? 'unknown'} likes ${color}`);
      }
    }
  },
});

// A tampered requestState never reaches this handler: the platform refuses it first (-32602).
const mrtrTamperedState = defineTool({
  name: 'test_input_required_result_tampered_state',
  description: 'Refuses retries whose requestState was altered (the platform checks its signature).',
  input: {},
  handler(_args, ctx) {
    if (stateOf(ctx, 'tampered_state') && acceptedContent(ctx.inputResponses, 'confirm') !== undefined) {
      return text('integrity-ok: requestState verified');
    }
    return inputRequired({
      inputRequests: { confirm: inputRequired.elicit({ message: 'Please confirm', requestedSchema: CONFIRM_FORM }) },
      requestState: { tool: 'tampered_state' },
    });
  },
});

const mrtrCapabilities = defineTool({
  name: 'test_input_required_result_capabilities',
  description: 'Asks only for the kinds of input the client declared it can give.',
  input: {},
  handler(_args, ctx) {
    if (ctx.inputResponses !== undefined) return text('Capability-aware input requests fulfilled');
    const declared = ctx.clientCapabilities;
    const inputRequests: InputRequests = {};
    if (declared?.elicitation) inputRequests.user_name = askName();
    if (declared?.sampling) {
      inputRequests.greeting = inputRequired.createMessage({
        messages: [{ role: 'user', content: { type: 'text', text: 'Generate a short greeting' } }],
        maxTokens: 50,
      });
    }
    if (declared?.roots) inputRequests.client_roots = inputRequired.listRoots();
    if (Object.keys(inputRequests).length === 0) return text('No declared client capability supports an in-band input request');
    return inputRequired({ inputRequests });
  },
});

// Asks for sampling whatever the client declared: a client without the capability must get
// -32021 from the platform before anything is sent.
const missingCapability = defineTool({
  name: 'test_missing_capability',
  description: 'Needs the sampling capability (a client without it gets -32021).',
  input: {},
  handler(_args, ctx) {
    if (sampled(ctx, 'llm_answer') !== undefined) return text('sampling round-trip complete');
    return inputRequired({
      inputRequests: {
        llm_answer: inputRequired.createMessage({
          messages: [{ role: 'user', content: { type: 'text', text: 'Reply with the single word: pong' } }],
          maxTokens: 16,
        }),
      },
    });
  },
});

export const inputTools = [
  sampling,
  elicitation,
  elicitationDefaults,
  elicitationEnums,
  mrtrElicitation,
  mrtrSampling,
  mrtrRoots,
  mrtrRequestState,
  mrtrMultipleInputs,
  mrtrMultiRound,
  mrtrTamperedState,
  mrtrCapabilities,
  missingCapability,
];

export const inputPrompt: PromptDefinition = {
  name: 'test_input_required_result_prompt',
  description: 'A prompt that asks the user for its context first.',
  get(_args, ctx) {
    const context = acceptedContent(ctx.inputResponses, 'user_context', z.object({ context: z.string() }))?.context;
    if (context === undefined) {
      return inputRequired({
        inputRequests: {
          user_context: inputRequired.elicit({
            message: 'What context should the prompt use?',
            requestedSchema: { type: 'object', properties: { context: { type: 'string' } }, required: ['context'] },
          }),
        },
      });
    }
    return { messages: [{ role: 'user', content: { type: 'text', text: `Prompt with context: ${context}` } }] };
  },
};
