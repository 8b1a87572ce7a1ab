/** One case of vsock_test as the client printed it: "N - name...ok" (or "skipped", or where it stopped). */
export interface VsockTestCase {
  id: number;
  name: string;
  result: 'ok' | 'skipped' | string;
}

/**
 * Cases not run through vqkit, each with why: they test the guest kernel alone, not the device between the guests.
 * (Empty while every case of Linux 6.12's vsock_test passes.)
 */
export const VSOCK_TEST_SKIPPED: { id: number; name: string; why: string }[] = [];

/** The per-case results in a guest's console output (lines "VQ-VT <vsock_test's line>"). */
export function parseVsockTest(output: string): VsockTestCase[] {
  const cases: VsockTestCase[] = [];
  for (const line of output.split(/\r?\n/)) {
    const m = /^VQ-VT (\d+) - (.+?)\.\.\.(.*)$/.exec(line);
    if (m === null) continue;
    cases.push({ id: Number(m[1]), name: m[2], result: m[3].trim() === '' ? 'did not finish' : m[3].trim() });
  }
  return cases;
}
