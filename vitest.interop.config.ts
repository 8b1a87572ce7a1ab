import { defineConfig } from 'vitest/config';

// The interop suite: vqkit against real peers (DPDK's testpmd). `npm run test:interop` installs them first.
export default defineConfig({
  test: {
    include: ['test/interop/**/*.test.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
    passWithNoTests: false,
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
