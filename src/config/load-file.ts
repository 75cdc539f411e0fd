/**
 * Node only: finds and reads the configuration file. Workers and Vercel use `configFromEnv`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError, configFromEnv, parseConfig, parseYaml, type Config, type EnvRecord } from './index.js';
import { readEnv } from './env.js';

export const DEFAULT_CONFIG_FILE = 'baton.yaml';

export interface LoadedConfig {
  config: Config;
  /** The file read, else "BATON_CONFIG_YAML" or "environment". */
  source: string;
}

/**
 * `BATON_CONFIG` (a path, relative to cwd) when set, which must exist; otherwise `baton.yaml` in
 * cwd if present; otherwise no file, which is the same as `configFromEnv` (defaults, overrides,
 * and `BATON_CONFIG_YAML` when set). Throws ConfigError.
 */
export function loadConfig(env: EnvRecord = process.env, cwd: string = process.cwd()): LoadedConfig {
  const explicit = readEnv(env, 'BATON_CONFIG');
  let file: string;
  if (explicit !== undefined && explicit.trim() !== '') {
    file = resolve(cwd, explicit);
    if (!existsSync(file)) {
      throw new ConfigError(file, [{ path: 'BATON_CONFIG (environment)', message: `configuration file ${file} does not exist` }]);
    }
  } else {
    file = resolve(cwd, DEFAULT_CONFIG_FILE);
    if (!existsSync(file)) {
      const inline = readEnv(env, 'BATON_CONFIG_YAML');
      const source = inline === undefined || inline.trim() === '' ? 'environment' : 'BATON_CONFIG_YAML';
      return { config: configFromEnv(env), source };
    }
  }

  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    // e.g. a directory, or no permission: say so in the configuration error's terms.
    throw new ConfigError(file, [{ path: '(file)', message: `cannot read: ${(error as Error).message}` }]);
  }
  return { config: parseConfig(parseYaml(text, file), env, file), source: file };
}
