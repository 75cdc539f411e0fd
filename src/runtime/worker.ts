// The Worker that `wrangler deploy` ships from this repository: mcp-baton on its own settings
// (BATON_CONFIG_YAML and the bindings), built on the public API like any user's Worker.
import { createWorker } from '../api/worker.js';

export default createWorker();
