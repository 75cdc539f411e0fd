// Caching hints (ttlMs, cacheScope) for 2026-07-28 list and read results, from configuration:
// `caching.list_ttl`, `caching.read_ttl` and `caching.scope`, each overridable per toolset under
// `caching.toolsets.<name>`. A list mixes every toolset's entries, so it may be kept only as long
// as the shortest of them allows, and only as widely as the narrowest scope.
import type { CacheHint } from '@modelcontextprotocol/server';
import { configProblem } from '../config/errors.js';
import type { Config } from '../config/schema.js';
import type { Registry } from '../core/registry.js';

export interface CacheHints {
  /** tools/list, prompts/list, resources/list, resources/templates/list. */
  lists: CacheHint;
  /** resources/read of this URI: the hint of the toolset that serves it. */
  read(uri: string): CacheHint;
}

export function cacheHints(settings: Config['caching'], registry: Registry): CacheHints {
  const names = registry.toolsets.map((toolset) => toolset.name);
  for (const name of Object.keys(settings.toolsets)) {
    if (!names.includes(name)) {
      throw configProblem(`caching.toolsets: "${name}" is not an enabled toolset (enabled: ${names.join(', ')})`);
    }
  }
  const of = (toolset: string) => {
    const own = settings.toolsets[toolset] ?? {};
    return { list: own.list_ttl ?? settings.list_ttl, read: own.read_ttl ?? settings.read_ttl, scope: own.scope ?? settings.scope };
  };
  const all = names.map(of);
  const lists: CacheHint = {
    ttlMs: all.length === 0 ? settings.list_ttl : Math.min(...all.map((hint) => hint.list)),
    cacheScope: all.length === 0 ? settings.scope : all.some((hint) => hint.scope === 'private') ? 'private' : 'public',
  };
  const owners = new Map<string, CacheHint>();
  for (const toolset of registry.toolsets) {
    const hint = of(toolset.name);
    for (const resource of toolset.resources ?? []) owners.set(resource.uri, { ttlMs: hint.read, cacheScope: hint.scope });
  }
  const templates = registry.toolsets.flatMap((toolset) => (toolset.resourceTemplates ?? []).map((t) => ({ t, hint: of(toolset.name) })));
  const fallback: CacheHint = { ttlMs: settings.read_ttl, cacheScope: settings.scope };
  return {
    lists,
    read(uri) {
      const owned = owners.get(uri);
      if (owned) return owned;
      const match = registry.matchTemplate(uri);
      const entry = match && templates.find(({ t }) => t === match.template.definition);
      return entry ? { ttlMs: entry.hint.read, cacheScope: entry.hint.scope } : fallback;
    },
  };
}
