// The toolsets this platform ships, by the name used in `toolsets:` / BATON_TOOLSETS.
import { configProblem } from '../config/errors.js';
import type { Config } from '../config/schema.js';
import type { ContextProviders } from '../enrichment/context.js';
import type { Logger } from '../log.js';
import type { Toolset } from './define.js';
import type { DatasourceOpener } from './data/datasource.js';
import { conformanceToolset } from './conformance.js';
import { diagnosticsToolset } from './diagnostics.js';

/** What the platform offers toolsets that need more than their own code. */
export interface ToolsetServices {
  config: Config;
  logger: Logger;
  /** How this runtime opens the data toolset's datasource. */
  openDatasource: DatasourceOpener;
  /** Where a toolset registers what the enrichment middleware may say about its references. */
  context: ContextProviders;
  /** Runs when the platform closes. */
  onClose(close: () => Promise<void>): void;
}

export const TOOLSETS: Record<string, Toolset> = {
  conformance: conformanceToolset,
  diagnostics: diagnosticsToolset,
};

/** Toolsets built at start from the platform's services, when they are enabled. */
export type ToolsetFactory = (services: ToolsetServices) => Toolset | Promise<Toolset>;

export const TOOLSET_FACTORIES: Record<string, ToolsetFactory> = {
  // Loaded when enabled: its SQL lexer, catalog and drivers are not needed otherwise.
  data: async (services) => (await import('./data/index.js')).createDataToolset(services),
};

/** Enabled when the configuration names none. */
export const DEFAULT_TOOLSETS: string[] = ['data'];

export async function selectToolsets(names: string[], services: ToolsetServices): Promise<Toolset[]> {
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
