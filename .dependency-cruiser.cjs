// The layers of src/ (docs/architecture.md), checked in CI by `npm run lint`:
//   runtime/ -> api/ -> platform/ -> era-2025/ | era-2026/ -> core/ -> store/
// with config/, auth/, http/, lifecycle/, catalog/, telemetry/ and log.ts beside them for every layer to use,
// and tools/ (the built-in toolsets) written on core/ like a user's toolset. Type imports count:
// a cycle of types is still two files that cannot be read one without the other.
const layer = (name) => `^src/${name}/`;
const SHARED = '^src/(config|auth|http|lifecycle|catalog|telemetry)/|^src/log\\.ts$';

/** `from` may not import any of `to`. */
const forbid = (name, comment, from, to) => ({ name, comment, severity: 'error', from: { path: from }, to: { path: to } });

module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'Dependencies point one way; a cycle (type imports included) is two files that must be read together.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    forbid(
      'no-public-barrel-inside',
      'Code inside the package never imports its own public entry (src/api/index.ts): it imports what it needs from where it lives.',
      '^src/(?!runtime/)',
      '^src/api/index\\.ts$',
    ),
    forbid('eras-apart-2025', 'The 2025 session layer and the 2026 leg never import each other.', layer('era-2025'), layer('era-2026')),
    forbid('eras-apart-2026', 'The 2025 session layer and the 2026 leg never import each other.', layer('era-2026'), layer('era-2025')),
    forbid(
      'store-knows-no-era',
      'The store (sessions, channel, db) knows nothing above it: no era, no core, no platform.',
      layer('store'),
      '^src/(era-2025|era-2026|core|platform|api|runtime|tools|cli)/',
    ),
    forbid(
      'core-below-eras',
      'The era-neutral core is used by the eras, never the other way.',
      layer('core'),
      '^src/(era-2025|era-2026|platform|api|runtime|tools|cli)/',
    ),
    forbid(
      'eras-below-platform',
      'An era leg is built by the platform and does not reach back up.',
      '^src/era-20',
      '^src/(platform|api|runtime|tools|cli)/',
    ),
    forbid(
      'platform-below-api',
      'The platform knows nothing of the public API or the runtime entries.',
      layer('platform'),
      '^src/(api|runtime|cli)/',
    ),
    forbid('api-below-runtime', "The public API knows nothing of this repository's own entries.", layer('api'), '^src/(runtime|cli)/'),
    forbid(
      'toolsets-on-core',
      "The built-in toolsets are written like a user's: on the declarations of core/, not on an era or the platform.",
      layer('tools'),
      '^src/(era-2025|era-2026|platform|api|runtime|cli)/',
    ),
    forbid(
      'shared-below-everything',
      'config, auth, http, lifecycle, catalog, telemetry and the logger serve every layer and import none of them.',
      SHARED,
      '^src/(era-2025|era-2026|core|platform|api|runtime|tools|cli)/',
    ),
    forbid(
      'no-dev-in-product',
      'Development tools (the local Neon endpoint) are not part of what runs in production.',
      '^src/(?!dev/)',
      '^src/dev/',
    ),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^(node_modules|dist)/' },
  },
};
