// Session and instance ids: unguessable, like every id a client holds (../store/ids.ts).
import { unguessableId } from '../store/ids.js';

const MAX_ID_LENGTH = 128;
const VISIBLE_ASCII = /^[\x21-\x7e]+$/;

export const newSessionId = unguessableId;

/** An instance's id: it names the instance in request ids and task leases, so it is short. */
export const newInstanceId = () => unguessableId().slice(0, 12);

/** Ids we could never have issued are refused before any store access. */
export function isWellFormedSessionId(id: string): boolean {
  return id.length > 0 && id.length <= MAX_ID_LENGTH && VISIBLE_ASCII.test(id);
}
