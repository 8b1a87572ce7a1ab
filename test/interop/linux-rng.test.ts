import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { VIRTIO_F_IN_ORDER, VIRTIO_F_RING_PACKED } from '../../src/spec/features.js';
import { hasFeature } from '../../src/virtqueue/features.js';
import { VqProcess } from '../support/serve-process.js';
import { GUEST_CASES, Guest, useGuestEnv } from './guest.js';

// The virtio-rng example (examples/virtio-rng, written only against the public API, imported as 'vqkit') served to
// QEMU's vhost-user-rng-pci, read by the Linux guest's own virtio_rng driver through /dev/hwrng.

const EXAMPLE = fileURLToPath(new URL('../../examples/virtio-rng/', import.meta.url));
const TSC = fileURLToPath(new URL('../../node_modules/typescript/bin/tsc', import.meta.url));
const VIRTIO_ID_RNG = 4;
const BYTES = 64 << 10;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
/** At most what the kernel's own reads may take between the guest's (a few of its 64-byte reads). */
const KTHREAD_BYTES = 16 << 10;
/** A run long enough to tell where the guest's bytes are in what the device wrote. */
const ANCHOR = 32;

/**
 * Whether `read` is `wrote` in order with some runs taken out (by other readers): null if not, else how many bytes
 * were taken out between the first and the last byte read.
 */
function takenBetween(wrote: Buffer, read: Buffer): number | null {
  let at = wrote.indexOf(read.subarray(0, ANCHOR));
  if (at < 0) return null;
  let taken = 0;
  for (let r = 0; r < read.length;) {
    if (wrote[at] === read[r]) {
      at++;
      r++;
      continue;
    }
    const next = wrote.indexOf(read.subarray(r, Math.min(r + ANCHOR, read.length)), at);
    if (next < 0) return null;
    taken += next - at;
    at = next;
  }
  return taken;
}
const guestDirs = useGuestEnv('vq-guest-rng-');

beforeAll(() => {
  // The example is compiled the way a user of the package would: tsc against vqkit's shipped types.
  execFileSync(process.execPath, [TSC, '-p', EXAMPLE], { stdio: 'inherit' });
}, 120_000);

describe("Linux guest's virtio_rng driver against the virtio-rng example built on vqkit's public API", () => {
  it.each(GUEST_CASES)(
    '$ring ring, IN_ORDER $inOrder: the guest reads 64 KiB from /dev/hwrng, the bytes the device wrote',
    async ({ ring, inOrder }) => {
      const socket = join(guestDirs.dir, `${ring}-${inOrder}.sock`);
      const record = join(guestDirs.dir, `${ring}-${inOrder}.bytes`);
      // QEMU's vhost-user-rng (a vhost-user-base device) passes the back-end's features through whatever its
      // in_order and packed properties say, so the device is told what to offer.
      const offer = [...(inOrder ? [] : ['--no-in-order']), ...(ring === 'packed' ? [] : ['--no-packed'])];
      const device = new VqProcess(
        ['--socket', socket, '--record', record, ...offer],
        undefined,
        join(EXAMPLE, 'dist/main.js'),
      );
      let guest: Guest | null = null;
      try {
        await device.waitFor(/listening on/);
        const on = (b: boolean): string => (b ? 'on' : 'off');
        guest = new Guest(guestDirs.env, {
          // The hwrng kthread off, so that /dev/hwrng is the device's only reader once registered.
          args: { mode: 'rng', bytes: BYTES },
          kernelArgs: ['rng_core.default_quality=0'],
          device: [
            '-chardev',
            `socket,id=rng,path=${socket}`,
            '-device',
            `vhost-user-rng-pci,chardev=rng,in_order=${on(inOrder)},packed=${on(ring === 'packed')}`,
          ],
        });
        const features = await guest.features(VIRTIO_ID_RNG);
        console.log(`guest rng (${ring}, IN_ORDER ${inOrder}): features 0x${features.toString(16)}`);
        expect(hasFeature(features, VIRTIO_F_IN_ORDER)).toBe(inOrder);
        expect(hasFeature(features, VIRTIO_F_RING_PACKED)).toBe(ring === 'packed');
        expect((await guest.line(/^VQ-RNG-CURRENT (\S+)/))[1]).toMatch(/^virtio_rng/);

        const [, count, digest] = await guest.line(/^VQ-RNG (\d+) ([0-9a-f]{64}) ([0-9a-f]{64})/);
        expect(Number(count)).toBe(BYTES);
        expect(await guest.finish(), guest.output).toBe(0);
        // The hex line whole (line() may see a line still arriving): read once the guest is done.
        const read = Buffer.from(/^VQ-RNG-HEX ([0-9a-f]+)\r?$/m.exec(guest.output)?.[1] ?? '', 'hex');
        expect(sha(read)).toBe(digest);
        await device.stop();
        // What the guest read is what the device wrote, in order: the kernel may have taken some before it (early
        // randomness at registration) and after, and its hwrng kthread reads now and then in between.
        const taken = takenBetween(readFileSync(record), read);
        expect(taken, 'the guest read bytes the device never wrote, or out of order').not.toBeNull();
        expect(taken!).toBeLessThanOrEqual(KTHREAD_BYTES);
      } finally {
        guest?.proc.kill('SIGKILL');
        await device.stop();
      }
    },
    600_000,
  );
});
