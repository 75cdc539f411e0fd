// The cursors that event ids carry, so that a client resuming with Last-Event-ID (on any instance)
// says where it left off: `r.<key>.<position>` for a request's stream, `g.<position of the change
// topic>.<position of the session's topic>` for the standalone stream (a position is `<at>.<id>`
// in base 36, see src/store/channel/types.ts).
import type { Position } from '../store/channel/types.js';

export type StreamCursor = { kind: 'request'; key: string; after: Position } | { kind: 'session'; changes: Position; session: Position };

const encodePosition = (p: Position) => `${p.at.toString(36)}.${p.id.toString(36)}`;

export function encodeCursor(cursor: StreamCursor): string {
  return cursor.kind === 'request'
    ? `r.${cursor.key}.${encodePosition(cursor.after)}`
    : `g.${encodePosition(cursor.changes)}.${encodePosition(cursor.session)}`;
}

/** The cursor a Last-Event-ID names, or undefined when it is none of ours. */
export function decodeCursor(text: string): StreamCursor | undefined {
  const number = (part: string | undefined) => (part !== undefined && /^[0-9a-z]{1,13}$/.test(part) ? parseInt(part, 36) : NaN);
  const parts = text.split('.');
  if (parts[0] === 'r' && parts.length === 4 && /^[A-Za-z0-9_-]{8,64}$/.test(parts[1]!)) {
    const after = { at: number(parts[2]), id: number(parts[3]) };
    if (Number.isSafeInteger(after.at) && Number.isSafeInteger(after.id)) return { kind: 'request', key: parts[1]!, after };
  }
  if (parts[0] === 'g' && parts.length === 5) {
    const [changes, session] = [
      { at: number(parts[1]), id: number(parts[2]) },
      { at: number(parts[3]), id: number(parts[4]) },
    ];
    if ([changes.at, changes.id, session.at, session.id].every(Number.isSafeInteger)) return { kind: 'session', changes, session };
  }
  return undefined;
}
