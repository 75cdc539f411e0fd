#!/usr/bin/env node
// `npx baton <command>`: the operators' command line. In this repository it runs from the
// TypeScript sources through tsx, in this process, so signals and exit codes are the command's
// own (a command runs for moments: unlike the server, it gains nothing from a build). Installed
// from the package, where there are no sources, it runs the package's built code. In the container
// image the same command line is `node dist/baton.js`.
import { existsSync } from 'node:fs';

const [major] = process.versions.node.split('.').map(Number);
if (major < 22) {
  process.stderr.write(
    `baton needs Node.js 22 or newer; this is ${process.version}. From the repository, \`npx baton\` and \`npm run baton\` use the project's own Node.\n`,
  );
  process.exit(2);
}
if (existsSync(new URL('../src/cli/main.ts', import.meta.url))) {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
} else {
  await import('../dist/lib/cli/main.js');
}
