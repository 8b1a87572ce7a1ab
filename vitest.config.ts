import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real peers (DPDK) run in `npm run test:interop`, the browser in `npm run test:browser`; each installs its own.
    exclude: ['test/interop/**', 'test/browser/**', 'node_modules/**'],
    reporters: ['default', './test/support/summary-reporter.ts'],
    passWithNoTests: false,
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
