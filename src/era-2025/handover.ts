// Calls of 2025 sessions in flight across a drain (docs/operations.md, "Calls in flight during a
// deploy"): no client may wait for its own timeout because the instance serving its call stopped.
// One Handover per Instance (./instance.ts), owning the calls it serves that a drain may hand over,
// and the handed-over calls it goes on with.
//
// When the drain begins, a call that only waits for the client's input (a request it sent, see
// `withInput` in ./server.ts) is handed over at once, and one that starts waiting during the drain
// as soon as it does; when the grace period ends, a call still running is handed over if its tool
// may run again (`task.rerunnable`, by default its `idempotentHint`). Handing over:
//   1. the call's work stops here (`Exchange.handOver`): the server stops it, and a reply to the
//      request it had sent the client, wherever the client posts it, is kept on the channel;
//   2. the call becomes a record in the task store, the one kind of "work any instance can
//      continue, with its input so far" there is: tool, arguments, the answers of its round so far,
//      whether it runs again, bound to the session. Its credential is the session's under the
//      `handover:` prefix, so that no client's task list or open-task cap sees it;
//   3. a note on the request's stream topic (src/store/channel/topics.ts, HandoverNote) names the
//      record, the request id, and the round the call waits in, with the wire id of the request
//      whose reply it awaits; then the request's HTTP stream ends.
// The client got the stream's priming event, so it resumes the stream (GET, Last-Event-ID) on
// another instance, which replays the note, claims the record (a lease: however often the stream
// is resumed, one instance goes on with the call) and goes on: it reads the awaited reply from
// the channel, then serves the call again through the session's server with its round seeded, the
// call's messages and answer going to the stream's topic, which the resumed stream delivers. A
// call that runs again starts from the beginning.
//
// A call that can be neither handed over nor continued (its tool may not run again, its session's
// protocol cannot resume streams, it is not a tools/call, or the store refused the record) is
// answered at once with a JSON-RPC error that says a restart cut it off.
import {
  CreateMessageResultSchema,
  ElicitResultSchema,
  ListRootsResultSchema,
  type JSONRPCResponse,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';
import type { InputRequests, InputResponses } from '../core/define.js';
import type { Registry } from '../core/registry.js';
import { errorText, type Logger } from '../log.js';
import { instanceTopic, type HandoverNote, type ReplyMessage } from '../store/channel/topics.js';
import type { Channel, Json, Message } from '../store/channel/types.js';
import type { TaskStore } from '../store/tasks/types.js';
import type { Exchange } from './exchange-router.js';
import { CUT_OFF_BY_RESTART } from '../http/errors.js';
import type { CallProgress, InputRound } from './input.js';
import type { RequestStream } from './streams.js';

/** How long the record of a handed-over call is kept: as long as its stream can be resumed, and more. */
const RECORD_TTL_MS = 60 * 60_000;
/** The lease of the instance going on with a handed-over call, renewed every third of it. */
const LEASE_MS = 30_000;

/** The task-store credential of handed-over calls: the session's, in a space of its own. */
export const handoverCredential = (credentialHash: string) => `handover:${credentialHash}`;

/** How a handed-over call goes on here: in its round (undefined: from its start), or answered with an error. */
export type Continuation = { round: InputRound | undefined } | { error: { code: number; message: string } };

/** A request served here that a drain may hand over or cut off. */
export interface LiveCall {
  exchange: Exchange;
  /** The request's resumable stream; undefined when the session's protocol cannot resume one. */
  stream: RequestStream | undefined;
  /** Its tools/call, when the request is a single one (a batch is cut off). */
  progress: CallProgress | undefined;
  sessionId: string;
  credentialHash: string;
  requestId: RequestId;
  /** The store's clock when the request was opened. */
  since: number;
  /** The record of the handed-over call this one continues: done with once this call ends here. */
  continues?: string;
}

export interface HandoverOptions {
  tasks: TaskStore;
  channel: Channel;
  registry: Registry;
  /** This instance's id: what it claims records with, and what its wire ids start with. */
  owner: string;
  logger: Logger;
}

export class Handover {
  readonly #options: HandoverOptions;
  readonly #live = new Set<LiveCall>();
  /** Calls leaving (handed over or cut off), so that each leaves once. */
  readonly #leaving = new WeakSet<LiveCall>();
  /** Continuations waiting for a reply: a drain stops them, and the next instance claims the record. */
  readonly #waiting = new Set<AbortController>();
  #draining = false;

  constructor(options: HandoverOptions) {
    this.#options = options;
  }

  /** Calls served here now (for tests and diagnostics). */
  get size(): number {
    return this.#live.size;
  }

  /** A request is served here: until its exchange is over, a drain may hand it over. */
  track(call: LiveCall): void {
    this.#live.add(call);
    void call.exchange.done.then(() => {
      this.#live.delete(call);
      if (call.continues) void this.#done(call.continues);
    });
  }

  /** The call sent the client a request and waits: during a drain, it leaves now. */
  asked(call: LiveCall): void {
    if (this.#draining && this.#live.has(call)) void this.#leave(call, 'input');
  }

  /** The drain began: calls that wait only for the client leave now; continuations waiting for a reply let go of it. */
  drain(): void {
    this.#draining = true;
    for (const call of this.#live) if (call.progress?.round?.asking !== undefined) void this.#leave(call, 'input');
    for (const stop of this.#waiting) stop.abort();
  }

  /** The grace period is over: every call still here is handed over or answered with the cut-off error. */
  async cutOff(): Promise<void> {
    this.#draining = true;
    await Promise.all([...this.#live].map((call) => this.#leave(call, 'end')));
  }

  close(): void {
    this.#draining = true;
    for (const stop of this.#waiting) stop.abort();
  }

  /**
   * Goes on with a handed-over call whose note a resumed stream of the session came upon, unless
   * another instance does: claims its record, waits for the reply the call awaited, then `serve`
   * serves the call here with its round (resolving once it is over).
   */
  async continue(
    note: HandoverNote,
    session: { id: string; credentialHash: string },
    serve: (how: Continuation, record: string) => Promise<void>,
  ): Promise<void> {
    const { tasks, owner, logger } = this.#options;
    if (this.#draining) return;
    const [record] = await tasks.claim(owner, LEASE_MS, { id: note.record });
    if (!record) return;
    if (record.sessionId !== session.id || record.credentialHash !== handoverCredential(session.credentialHash)) {
      await tasks.release(owner, [record.id]);
      return;
    }
    const renewal = setInterval(
      () => void tasks.renew(owner, LEASE_MS).catch((error: unknown) => logger.warn('lease not renewed', { error: errorText(error) })),
      LEASE_MS / 3,
    );
    (renewal as { unref?: () => void }).unref?.();
    try {
      let round: InputRound | undefined;
      if (note.round) {
        const requests = note.round.requests as unknown as InputRequests;
        const answers = { ...record.inputResponses } as unknown as InputResponses;
        const pending = note.round.pending;
        if (pending) {
          const reply = await this.#reply(session.id, pending.id, note.since);
          // This instance drains: the record waits for the next one.
          if (!reply) return void (await tasks.release(owner, [record.id]));
          const answer = answerOf(reply, requests[pending.key]?.method);
          if ('error' in answer) return await serve(answer, record.id);
          answers[pending.key] = answer.result as InputResponses[string];
        }
        round = { requests, requestState: note.round.requestState, answers, asking: undefined };
      }
      logger.info('handed-over call continued here', {
        session: session.id.slice(0, 8),
        record: record.id.slice(0, 8),
        attempt: record.attempts,
      });
      await serve({ round }, record.id);
    } catch (error) {
      logger.error('a handed-over call could not be continued', { session: session.id.slice(0, 8), error: errorText(error) });
    } finally {
      clearInterval(renewal);
    }
  }

  /** Hands the call over (or cuts it off when it cannot be): `input` while it waits for the client, `end` when the grace period ended. */
  async #leave(call: LiveCall, when: 'input' | 'end'): Promise<void> {
    if (this.#leaving.has(call)) return;
    const { progress, stream } = call;
    const waits = progress?.round?.asking !== undefined;
    const tool = progress?.params ? this.#options.registry.tools.get(progress.params.name) : undefined;
    const rerun = !waits && tool?.task.rerunnable === true;
    if (when === 'input' && !waits) return;
    this.#leaving.add(call);
    if (!stream || !progress?.params || !(waits || rerun)) return this.#cut(call, 'cannot be handed over');
    const asking = progress.round?.asking;
    const waitedFor = call.exchange.handOver();
    // A reply delivered just before the hand-over is recorded in the round a turn later.
    await new Promise((resolve) => setImmediate(resolve));
    const round = waits ? progress.round : undefined;
    const pending =
      round && waitedFor.length === 1 && asking !== undefined && !(asking in round.answers)
        ? { id: waitedFor[0]!, key: asking }
        : undefined;
    try {
      const record = await this.#options.tasks.create({
        credentialHash: handoverCredential(call.credentialHash),
        sessionId: call.sessionId,
        tool: progress.params.name,
        arguments: (progress.params.arguments ?? {}) as Record<string, Json>,
        ttlMs: RECORD_TTL_MS,
        rerunnable: rerun,
        // Claimable at once by whichever instance serves the resumed stream, and by no other search.
        kind: 'call',
        lease: { owner: this.#options.owner, ms: 0 },
        // Nobody's call runs for a principal but the session's own requests, which bring their own.
        caller: { principal: undefined, clientCapabilities: undefined, clientInfo: undefined },
        ...(round && { inputResponses: round.answers as unknown as Record<string, Json> }),
      });
      await stream.handOver({
        record: record.id,
        requestId: call.requestId,
        params: progress.params as unknown as Json,
        ...(round && {
          round: {
            requests: round.requests as unknown as Json,
            ...(round.requestState !== undefined && { requestState: round.requestState as Json }),
            ...(pending && { pending }),
          },
        }),
        since: call.since,
      });
      this.#options.logger.info('call handed over', {
        session: call.sessionId.slice(0, 8),
        tool: progress.params.name,
        how: round ? 'continues its input round elsewhere' : 'runs again elsewhere',
      });
    } catch (error) {
      this.#options.logger.warn('call not handed over', { session: call.sessionId.slice(0, 8), error: errorText(error) });
      await this.#cut(call, 'not handed over');
    }
  }

  async #cut(call: LiveCall, why: string): Promise<void> {
    this.#options.logger.warn('call cut off by the drain', { session: call.sessionId.slice(0, 8), why });
    await call.exchange.cutOff(CUT_OFF_BY_RESTART).catch((error: unknown) => {
      this.#options.logger.debug('cut-off error not delivered', { error: errorText(error) });
    });
  }

  /** The client's reply to `id` (sent by the instance the id names), kept on the channel; undefined once this instance drains. */
  #reply(sessionId: string, id: string, since: number): Promise<JSONRPCResponse | undefined> {
    const { channel } = this.#options;
    const topic = instanceTopic(id.slice(0, id.lastIndexOf('.')));
    const stop = new AbortController();
    this.#waiting.add(stop);
    return new Promise<JSONRPCResponse | undefined>((resolve, reject) => {
      const finish = (reply: JSONRPCResponse | undefined) => {
        subscription.unsubscribe();
        this.#waiting.delete(stop);
        resolve(reply);
      };
      const take = (message: Message) => {
        const reply = message.payload as unknown as ReplyMessage;
        if (reply?.kind === 'reply' && reply.session === sessionId && String(reply.message.id) === id) finish(reply.message);
      };
      // Live first, then what was kept: a reply posted before this instance listened is read back.
      const subscription = channel.subscribe(topic, take, { since });
      stop.signal.addEventListener('abort', () => finish(undefined), { once: true });
      channel.read(new Map([[topic, { at: since, id: 0 }]])).then((kept) => kept.forEach(take), reject);
    });
  }

  /** The record of a handed-over call that ended here, one way or another: nothing more to claim. */
  async #done(record: string): Promise<void> {
    const { tasks, owner, logger } = this.#options;
    await tasks.settle(record, owner, { status: 'completed', result: {} }).catch((error: unknown) => {
      logger.debug('handed-over record not settled; it expires with its ttl', { error: errorText(error) });
    });
  }
}

/**
 * A reply checked as the SDK's own request would check it: the result, or the error that answers
 * the call (the client's own error, as the call would have failed with it here).
 */
function answerOf(reply: JSONRPCResponse, method: string | undefined): { result: unknown } | { error: { code: number; message: string } } {
  if (!('result' in reply)) {
    const { code, message } = (reply as { error: { code: number; message: string } }).error;
    return { error: { code, message } };
  }
  const schema =
    method === 'elicitation/create'
      ? ElicitResultSchema
      : method === 'sampling/createMessage'
        ? CreateMessageResultSchema
        : ListRootsResultSchema;
  const parsed = schema.safeParse(reply.result);
  if (parsed.success) return { result: parsed.data };
  return {
    error: { code: -32602, message: `The client's answer to ${method ?? 'the input request'} is not valid: ${parsed.error.message}` },
  };
}
