// What a client can make a store keep: the negotiated part of `initialize` is bounded in size, the
// live sessions of one credential in number, and a session's state in size, as `sessions.*` sets
// them. Both stores check alike and refuse with the same errors, which the session layer answers
// as they are.
import type { Config } from '../config/schema.js';
import { JsonRpcCode } from '../http/errors.js';
import { SessionRefusedError, TaskRefusedError } from './errors.js';
import type { NewSession, SessionLimits } from './types.js';

const encoder = new TextEncoder();

/** The limits `sessions.*` sets, for every store a server or the command line opens. */
export function sessionLimits(config: Config): SessionLimits {
  return {
    ttlMs: config.sessions.ttl,
    idleTimeoutMs: config.sessions.idle_timeout,
    maxInitializeBytes: config.sessions.max_initialize_bytes,
    maxPerCredential: config.sessions.max_per_credential,
    maxSubscriptions: config.sessions.max_subscriptions,
    maxStateBytes: config.sessions.max_state_bytes,
    maxOpenTasksPerCredential: config.sessions.max_open_tasks,
  };
}

/** The UTF-8 size of `text` when it is over `max`; counted only when it could be (most texts are far below). */
function bytesOver(text: string, max: number): number | undefined {
  if (text.length * 3 <= max) return undefined;
  const size = encoder.encode(text).byteLength;
  return size > max ? size : undefined;
}

/** The JSON a store keeps of what `initialize` negotiated; refused when it is over the limit. */
export function negotiatedJson(session: NewSession, limits: SessionLimits): { capabilities: string; info: string } {
  const capabilities = JSON.stringify(session.clientCapabilities);
  const info = JSON.stringify(session.clientInfo);
  const max = limits.maxInitializeBytes;
  // A UTF-16 unit is at most 3 UTF-8 bytes: most clients are far below the limit and need no count.
  if (max !== undefined && (capabilities.length + info.length) * 3 > max) {
    const size = encoder.encode(capabilities).byteLength + encoder.encode(info).byteLength;
    if (size > max) {
      throw new SessionRefusedError(
        413,
        JsonRpcCode.InvalidParams,
        `Payload Too Large: initialize capabilities and clientInfo take ${size} bytes as JSON; a session keeps at most ${max} (sessions.max_initialize_bytes)`,
      );
    }
  }
  return { capabilities, info };
}

/** The configured cap, or undefined when there is none. */
export function perCredentialCap(limits: SessionLimits): number | undefined {
  return limits.maxPerCredential ? limits.maxPerCredential : undefined;
}

/** The configured cap on open tasks per credential, or undefined when there is none. */
export function openTasksCap(limits: SessionLimits): number | undefined {
  return limits.maxOpenTasksPerCredential ? limits.maxOpenTasksPerCredential : undefined;
}

export function tooManyTasks(max: number): TaskRefusedError {
  return new TaskRefusedError(
    JsonRpcCode.ServerError,
    `Too many open tasks: this credential already has ${max} tasks working or waiting for input, the most allowed (sessions.max_open_tasks); wait for one to finish, or cancel one (tasks/cancel), then call again. Nothing was started.`,
  );
}

/**
 * The memory store's check of a state write (the database store makes the same one in SQL): the
 * merged state `after` may pass the limit only if it is no larger than `before`, so that a session
 * over a limit lowered since can still shed keys.
 */
export function checkStateSize(before: string, after: string, limits: SessionLimits): void {
  const max = limits.maxStateBytes;
  if (max === undefined) return;
  const size = bytesOver(after, max);
  if (size !== undefined && size > encoder.encode(before).byteLength) throw stateTooLarge(size, max);
}

export function stateTooLarge(size: number, max: number): SessionRefusedError {
  return new SessionRefusedError(
    413,
    JsonRpcCode.ServerError,
    `Session state too large: this request would leave ${size} bytes of session state (as JSON); a session keeps at most ${max} bytes (sessions.max_state_bytes). The request was not completed and nothing was stored.`,
  );
}
