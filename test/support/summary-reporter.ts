import type { Reporter, TestModule } from 'vitest/node';

/**
 * Ends the run with the plain closing line CI reads: `N passed, N failed`. A run in which no test passed or failed
 * is a failure (exit code 1), so an empty or fully skipped suite can never look green.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const module of testModules) {
      if (module.state() === 'failed' && [...module.children.allTests()].length === 0) failed++;
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else skipped++;
      }
    }
    const tail = skipped > 0 ? `, ${skipped} skipped` : '';
    process.stdout.write(`\n${passed} passed, ${failed} failed${tail}\n`);
    if (passed + failed === 0) {
      process.stdout.write('no test ran: failing the run\n');
      process.exitCode = 1;
    }
  }
}
