/** `caching`: the cache hints 2026-07-28 results carry (ttlMs, cacheScope), overall and per toolset. */
import { z } from 'zod';
import { duration } from '../values.js';

const CACHE_SCOPES = ['private', 'public'] as const;

const cacheOverride = z.strictObject({
  list_ttl: duration({ positive: false }).optional(),
  read_ttl: duration({ positive: false }).optional(),
  scope: z.enum(CACHE_SCOPES).optional(),
});

export const cachingSection = z.strictObject({
  /** ttlMs on tools/list, prompts/list, resources/list and resources/templates/list (2026-07-28). */
  list_ttl: duration({ positive: false }).default(5 * 60_000),
  /** ttlMs on resources/read. */
  read_ttl: duration({ positive: false }).default(0),
  /** cacheScope: "private" (one client's cache) or "public" (shared caches may keep it). */
  scope: z.enum(CACHE_SCOPES).default('private'),
  /** Per toolset, by name: any of list_ttl, read_ttl and scope. */
  toolsets: z.record(z.string(), cacheOverride).default({}),
});
