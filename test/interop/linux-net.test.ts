import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { VIRTIO_F_IN_ORDER, VIRTIO_F_RING_PACKED } from '../../src/spec/features.js';
import { VIRTIO_ID_NET } from '../../src/spec/net.js';
import { hasFeature } from '../../src/virtqueue/features.js';
import { inNamespace, ip } from '../support/netns.js';
import { ServeProcess } from '../support/serve-process.js';
import { GUEST_CASES, Guest, useGuestEnv } from './guest.js';

// The Linux guest's own virtio-net driver (kernel >= 7.0, QEMU's virtio-net-pci on a vhost-user netdev) against
// vqkit's net device with a tap backend in a network namespace the test creates: ping, and 8 MiB each way over TCP.

const BYTES = 8 << 20;
const ONE_WAY = fileURLToPath(new URL('../support/tcp-oneway.mjs', import.meta.url));
const tag = process.pid % 100_000;
const guestDirs = useGuestEnv('vq-guest-net-');

interface OneWay {
  sha256: string;
  bytes: number;
}

/**
 * tcp-oneway.mjs in `ns`: resolves once it listens, with the result of its one connection to come (wrapped: an
 * async function returning a promise would wait for that one too).
 */
async function oneWay(
  ns: string,
  role: 'sink' | 'source',
  addr: string,
  port: number,
): Promise<{ result: Promise<OneWay> }> {
  let ready!: () => void;
  const listening = new Promise<void>((resolve) => (ready = resolve));
  const done = inNamespace(ns, [process.execPath, ONE_WAY, role, addr, String(port), String(BYTES)], (line) => {
    if (line === 'listening') ready();
  });
  await Promise.race([listening, done]);
  return { result: done.then((out) => JSON.parse(out.trim().split('\n').pop()!) as OneWay) };
}

/** `p`, or an error with the guest's console when it takes longer than two minutes. */
function within<T>(p: Promise<T>, guest: Guest, what: string): Promise<T> {
  return Promise.race([
    p,
    new Promise<T>((_, reject) =>
      setTimeout(() => reject(new Error(`${what} did not end:\n${guest.output.slice(-3000)}`)), 120_000).unref(),
    ),
  ]);
}

describe("Linux guest's virtio-net driver against vqkit's net device (tap backend in a network namespace)", () => {
  it.each(GUEST_CASES)(
    '$ring ring, IN_ORDER $inOrder: ping, 8 MiB guest to host and host to guest over TCP',
    async ({ ring, inOrder }) => {
      const ns = `vqguest${tag}`;
      const tap = `vqg${tag}`;
      const socket = join(guestDirs.dir, `${ring}-${inOrder}.sock`);
      ip('netns', 'add', ns);
      const daemon = new ServeProcess('net', socket, ['--backend', `tap:${tap}`], ns);
      let guest: Guest | null = null;
      try {
        await daemon.waitFor(/listening on/);
        ip('-n', ns, 'link', 'set', 'lo', 'up');
        ip('-n', ns, 'addr', 'add', '10.213.9.1/24', 'dev', tap);
        ip('-n', ns, 'link', 'set', tap, 'up');
        const upload = await oneWay(ns, 'sink', '10.213.9.1', 5001);
        const download = await oneWay(ns, 'source', '10.213.9.1', 5002);
        const on = (b: boolean): string => (b ? 'on' : 'off');
        guest = new Guest(guestDirs.env, {
          args: { mode: 'net', bytes: BYTES, ip: '10.213.9.2/24', host: '10.213.9.1', upport: 5001, downport: 5002 },
          device: [
            '-chardev',
            `socket,id=c0,path=${socket}`,
            '-netdev',
            'vhost-user,id=n0,chardev=c0',
            '-device',
            `virtio-net-pci,netdev=n0,in_order=${on(inOrder)},packed=${on(ring === 'packed')}`,
          ],
        });
        const features = await guest.features(VIRTIO_ID_NET);
        console.log(`guest net (${ring}, IN_ORDER ${inOrder}): features 0x${features.toString(16)}`);
        expect(hasFeature(features, VIRTIO_F_IN_ORDER)).toBe(inOrder);
        expect(hasFeature(features, VIRTIO_F_RING_PACKED)).toBe(ring === 'packed');
        expect((await guest.line(/^VQ-PING (\w+)/))[1]).toBe('ok');
        const up = await guest.line(/^VQ-UP ([0-9a-f]{64}) (\d+)/);
        await guest.line(/^VQ-UP-DONE/);
        expect(await within(upload.result, guest, 'the upload')).toEqual({ sha256: up[1], bytes: BYTES });
        const down = await guest.line(/^VQ-DOWN ([0-9a-f]{64}) (\d+)/);
        expect(await within(download.result, guest, 'the download')).toEqual({
          sha256: down[1],
          bytes: Number(down[2]),
        });
        expect(await guest.finish(), guest.output).toBe(0);
      } finally {
        guest?.proc.kill('SIGKILL');
        await daemon.stop();
        ip('netns', 'del', ns);
      }
    },
    600_000,
  );
});
