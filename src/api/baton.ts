// What every runtime entry of the public API takes and gives: the options a user writes and the
// `Baton` they get back. Only types: how they become a platform is ./assemble.ts, kept apart so
// that the declarations users compile against reach none of the platform's insides.
import type { ChangeNotifier } from '../store/channel/types.js';
import type { EnvRecord } from '../config/env.js';
import type { Config } from '../config/schema.js';
import type { Logger, LogLevel } from '../log.js';
import type { CleanupReport } from '../store/types.js';
import type { ToolsetSource } from '../tools/index.js';

/**
 * A configuration value as code writes it: the keys of baton.yaml (the README's configuration section), every
 * key optional, durations as milliseconds or as text ("10m"), lists as arrays or comma-separated
 * text.
 */
export type ConfigInput = {
  [Section in keyof Config]?: Config[Section] extends readonly unknown[] ? readonly string[] | string : SettingInput<Config[Section]>;
};

type SettingInput<T> = T extends number
  ? number | string
  : T extends string | boolean
    ? T
    : T extends readonly (infer Item)[]
      ? readonly SettingInput<Item>[] | string
      : T extends object
        ? { [Key in keyof T]?: SettingInput<T[Key]> }
        : T;

export interface BatonOptions {
  /** What the server calls itself to clients (`serverInfo`); default mcp-baton's own. */
  name?: string;
  /** The version it gives with its name. */
  version?: string;
  /**
   * Your toolsets: declared with `defineToolset`, built at start by a function of the platform's
   * services, or an SDK server's registration function through `fromSdkServer`. Built-in toolsets
   * (data, conformance, diagnostics) are served beside them only when `config.toolsets` names them.
   */
  toolsets?: ToolsetSource[];
  /**
   * Settings, with the keys of baton.yaml. When not given, each runtime reads its usual source
   * (Node: baton.yaml or BATON_CONFIG; Workers and Vercel: BATON_CONFIG_YAML).
   */
  config?: ConfigInput;
  /**
   * Environment variables (DATABASE_URL, SESSIONS_STORE, PORT, ...; see the README's
   * configuration section), applied over `config`. They are added to the runtime's own: Node's
   * `process.env`, a Worker's bindings, Vercel's `process.env`; where both name a variable, this wins.
   */
  env?: EnvRecord;
  /** A logger (an object with debug/info/warn/error), or the least level written as JSON lines to stderr. */
  logger?: Logger | LogLevel;
}

/** A running mcp-baton: answers HTTP, sweeps expired sessions, announces changes. */
export interface Baton {
  /** Answers a web-standard request: /mcp, /healthz, /readyz and the OAuth metadata. */
  fetch(request: Request): Promise<Response>;
  /** Deletes expired and idle sessions (and old channel messages) once; what a cron job runs. */
  cleanup(): Promise<CleanupReport>;
  /** Announces list changes and resource updates to listening clients, on every instance. */
  readonly changes: ChangeNotifier;
  /** Resolves once the platform is built and its store can serve (migrations checked). */
  ready(): Promise<void>;
  /** Closes the store and whatever the toolsets opened. */
  close(): Promise<void>;
}
