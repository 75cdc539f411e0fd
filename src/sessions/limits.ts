// What a client can make a store keep: the negotiated part of `initialize` is bounded in size, and
// the live sessions of one credential in number. Both stores check alike and refuse with the same
// errors, which the session layer answers as they are.
import { JsonRpcCode, SessionRefusedError } from '../http/errors.js';
import type { NewSession, SessionLimits } from './types.js';

const encoder = new TextEncoder();

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
