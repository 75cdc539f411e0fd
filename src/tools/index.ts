// The toolsets this platform ships, by the name used in `toolsets:` / BATON_TOOLSETS.
import { configProblem } from '../config/errors.js';
import type { Toolset } from '../core/define.js';
import type { BuiltInServices } from './data/datasource.js';

export type { ToolsetFactory, ToolsetServices, ToolsetSource } from '../core/define.js';
export type { BuiltInServices };

/**
 * Built-in toolsets, each built at start when it is enabled. Each is loaded then too: a runtime
 * that does not enable one evaluates none of its code (the conformance suite's fixtures, the data
 * toolset's SQL lexer, catalog and drivers).
 */
export const TOOLSET_FACTORIES: Record<string, (services: BuiltInServices) => Toolset | Promise<Toolset>> = {
  conformance: async () => (await import('./conformance.js')).conformanceToolset,
  diagnostics: async () => (await import('./diagnostics.js')).diagnosticsToolset,
  data: async (services) => (await import('./data/index.js')).createDataToolset(services),
};

/** Enabled when the configuration names none. */
export const DEFAULT_TOOLSETS: string[] = ['data'];

export async function selectToolsets(names: string[], services: BuiltInServices): Promise<Toolset[]> {
  const chosen = names.length > 0 ? names : DEFAULT_TOOLSETS;
  const known = Object.keys(TOOLSET_FACTORIES);
  const unknown = chosen.filter((name) => !known.includes(name));
  if (unknown.length > 0) {
    throw configProblem(`toolsets: unknown toolset ${unknown.map((n) => `"${n}"`).join(', ')} (available: ${known.join(', ')})`);
  }
  const toolsets: Toolset[] = [];
  for (const name of chosen) toolsets.push(await TOOLSET_FACTORIES[name]!(services));
  return toolsets;
}
