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

describe("Linux guest's vsock at Firecracker's scale, through vqkit's vsock device", () => {
  const BLOB = 1 << 20;

  /** `count` host connections at once to the guest's echo port, each sending its own 1 MiB; how many came back whole. */
  async function hostEchoes(uds: string, count: number): Promise<number> {
    const results = await Promise.all(
      Array.from({ length: count }, async () => {
        const { socket, reply } = await hostConnect(uds, 7000);
        expect(reply).toMatch(/^OK \d+$/);
        const blob = randomBytes(BLOB);
        const back = readAll(socket);
        socket.resume();
        socket.end(blob);
        const got = await back;
        socket.destroy();
        return sha(got) === sha(blob);
      }),
    );
    return results.filter((ok) => ok).length;
  }

  it('50 host connections echo 1 MiB each through a guest socat, 50 guest connections through a host echo; 100 closed mid-transfer; again', async () => {
    const socket = join(guestDirs.dir, 'scale.sock');
    const uds = join(guestDirs.dir, 'scale.uds');
    const daemon = new ServeProcess('vsock', socket, ['--uds-path', uds, '--guest-cid', '3']);
    // The host's echo server for the guest's connections: each stream sent back as it comes, ended when it ends.
    const echo = await hostListen(uds, 5000, (s) => s.pipe(s));
    let guest: Guest | null = null;
    try {
      await daemon.waitFor(/listening on/);
      guest = new Guest(guestDirs.env, {
        args: { mode: 'vsockscale', bytes: BLOB, conns: 50 },
        device: ['-chardev', `socket,id=c1,path=${socket}`, '-device', 'vhost-user-vsock-pci,chardev=c1,in_order=on'],
      });
      await guest.line(/^VQ-ECHO-READY 7000/);
      // The guest's socat listens a moment after it starts: one connection first, until it is taken.
      for (let i = 0; ; i++) {
        const { socket: probe, reply } = await hostConnect(uds, 7000);
        probe.destroy();
        if (reply.startsWith('OK')) break;
        if (i === 100) throw new Error("the guest's echo server never took a connection");
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(await hostEchoes(uds, 50)).toBe(50);

      // The guest's turn: 50 connections to the host's echo at once.
      (await hostConnect(uds, 7001)).socket.end();
      expect((await guest.line(/^VQ-GUEST-ECHO good=(\d+) of (\d+)/)).slice(1)).toEqual(['50', '50']);

      // 100 host connections dropped in the middle of sending (each after 256 KiB of its 1 MiB).
      await Promise.all(
        Array.from({ length: 100 }, async () => {
          const { socket: s } = await hostConnect(uds, 7000);
          s.resume();
          await new Promise<void>((resolve) => s.write(randomBytes(BLOB / 4), () => resolve()));
          s.destroy();
        }),
      );
      expect(await hostEchoes(uds, 50)).toBe(50);

      (await hostConnect(uds, 7001)).socket.end();
      expect(await guest.finish(), guest.output).toBe(0);
    } finally {
      guest?.proc.kill('SIGKILL');
      echo.close();
      await daemon.stop();
    }
  }, 900_000);
});
