// Types of scripts/build.mjs (plain JavaScript: it runs before anything is built).
import type { Metafile } from 'esbuild';

export const ROOT: string;
/** Builds kept in dist/builds/ besides the current one. */
export const KEPT_BUILDS: number;

export interface BuildResult {
  /** False when `ifStale` was set and dist/ was current. */
  built: boolean;
  outdir: string;
  /** The build's folder under `outdir`/builds/, when built. */
  build?: string;
  /** What went into the bundle (paths relative to the repository), when built. */
  inputs?: string[];
  /** Files written, relative to `outdir`, when built. */
  outputs?: string[];
  /** esbuild's account of the build (which sources each output holds, what it imports), when built. */
  metafile?: Metafile;
}

export function build(options?: { outdir?: string; ifStale?: boolean }): Promise<BuildResult>;
