#!/usr/bin/env node
// `npx baton <command>`: the operators' command line, run from the TypeScript sources through tsx
// in this process, so signals and exit codes are the command's own. (A command runs for moments:
// unlike the server, it gains nothing from a build. Where only the build is, as in the container
// image, the same command line is `node dist/baton.js`.)
const [major] = process.versions.node.split('.').map(Number);
if (major < 22) {
  process.stderr.write(
    `baton needs Node.js 22 or newer; this is ${process.version}. From the repository, \`npx baton\` and \`npm run baton\` use the project's own Node.\n`,
  );
  process.exit(2);
}
const { register } = await import('tsx/esm/api');
register();
await import('../src/cli/main.ts');
