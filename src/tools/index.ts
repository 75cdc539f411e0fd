// The toolsets this platform ships, by the name used in `toolsets:` / BATON_TOOLSETS.
import { configProblem } from '../config/errors.js';
import type { Toolset } from '../core/define.js';
import type { BuiltInServices } from './data/datasource.js';
import { conformanceToolset } from './conformance.js';
import { diagnosticsToolset } from './diagnostics.js';

export type { ToolsetFactory, ToolsetServices, ToolsetSource } from '../core/define.js';
export type { BuiltInServices };

export const TOOLSETS: Record<string, Toolset> = {
  conformance: conformanceToolset,
  diagnostics: diagnosticsToolset,
};

/** Built-in toolsets built at start, when they are enabled. */
export const TOOLSET_FACTORIES: Record<string, (services: BuiltInServices) => Toolset | Promise<Toolset>> = {
  // Loaded when enabled: its SQL lexer, catalog and drivers are not needed otherwise.
  data: async (services) => (await import('./data/index.js')).createDataToolset(services),
};

/** Enabled when the configuration names none. */
export const DEFAULT_TOOLSETS: string[] = ['data'];

export async function selectToolsets(names: string[], services: BuiltInServices): Promise<Toolset[]> {
  const chosen = names.length > 0 ? names : DEFAULT_TOOLSETS;
  const known = [...Object.keys(TOOLSETS), ...Object.keys(TOOLSET_FACTORIES)];
  const unknown = chosen.filter((name) => !known.includes(name));
  if (unknown.length > 0) {
    throw configProblem(`toolsets: unknown toolset ${unknown.map((n) => `"${n}"`).join(', ')} (available: ${known.join(', ')})`);
  }
  const toolsets: Toolset[] = [];
  for (const name of chosen) {
    const factory = TOOLSET_FACTORIES[name];
    toolsets.push(factory ? await factory(services) : TOOLSETS[name]!);
  }
  return toolsets;
}
