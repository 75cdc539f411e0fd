// The operators' command line: `npx baton <command>` (bin/baton.mjs) or `npm run baton -- <command>`.
// Results go to stdout, progress and errors to stderr; see USAGE in ./run.ts for the commands.
import { runCli } from './run.js';

process.exitCode = await runCli(process.argv.slice(2), {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
});
