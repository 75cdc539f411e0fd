// API keys from `auth.api_keys`: each entry is a key (usually a `${ENV}` reference to a secret) or
// the `sha256:<hex>` digest of one. Only digests are kept in memory, and a presented key is
// compared as a digest against every configured one, in constant time.
import { configProblem } from '../config/errors.js';
import { constantTimeEqual, sha256 } from './credential.js';

const DIGEST_ENTRY = /^sha256:(.*)$/is;
const HEX_DIGEST = /^[0-9a-f]{64}$/i;
/** Shorter raw keys are accepted but reported: they are guessable. */
const SHORT_KEY = 16;

export interface ApiKeyMatch {
  /** Position in `auth.api_keys`, the key's name for tools and operators (never the key). */
  index: number;
}

export class ApiKeys {
  private constructor(private readonly digests: Uint8Array[]) {}

  /** Reads the entries; problems are thrown with the key path, warnings returned. */
  static async from(entries: string[]): Promise<{ keys: ApiKeys; warnings: string[] }> {
    const digests: Uint8Array[] = [];
    const warnings: string[] = [];
    for (const [index, entry] of entries.entries()) {
      const digest = DIGEST_ENTRY.exec(entry);
      if (digest) {
        const hex = digest[1]!.trim();
        if (!HEX_DIGEST.test(hex)) {
          throw configProblem(
            `auth.api_keys[${index}]: a "sha256:" entry needs 64 hexadecimal digits after the prefix (the SHA-256 digest of the key)`,
          );
        }
        digests.push(Uint8Array.from(hex.match(/../g)!.map((pair) => parseInt(pair, 16))));
        continue;
      }
      if (entry.length < SHORT_KEY)
        warnings.push(`auth.api_keys[${index}]: the key is shorter than ${SHORT_KEY} characters and easy to guess`);
      digests.push(await sha256(entry));
    }
    return { keys: new ApiKeys(digests), warnings };
  }

  get size(): number {
    return this.digests.length;
  }

  /** The configured key the presented one equals, if any. Every entry is compared. */
  async match(presented: string): Promise<ApiKeyMatch | undefined> {
    const digest = await sha256(presented);
    let found = -1;
    for (const [index, expected] of this.digests.entries()) {
      if (constantTimeEqual(digest, expected) && found === -1) found = index;
    }
    return found === -1 ? undefined : { index: found };
  }
}
