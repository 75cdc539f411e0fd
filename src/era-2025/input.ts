// How a 2025 session answers a handler that asks for input (InputRequired): a 2025 client has no
// such result, so the requests it embeds go to the client as real elicitation, sampling and roots
// requests on the stream of the request being served, and the handler runs again with the
// answers. Used by the calls themselves (server.ts) and by tasks/result for a task waiting for
// input (tasks.ts), where each request names its task (`io.modelcontextprotocol/related-task`).
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  type CallToolRequest,
  type ElicitRequestParams,
  RELATED_TASK_META_KEY,
  type ServerNotification,
  type ServerRequest,
  type ServerResult,
} from '@modelcontextprotocol/sdk/types.js';
import { FaultCode, ProtocolFault } from '../core/calls.js';
import { type HandlerContext, type InputRequests, type InputRequired, type InputResponses, isInputRequired } from '../core/define.js';

/** Rounds of input one call may ask for before it is stopped (a handler that never completes). */
export const MAX_INPUT_ROUNDS = 10;

export type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** The input round a call waits in: what it asked, with which state, and what was answered. */
export interface InputRound {
  requests: InputRequests;
  requestState: unknown;
  /** The answers received so far, by key. */
  answers: InputResponses;
  /** The key of the request sent and not answered yet. */
  asking: string | undefined;
}

/** A tools/call as far as it went: enough for another instance to go on with it (./handover.ts). */
export interface CallProgress {
  params: CallToolRequest['params'] | undefined;
  round: InputRound | undefined;
  /** Told each time the call sent the client a request and waits for its reply. */
  onAsk?: () => void;
}

/** A round of the given requests, nothing answered yet. */
export function newRound(requests: InputRequests, requestState?: unknown): InputRound {
  return { requests, requestState, answers: {}, asking: undefined };
}

/**
 * Runs a method that may ask for input until it answers: each InputRequired round's requests go
 * to the client as real requests, one after the other (clients show one form at a time), and
 * the method runs again with this round's answers and the state it returned. The state never
 * leaves the process here, so it needs no signature. With `call`, where the call stands is kept
 * there as it goes; a round already in it (a handed-over call) is continued before the handler
 * runs again.
 */
export async function withInput<R>(
  server: Server,
  extra: Extra,
  base: HandlerContext,
  run: (ctx: HandlerContext) => Promise<R | InputRequired>,
  call?: CallProgress,
) {
  let ctx = base;
  let resumed = call?.round;
  for (let round = 0; ; round++) {
    const output: R | InputRequired = resumed
      ? { resultType: 'input_required', inputRequests: resumed.requests, requestState: resumed.requestState }
      : await run(ctx);
    if (!isInputRequired(output)) return output as R & ServerResult;
    if (round === MAX_INPUT_ROUNDS) {
      throw new ProtocolFault(
        FaultCode.InternalError,
        `The handler asked for input more than ${MAX_INPUT_ROUNDS} times; the call was stopped.`,
      );
    }
    const current = resumed ?? newRound(output.inputRequests ?? {}, output.requestState);
    resumed = undefined;
    if (call) call.round = current;
    const answers = output.inputRequests === undefined ? undefined : await ask(server, extra, current, { onAsk: call?.onAsk });
    ctx = { ...base, inputResponses: answers, requestState: output.requestState };
  }
}

/**
 * Asks the round's requests not answered yet, one after the other (clients show one form at a
 * time), on the stream of the request `extra` belongs to; the answers gather in the round.
 * `taskId` names the task they are asked for; `onAsk` is told as each request leaves.
 */
export async function ask(
  server: Server,
  extra: Extra,
  round: InputRound,
  options: { taskId?: string; onAsk?: () => void } = {},
): Promise<InputResponses> {
  const { taskId, onAsk } = options;
  // No abort signal here: on Workers the reply arrives in another request's context, which may
  // not touch the I/O objects (an AbortSignal among them) of the request that asked.
  const sending = { relatedRequestId: extra.requestId };
  // The task is named in the request's own `_meta`: the SDK's `relatedTask` option would queue the
  // request in a TaskMessageQueue (which this server does not use) instead of sending it.
  const related = <P extends { _meta?: Record<string, unknown> } | undefined>(params: P): P =>
    taskId === undefined ? params : ({ ...params, _meta: { ...params?._meta, [RELATED_TASK_META_KEY]: { taskId } } } as P);
  for (const [key, request] of Object.entries(round.requests)) {
    if (key in round.answers) continue;
    let reply: Promise<unknown>;
    switch (request.method) {
      case 'elicitation/create': {
        const params = related(request.params as ElicitRequestParams);
        // A URL elicitation of the 2025 era names itself, so that its completion can be told apart.
        const sent = params.mode === 'url' && !params.elicitationId ? { ...params, elicitationId: crypto.randomUUID() } : params;
        reply = server.elicitInput(sent, sending);
        break;
      }
      case 'sampling/createMessage':
        reply = server.createMessage(related(request.params as Parameters<Server['createMessage']>[0]), sending);
        break;
      case 'roots/list':
        reply = server.listRoots(related(undefined), sending);
        break;
      default:
        throw new ProtocolFault(
          FaultCode.InternalError,
          `Unknown input request "${(request as { method: string }).method}" (key "${key}")`,
        );
    }
    round.asking = key;
    onAsk?.();
    round.answers[key] = (await reply) as InputResponses[string];
    round.asking = undefined;
  }
  return round.answers;
}
