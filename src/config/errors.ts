/** One problem in the configuration: where (a key path like `sessions.ttl`, or a variable) and what. */
export interface ConfigIssue {
  path: string;
  message: string;
}

/** Every configuration problem found at once, so start-up stops with the whole list. */
export class ConfigError extends Error {
  readonly source: string;
  readonly issues: readonly ConfigIssue[];

  constructor(source: string, issues: readonly ConfigIssue[]) {
    super(formatConfigError(source, issues));
    this.name = 'ConfigError';
    this.source = source;
    this.issues = issues;
  }
}

function formatConfigError(source: string, issues: readonly ConfigIssue[]): string {
  const lines = issues.map((issue) => `  ${issue.path}: ${issue.message}`);
  const noun = issues.length === 1 ? 'problem' : 'problems';
  return [`Invalid configuration (${source}), ${issues.length} ${noun}:`, ...lines].join('\n');
}

export type KeyPath = readonly PropertyKey[];

/** ['server', 'port'] -> "server.port"; ['toolsets', 0] -> "toolsets[0]"; [] -> "(top level)". */
export function formatPath(path: KeyPath): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '(top level)' : out;
}

/** How a value from the file or environment is shown in a message: strings quoted, lists named. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

/**
 * A problem found after the schema accepted the file (e.g. while building auth or toolsets),
 * reported like every other configuration error: `text` is "key.path: what is wrong".
 */
export function configProblem(text: string): ConfigError {
  const split = text.indexOf(': ');
  return split > 0
    ? new ConfigError('configuration', [{ path: text.slice(0, split), message: text.slice(split + 2) }])
    : new ConfigError('configuration', [{ path: '(configuration)', message: text }]);
}
