// `npm run build`: the Node server as built JavaScript in dist/, what production runs (the
// container image) and what `npm start` runs:
//
//   dist/node.js                 the Node entry (src/runtime/node.ts): imports the current build's
//   dist/baton.js                the operators' command line (src/cli/main.ts): likewise
//   dist/builds/<id>/            one build, whole: node.js, baton.js, pglite-thread.js (the demo
//                                dataset's worker thread), chunk-*.js (code loaded only when a
//                                configuration uses it: drivers, the data toolset), the demo's files
//
// Each build goes into a folder of its own, and the two files at the top are switched to it last.
// A server keeps loading code lazily from the folder it started from (everything is found relative
// to the importing file), so a rebuild under a running server (`npm start` rebuilds when the
// sources changed) never takes away what it has yet to load. The current build and the
// KEPT_BUILDS before it are kept; older ones are removed.
//
// One bundle per entry, dependencies included: Node loads a few large files instead of hundreds of
// small ones (drizzle-orm's modules alone, loaded one by one, keep some 100 MB of memory resident),
// and nothing from src/dev/ or a development dependency can be in it. Only PGlite stays in
// node_modules: it reads its WebAssembly and data files next to its own code.
//
// Plain JavaScript, so that it runs before anything is built: `node scripts/build.mjs
// [--if-stale] [--outdir DIR]`. With --if-stale it does nothing when dist/ was built from the
// sources as they are (`npm start` builds on demand this way).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const ENTRIES = {
  node: 'src/runtime/node.ts',
  baton: 'src/cli/main.ts',
  'pglite-thread': 'src/tools/data/drivers/pglite-thread.ts',
};
/** Files the built code reads beside itself (the demo dataset), copied flat like the code. */
const ASSETS = ['src/tools/data/demo/shop.sql', 'src/tools/data/demo/catalog.yaml'];
/** Not bundled: PGlite finds its files relative to its own module; pg-native is pg's optional native driver. */
const EXTERNAL = ['@electric-sql/pglite', 'pg-native'];
/** Records what the build was made from, and its folder; --if-stale compares it. */
const STAMP = 'build.json';
const BUILDS = 'builds';
/** Builds kept besides the current one, for servers started from them (most recently built first). */
export const KEPT_BUILDS = 3;
/** What earlier versions of this script wrote flat into dist/, besides the entries and the stamp. */
const FLAT_LAYOUT = /^(chunk-.*\.js|pglite-thread\.js|node\.js\.map|baton\.js\.map|shop\.sql|catalog\.yaml)(\.map)?$/;

function filesUnder(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(path) : [path];
  });
}

/** A digest of everything the build reads: the sources, the lockfile, this script. */
function inputsDigest() {
  const files = [...filesUnder(join(ROOT, 'src')), ...['package.json', 'package-lock.json', 'scripts/build.mjs'].map((f) => join(ROOT, f))];
  const hash = createHash('sha256');
  for (const file of files.sort())
    hash
      .update(`${relative(ROOT, file)}\0`)
      .update(readFileSync(file))
      .update('\0');
  return hash.digest('hex');
}

function readStamp(outdir) {
  try {
    return JSON.parse(readFileSync(join(outdir, STAMP), 'utf8'));
  } catch {
    return undefined;
  }
}

/** Each file replaced in one step, so that a process starting meanwhile never reads half of one. */
function writeAtomically(path, contents) {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, contents);
  renameSync(temporary, path);
}

/**
 * Builds into `outdir` (default dist/). Resolves to what was built and from which inputs, or to
 * `{ built: false }` when `ifStale` is set and the last build is current.
 */
export async function build({ outdir = join(ROOT, 'dist'), ifStale = false } = {}) {
  const digest = inputsDigest();
  const stamp = readStamp(outdir);
  if (ifStale && stamp?.inputs === digest && existsSync(join(outdir, BUILDS, String(stamp.build), 'node.js'))) {
    return { built: false, outdir };
  }
  // Named by its inputs: building the same sources again rewrites the same files, unchanged.
  const id = digest.slice(0, 16);
  const folder = join(outdir, BUILDS, id);

  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: ENTRIES,
    outdir: folder,
    entryNames: '[name]',
    chunkNames: 'chunk-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    external: EXTERNAL,
    // Bundled CommonJS packages call require() for Node's own modules; ESM has none.
    banner: {
      js: "import { createRequire as __batonCreateRequire } from 'node:module'; const require = __batonCreateRequire(import.meta.url);",
    },
    sourcemap: 'linked',
    metafile: true,
    write: false,
    logLevel: 'warning',
  });
  const inputs = Object.keys(result.metafile.inputs);
  const development = inputs.filter((input) => input.startsWith('src/dev/'));
  if (development.length > 0) throw new Error(`development code (src/dev/) in the production build: ${development.join(', ')}`);

  mkdirSync(folder, { recursive: true });
  const written = [];
  for (const file of result.outputFiles) {
    writeAtomically(file.path, file.contents);
    written.push(file.path);
  }
  for (const asset of ASSETS) {
    const path = join(folder, asset.split('/').pop());
    writeAtomically(path, readFileSync(join(ROOT, asset)));
    written.push(path);
  }
  // The switch: processes started from now on run this build.
  for (const entry of ['node', 'baton']) {
    const path = join(outdir, `${entry}.js`);
    writeAtomically(path, `// The current build (scripts/build.mjs).\nimport './${BUILDS}/${id}/${entry}.js';\n`);
    written.push(path);
  }
  writeAtomically(join(outdir, STAMP), `${JSON.stringify({ inputs: digest, build: id }, null, 2)}\n`);
  prune(outdir, id);
  return { built: true, outdir, build: id, inputs, outputs: written.map((path) => relative(outdir, path)), metafile: result.metafile };
}

/** Removes the builds before the last KEPT_BUILDS, and what the flat layout of earlier versions left. */
function prune(outdir, current) {
  const earlier = readdirSync(join(outdir, BUILDS))
    .filter((name) => name !== current)
    .map((name) => ({ path: join(outdir, BUILDS, name), at: statSync(join(outdir, BUILDS, name)).mtimeMs }))
    .sort((a, b) => b.at - a.at);
  for (const { path } of earlier.slice(KEPT_BUILDS)) rmSync(path, { recursive: true, force: true });
  for (const name of readdirSync(outdir)) if (FLAT_LAYOUT.test(name)) rmSync(join(outdir, name), { force: true });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { 'if-stale': { type: 'boolean', default: false }, outdir: { type: 'string' } } });
  try {
    const result = await build({ ifStale: values['if-stale'], ...(values.outdir && { outdir: resolve(values.outdir) }) });
    if (result.built) process.stderr.write(`built ${relative(process.cwd(), result.outdir) || '.'}/ (${result.outputs.length} files)\n`);
  } catch (error) {
    process.stderr.write(`build failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
}
