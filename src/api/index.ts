// `mcp-baton`: what you declare your server with, on any runtime. The runtime entries
// (`mcp-baton/node`, `mcp-baton/worker`, `mcp-baton/vercel`) take these and serve them.
// Everything here is public API: docs/api.md describes it, test/package.test.ts pins the names and
// test/fixtures/api-types.ts the types.
export {
  acceptedContent,
  defineTool,
  defineToolset,
  inputRequired,
  inputResponse,
  isInputRequired,
  text,
  type HandlerContext,
  type InputRequests,
  type InputRequired,
  type InputRequiredBuilder,
  type InputResponses,
  type PromptArgument,
  type PromptDefinition,
  type ResourceDefinition,
  type ResourceTemplateDefinition,
  type TaskSupport,
  type ToolDefinition,
  type ToolTaskOptions,
  type ToolOutput,
  type ToolResult,
  type Toolset,
} from '../core/define.js';
export type { Principal } from '../auth/caller.js';
export type { ToolsetFactory, ToolsetServices, ToolsetSource } from '../tools/index.js';
export type { ContextProviders, ContextProvider, ResultReference, SemanticContext } from '../core/enrichment/context.js';
export type { SessionState } from '../core/session-state.js';
export type { ChangeNotifier } from '../store/channel/types.js';
export { ProtocolFault, FaultCode } from '../core/calls.js';
export { fromSdkServer, type SdkRegistration, type SdkServerOptions } from './sdk-server.js';
export type { Baton, BatonOptions, ConfigInput } from './baton.js';
export { ConfigError, type ConfigIssue } from '../config/errors.js';
export type { Config } from '../config/schema.js';
export type { EnvRecord } from '../config/env.js';
export type { Logger, LogLevel, LogFields } from '../log.js';
export type { CleanupOptions, CleanupReport, SessionSummary } from '../store/types.js';
