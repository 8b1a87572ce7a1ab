import { describe, expect, it } from 'vitest';
import { runProtocolFloor } from '../src/harness/protocol-floor.js';

describe('the protocol floor (the packed IN_ORDER ring alone in JavaScript, for vq bench ringtest)', () => {
  it('moves every buffer through the ring on two threads and reports a rate', async () => {
    // The device side checks each descriptor's range and the bytes it was handed in all, and throws otherwise; a
    // driver that lost a buffer would never finish (the test would time out).
    const r = await runProtocolFloor(100_000);
    expect(Number.isFinite(r.buffersPerSec) && r.buffersPerSec > 0).toBe(true);
    expect(typeof r.pinned).toBe('boolean');
  });
});
