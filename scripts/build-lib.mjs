// `npm run build:lib` (and `npm pack` / `npm publish`, through prepack): the package's JavaScript
// and type declarations in dist/lib/, compiled by tsc from src/ as tsconfig.lib.json says, plus
// the files the demo dataset reads beside its code. Plain JavaScript, so that it runs before
// anything is built.
import { execFileSync } from 'node:child_process';
import { copyFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ROOT } from './build.mjs';

const OUT = join(ROOT, 'dist/lib');
/** Read at run time next to the module that names them (src/tools/data/demo/index.ts). */
const ASSETS = ['tools/data/demo/shop.sql', 'tools/data/demo/catalog.yaml'];

rmSync(OUT, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
try {
  execFileSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.lib.json')], { cwd: ROOT, stdio: 'inherit' });
} catch {
  process.stderr.write('build:lib failed: tsc reported the errors above\n');
  process.exit(1);
}
for (const asset of ASSETS) copyFileSync(join(ROOT, 'src', asset), join(OUT, asset));
process.stderr.write(`built ${OUT.slice(ROOT.length + 1)}/ (the package's code and type declarations)\n`);
