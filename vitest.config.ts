import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // Tests start servers and databases of their own; two cores run two files at a time well.
    maxWorkers: 2,
    globalSetup: ['test/global-setup.ts'],
  },
});
