import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VIRTIO_F_IN_ORDER, VIRTIO_F_RING_PACKED } from '../../src/spec/features.js';
import { VIRTIO_ID_VSOCK } from '../../src/spec/vsock.js';
import { hasFeature } from '../../src/virtqueue/features.js';
import { ServeProcess } from '../support/serve-process.js';
import { hostConnect, hostListen, readAll } from '../../src/harness/vsock-host.js';
import { GUEST_CASES, Guest, useGuestEnv } from './guest.js';

// The Linux guest's own virtio-vsock driver (kernel >= 7.0, under QEMU's vhost-user-vsock-pci) against vqkit's vsock
// device: streams both ways through the unix-socket bridge, several at once, a refused port, and a clean kernel log.

const BYTES = 8 << 20;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const guestDirs = useGuestEnv('vq-guest-vsock-');

describe("Linux guest's virtio-vsock driver against vqkit's vsock device", () => {
  it.each(GUEST_CASES)(
    '$ring ring, IN_ORDER $inOrder: 3 x 8 MiB guest to host, 8 MiB host to guest, RST on a refused port',
    async ({ ring, inOrder }) => {
      const socket = join(guestDirs.dir, `${ring}-${inOrder}.sock`);
      const uds = join(guestDirs.dir, `${ring}-${inOrder}.uds`);
      const daemon = new ServeProcess('vsock', socket, ['--uds-path', uds, '--guest-cid', '3']);
      const uploads: Promise<Buffer>[] = [];
      const server = await hostListen(uds, 5000, (s) => uploads.push(readAll(s)));
      let guest: Guest | null = null;
      try {
        await daemon.waitFor(/listening on/);
        const on = (b: boolean): string => (b ? 'on' : 'off');
        guest = new Guest(guestDirs.env, {
          args: { mode: 'vsock', bytes: BYTES },
          device: [
            '-chardev',
            `socket,id=c1,path=${socket}`,
            '-device',
            `vhost-user-vsock-pci,chardev=c1,in_order=${on(inOrder)},packed=${on(ring === 'packed')}`,
          ],
        });
        const features = await guest.features(VIRTIO_ID_VSOCK);
        console.log(`guest vsock (${ring}, IN_ORDER ${inOrder}): features 0x${features.toString(16)}`);
        expect(hasFeature(features, VIRTIO_F_IN_ORDER)).toBe(inOrder);
        expect(hasFeature(features, VIRTIO_F_RING_PACKED)).toBe(ring === 'packed');

        // Guest to host: three connections at once, each the same 8 MiB.
        const up = await guest.line(/^VQ-UP ([0-9a-f]{64}) (\d+)/);
        for (const i of [1, 2, 3]) await guest.line(new RegExp(`^VQ-UP-DONE ${i}`));
        const received = await Promise.all(uploads);
        expect(received).toHaveLength(3);
        for (const r of received) expect([sha(r), r.length]).toEqual([up[1], BYTES]);

        // Host to guest port 6000.
        await guest.line(/^VQ-LISTENING 6000/);
        const { socket: host, reply } = await hostConnect(uds, 6000);
        expect(reply).toMatch(/^OK \d+$/);
        const down = randomBytes(BYTES);
        host.end(down);
        const got = await guest.line(/^VQ-DOWN ([0-9a-f]{64}) (\d+)/);
        expect([got[1], Number(got[2])]).toEqual([sha(down), BYTES]);
        host.destroy();

        expect((await guest.line(/^VQ-REFUSED (\w+)/))[1]).toBe('yes');
        expect(await guest.finish(), guest.output).toBe(0);
      } finally {
        guest?.proc.kill('SIGKILL');
        server.close();
        await daemon.stop();
      }
    },
    600_000,
  );
});
