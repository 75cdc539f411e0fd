/**
 * Configuration for every runtime: file content (already parsed YAML) or `BATON_CONFIG_YAML`,
 * `${VAR}` expansion, environment overrides, validation. No filesystem here; the Node-only file
 * loader is `./load-file.js`.
 */
import { ConfigError, formatPath, type ConfigIssue, type KeyPath } from './errors.js';
import { applyEnvOverrides, ENV_OVERRIDES, readEnv, type AppliedOverride, type EnvRecord } from './env.js';
import { expandTree } from './expand.js';
import { validateConfig, type Config } from './schema.js';
import { isMapping, parseYaml, type Tree } from './yaml.js';

export { ConfigError, type ConfigIssue } from './errors.js';
export {
  CONFIG_SOURCE_VARIABLES,
  ENV_OVERRIDES,
  type EnvOverride,
  type EnvOverrideName,
  type EnvRecord,
} from './env.js';
export { formatDuration, parseDuration } from './duration.js';
export { expandString } from './expand.js';
export {
  DATABASE_DRIVERS,
  SESSION_STORES,
  configSchema,
  type Config,
  type DatabaseDriver,
  type SessionStore,
} from './schema.js';
export { parseYaml } from './yaml.js';

/**
 * `key:` with nothing after it (YAML null) means "not set": the default applies. This also lets a
 * section whose keys are all commented out stay in the file.
 */
function dropNulls(tree: Tree): Tree {
  for (const [key, value] of Object.entries(tree)) {
    if (value === null) delete tree[key];
    else if (isMapping(value)) dropNulls(value);
  }
  return tree;
}

function startsWith(path: KeyPath, prefix: KeyPath): boolean {
  return prefix.every((key, index) => path[index] === key);
}

/** Errors at an overridden key belong to the variable, not to the file. */
function issueLocation(path: KeyPath, overrides: readonly AppliedOverride[]): string {
  const override = overrides.find((o) => startsWith(path, o.path));
  return override === undefined ? formatPath(path) : `${override.variable} (environment)`;
}

/** Defaults that differ by runtime. */
export interface RuntimeDefaults {
  /**
   * Workers and Vercel: `sessions.store` left unset means "database" when a database is configured
   * (`database.dsn` / DATABASE_URL). Isolates share no memory, so the memory store only works there
   * while every request of a session lands on one isolate.
   */
  storeFollowsDatabase?: boolean;
}

function applyRuntimeDefaults(tree: Tree, defaults: RuntimeDefaults): void {
  if (!defaults.storeFollowsDatabase) return;
  const { sessions, database } = tree;
  const dsn = isMapping(database) ? database.dsn : undefined;
  if (typeof dsn !== 'string' || dsn.trim() === '') return;
  // A `sessions` that is not a mapping is reported by the schema, at its key.
  if (sessions === undefined) tree.sessions = { store: 'database' };
  else if (isMapping(sessions) && sessions.store === undefined) sessions.store = 'database';
}

/**
 * Validates configuration data (parsed YAML, or `{}` when there is no file): expands `${...}` in
 * string values, applies the environment overrides, checks every key. Throws ConfigError listing
 * every problem.
 */
export function parseConfig(raw: unknown, env: EnvRecord, source = 'configuration', defaults: RuntimeDefaults = {}): Config {
  const data = raw ?? {};
  if (!isMapping(data)) {
    const got = Array.isArray(data) ? 'a list' : `${typeof data} ${JSON.stringify(data)}`;
    throw new ConfigError(source, [
      { path: '(top level)', message: `expected a mapping of settings (e.g. "server:" and "sessions:"), got ${got}` },
    ]);
  }

  const expansion = expandTree(data, env);
  const tree = dropNulls(expansion.value as Tree);
  const overrides = applyEnvOverrides(tree, env);
  applyRuntimeDefaults(tree, defaults);
  const result = validateConfig(tree);

  // An override replaces the file's value, so that value's failed expansion does not matter.
  const failed = expansion.issues.filter((issue) => !overrides.some((o) => startsWith(issue.path, o.path)));
  const issues: ConfigIssue[] = failed.map((issue) => ({ path: formatPath(issue.path), message: issue.message }));
  if (!result.ok) {
    for (const issue of result.issues) {
      // A value that failed to expand was left out; the default used instead is not the problem.
      if (failed.some((f) => startsWith(issue.path, f.path))) continue;
      issues.push({ path: issueLocation(issue.path, overrides), message: issue.message });
    }
  }
  if (issues.length > 0 || !result.ok) throw new ConfigError(source, issues);
  return result.config;
}

/**
 * Workers and Vercel: the YAML comes from `BATON_CONFIG_YAML` when set (there is no file),
 * otherwise only from the environment overrides and defaults.
 */
export function configFromEnv(env: EnvRecord, defaults: RuntimeDefaults = {}): Config {
  const yaml = readEnv(env, 'BATON_CONFIG_YAML');
  if (yaml === undefined || yaml.trim() === '') return parseConfig({}, env, 'environment', defaults);
  return parseConfig(parseYaml(yaml, 'BATON_CONFIG_YAML'), env, 'BATON_CONFIG_YAML', defaults);
}

/**
 * A problem found after the schema accepted the configuration (while building auth or toolsets)
 * is reported at a key path; when an environment variable set that key, the report names the
 * variable instead, as the schema's own errors do.
 */
export function namingVariables(error: ConfigError, env: EnvRecord): ConfigError {
  const set = Object.entries(ENV_OVERRIDES).filter(([variable]) => (readEnv(env, variable) ?? '').trim() !== '');
  let renamed = false;
  const issues = error.issues.map((issue) => {
    const by = set.find(([, { path }]) => issue.path === path || issue.path.startsWith(`${path}.`) || issue.path.startsWith(`${path}[`));
    if (!by) return issue;
    renamed = true;
    return { path: `${by[0]} (environment)`, message: issue.message };
  });
  return renamed ? new ConfigError(error.source, issues) : error;
}

/** The configuration with nothing set. */
export function defaultConfig(): Config {
  return parseConfig({}, {});
}
