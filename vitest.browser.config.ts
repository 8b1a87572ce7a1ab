import { defineConfig } from 'vitest/config';

// The explainer page in a real browser (Debian's chromium). `npm run test:browser` builds the page and installs
// chromium first.
export default defineConfig({
  test: {
    include: ['test/browser/**/*.test.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
    passWithNoTests: false,
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
