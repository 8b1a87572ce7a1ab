import { expect } from 'vitest';
import { formatMac, parseMac } from '../../src/devices/net/frame.js';
import type { NetTrafficOptions } from '../../src/drivers/net/net-frontend.js';
import { NetPortDriver } from '../../src/drivers/net/net-port-driver.js';
import { openNetPort } from '../../src/drivers/net/net-port.js';

/** vqkit's net driver in this thread on a port of a daemon: frames sent and taken one at a time. */
export async function openNetTestPort(path: string, o: NetTrafficOptions) {
  const port = await openNetPort(path, o);
  const driver = NetPortDriver.here(port);
  driver.refill(0);
  const pair = driver.pairs[0];
  return {
    port,
    /** Sends a frame from `src` to `dst` whose payload starts with `tag`. */
    send(dst: string, src: string, tag: number, length = 100): void {
      const f = new Uint8Array(length);
      f.set(parseMac(dst), 0);
      f.set(parseMac(src), 6);
      f.set([0x88, 0xb5, tag], 12);
      expect(pair.send(f)).toBe(true);
      driver.flushTx(0);
    },
    /** Waits until the device has taken every frame sent (all transmit buffers are back). */
    async transmitted(): Promise<void> {
      const deadline = Date.now() + 10_000;
      for (;;) {
        void pair.canSend; // reclaims completed transmit buffers
        if (pair.tx.inFlight === 0) return;
        if (Date.now() > deadline) throw new Error(`${pair.tx.inFlight} frames still not taken after 10 s`);
        driver.wait(20);
        await new Promise((r) => setImmediate(r));
      }
    },
    /** The tag of the next frame received, after checking who sent it. */
    async next(): Promise<{ tag: number; src: string; dst: string; length: number }> {
      const deadline = Date.now() + 10_000;
      for (;;) {
        let got: { tag: number; src: string; dst: string; length: number } | undefined;
        pair.receive((b, at, length) => {
          got = { tag: b[at + 14], dst: formatMac(b, at), src: formatMac(b, at + 6), length };
        });
        if (got !== undefined) {
          driver.refill(0);
          return got;
        }
        if (Date.now() > deadline) throw new Error('no frame within 10 s');
        driver.wait(20);
        await new Promise((r) => setImmediate(r));
      }
    },
    close: () => port.close(),
  };
}
