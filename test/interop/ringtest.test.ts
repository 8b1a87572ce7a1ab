import { describe, expect, it } from 'vitest';
import { RINGTEST_VARIANTS, benchRingtest } from '../../src/harness/bench-ringtest.js';

// `vq bench ringtest` on this machine: Linux's ringtest built from Debian's kernel source package (downloaded and
// cached by scripts/kernel-tools.sh on first use), run interleaved with vqkit. A short run: it must work, not measure.
describe("vq bench ringtest: Linux's tools/virtio/ringtest against vqkit", () => {
  it('builds ringtest, runs every variant on both sides, and reports rates and ratios from the same run', async () => {
    const r = await benchRingtest({ runs: 1, buffers: 200_000, command: 'test' });
    expect(r.source).toMatch(/^linux-source-\d+\.\d+$/);
    expect(r.rows.map((x) => x.name)).toEqual(RINGTEST_VARIANTS.map((v) => v.name));
    for (const x of r.rows) {
      expect(x.ringtest[0].buffersPerSec).toBeGreaterThan(0);
      expect(x.vqkit[0].buffersPerSec).toBeGreaterThan(0);
      expect(x.ratio).toBeCloseTo(x.vqkit[0].buffersPerSec / x.ringtest[0].buffersPerSec, 6);
      expect(x.vqkitNoSpin.length).toBe(x.mode === 'notifications' ? 1 : 0);
    }
    expect(r.inOrderGainNotifications).toBeGreaterThan(0);
  }, 600_000);
});
