// The repository's own tools and texts: drizzle-kit's configuration refuses to guess a database,
// every Markdown file a tracked file names exists, so that nobody is sent to a missing page, and
// the release workflow publishes only a tested version tag, with provenance.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parse } from 'yaml';
import { ROOT } from './helpers/server.js';

describe('drizzle.config.ts', () => {
  const saved = process.env.DATABASE_URL;
  afterEach(() => {
    if (saved === undefined) delete process.env.DATABASE_URL;
    else process.env.DATABASE_URL = saved;
    vi.resetModules();
  });

  it('refuses to load without DATABASE_URL, saying what to set', async () => {
    delete process.env.DATABASE_URL;
    await expect(import('../drizzle.config.js')).rejects.toThrow(/DATABASE_URL is not set/);
    process.env.DATABASE_URL = '  ';
    vi.resetModules();
    await expect(import('../drizzle.config.js')).rejects.toThrow(/DATABASE_URL is not set/);
  });

  it('stops `drizzle-kit migrate` before it connects anywhere', () => {
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
    delete env.DATABASE_URL;
    let failure: { status: number | null; stderr: string } | undefined;
    try {
      execFileSync(join(ROOT, 'node_modules/.bin/drizzle-kit'), ['migrate'], { cwd: ROOT, env, encoding: 'utf8', stdio: 'pipe' });
    } catch (error) {
      failure = error as { status: number | null; stderr: string };
    }
    expect(failure?.status).not.toBe(0);
    expect(failure?.stderr).toContain('DATABASE_URL is not set');
  });

  it('uses DATABASE_URL when it is set', async () => {
    process.env.DATABASE_URL = 'postgres://someone@db.example/app';
    const config = (await import('../drizzle.config.js')).default as { dbCredentials: { url: string } };
    expect(config.dbCredentials.url).toBe('postgres://someone@db.example/app');
  });
});

describe('references between files', () => {
  const files = () =>
    execFileSync('git', ['ls-files'], { cwd: ROOT, encoding: 'utf8' })
      .split('\n')
      .filter((file) => file !== '' && !file.endsWith('package-lock.json') && existsSync(join(ROOT, file)));

  /** Names matching `pattern` in tracked files that exist neither from the root nor beside the file. */
  function missing(pattern: RegExp): string[] {
    const out: string[] = [];
    for (const file of files()) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      for (const [name] of text.matchAll(pattern)) {
        if (!existsSync(join(ROOT, name)) && !existsSync(join(ROOT, dirname(file), name))) out.push(`${file}: ${name}`);
      }
    }
    return out;
  }

  it('names only Markdown files that exist', () => {
    expect(missing(/(?<![\w/.-])[\w-][\w./-]*\.md\b/g)).toEqual([]);
  });

  it('names only source and test files that exist', () => {
    expect(missing(/(?<![\w/.@-])(?:src|test)\/[\w./-]*\.(?:ts|mjs|json)\b/g)).toEqual([]);
  });
});

describe('.github/workflows/release.yml', () => {
  interface Step {
    name?: string;
    run?: string;
    uses?: string;
  }
  const workflow = () =>
    parse(readFileSync(join(ROOT, '.github/workflows/release.yml'), 'utf8')) as {
      on: unknown;
      permissions: Record<string, string>;
      jobs: Record<string, { steps: Step[] }>;
    };

  it('on a version tag, runs CI and then publishes with provenance', () => {
    const { on, permissions, jobs } = workflow();
    expect(on).toEqual({ push: { tags: ['v*'] } });
    expect(permissions['id-token']).toBe('write');
    const steps = Object.values(jobs).flatMap((job) => job.steps);
    const index = (command: string) => steps.findIndex((step) => step.run?.includes(command));
    expect(index('bash .ci/run')).toBeGreaterThan(-1);
    expect(index('npm publish --provenance --access public')).toBeGreaterThan(index('bash .ci/run'));
  });

  it("refuses a tag that is not package.json's version", () => {
    const check = Object.values(workflow().jobs)
      .flatMap((job) => job.steps)
      .find((step) => step.run?.includes('GITHUB_REF_NAME'));
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const runCheck = (tag: string) => {
      try {
        execFileSync('bash', ['-e', '-c', check!.run!], {
          cwd: ROOT,
          env: { ...process.env, GITHUB_REF_NAME: tag },
          encoding: 'utf8',
          stdio: 'pipe',
        });
        return 'passed';
      } catch (error) {
        return (error as { stdout: string }).stdout.trim();
      }
    };
    expect(runCheck(`v${version}`)).toBe('passed');
    expect(runCheck('v9.9.9')).toBe(`::error::tag v9.9.9 does not match package.json's version ${version} (tag v${version} to publish it)`);
  });
});
