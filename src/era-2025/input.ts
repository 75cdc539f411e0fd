// How a 2025 session answers a handler that asks for input (InputRequired): a 2025 client has no
// such result, so the requests it embeds go to the client as real elicitation, sampling and roots
// requests on the stream of the request being served, and the handler runs again with the
// answers. Used by the calls themselves (server.ts) and by tasks/result for a task waiting for
// input (tasks.ts), where each request names its task (`io.modelcontextprotocol/related-task`).
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
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

/**
 * Runs a method that may ask for input until it answers: each InputRequired round's requests go
 * to the client as real requests, one after the other (clients show one form at a time), and
 * the method runs again with this round's answers and the state it returned. The state never
 * leaves the process here, so it needs no signature.
 */
export async function withInput<R>(
  server: Server,
  extra: Extra,
  base: HandlerContext,
  run: (ctx: HandlerContext) => Promise<R | InputRequired>,
) {
  let ctx = base;
  for (let round = 0; ; round++) {
    const output = await run(ctx);
    if (!isInputRequired(output)) return output as R & ServerResult;
    if (round === MAX_INPUT_ROUNDS) {
      throw new ProtocolFault(
        FaultCode.InternalError,
        `The handler asked for input more than ${MAX_INPUT_ROUNDS} times; the call was stopped.`,
      );
    }
    ctx = { ...base, inputResponses: await ask(server, extra, output.inputRequests), requestState: output.requestState };
  }
}

/**
 * Sends the requests to the client, one after the other (clients show one form at a time), on the
 * stream of the request `extra` belongs to; `taskId` names the task they are asked for.
 */
export async function ask(
  server: Server,
  extra: Extra,
  requests: InputRequests | undefined,
  taskId?: string,
): Promise<InputResponses | undefined> {
  if (requests === undefined) return undefined;
  // No abort signal here: on Workers the reply arrives in another request's context, which may
  // not touch the I/O objects (an AbortSignal among them) of the request that asked.
  const options = { relatedRequestId: extra.requestId };
  // The task is named in the request's own `_meta`: the SDK's `relatedTask` option would queue the
  // request in a TaskMessageQueue (which this server does not use) instead of sending it.
  const related = <P extends { _meta?: Record<string, unknown> } | undefined>(params: P): P =>
    taskId === undefined ? params : ({ ...params, _meta: { ...params?._meta, [RELATED_TASK_META_KEY]: { taskId } } } as P);
  const responses: InputResponses = {};
  for (const [key, request] of Object.entries(requests)) {
    switch (request.method) {
      case 'elicitation/create': {
        const params = related(request.params as ElicitRequestParams);
        // A URL elicitation of the 2025 era names itself, so that its completion can be told apart.
        const sent = params.mode === 'url' && !params.elicitationId ? { ...params, elicitationId: crypto.randomUUID() } : params;
        responses[key] = (await server.elicitInput(sent, options)) as InputResponses[string];
        break;
      }
      case 'sampling/createMessage':
        responses[key] = (await server.createMessage(
          related(request.params as Parameters<Server['createMessage']>[0]),
          options,
        )) as InputResponses[string];
        break;
      case 'roots/list':
        responses[key] = (await server.listRoots(related(undefined), options)) as InputResponses[string];
        break;
      default:
        throw new ProtocolFault(
          FaultCode.InternalError,
          `Unknown input request "${(request as { method: string }).method}" (key "${key}")`,
        );
    }
  }
  return responses;
}
