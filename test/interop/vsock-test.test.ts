import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VIRTIO_F_IN_ORDER, VIRTIO_F_RING_PACKED } from '../../src/spec/features.js';
import { VIRTIO_ID_VSOCK, VIRTIO_VSOCK_F_SEQPACKET } from '../../src/spec/vsock.js';
import { hasFeature } from '../../src/virtqueue/features.js';
import { VqProcess } from '../support/serve-process.js';
import { Guest, useGuestEnv } from './guest.js';
import { VSOCK_TEST_SKIPPED, parseVsockTest } from './vsock-test-cases.js';

// Linux's own vsock test suite (tools/testing/vsock/vsock_test, built from Debian's kernel source package by
// scripts/kernel-tools.sh and put in the guest's initramfs) between two Linux guests on one `vq serve vsock` daemon,
// in one group: every vsock packet between them goes through vqkit's device and its sibling router. vsock_test's
// control channel runs over a QEMU network device of the guests' own (a socket netdev joining the two QEMUs), not
// through vqkit.

const dirs = useGuestEnv('vq-vsock-test-');
let controlPort = 20000 + (process.pid % 20000);

describe("Linux's vsock_test between two guests through vq serve vsock", () => {
  it.each(
    (['split', 'packed'] as const).flatMap((ring) => (['3->4', '4->3'] as const).map((roles) => ({ ring, roles }))),
  )(
    '$ring ring, IN_ORDER: server and client $roles; every case passes but the guest-only ones',
    async ({ ring, roles }) => {
      const [serverCid, clientCid] = roles === '3->4' ? [3, 4] : [4, 3];
      const vms = [3, 4].map((cid) => ({
        cid,
        socket: join(dirs.dir, `${ring}-${roles}-${cid}.sock`),
        uds: join(dirs.dir, `${ring}-${roles}-${cid}.uds`),
      }));
      const daemon = new VqProcess([
        'serve',
        'vsock',
        '--seqpacket',
        ...vms.flatMap((v) => ['--vm', `guest-cid=${v.cid},socket=${v.socket},uds-path=${v.uds},groups=test`]),
      ]);
      const port = controlPort++;
      const guests: Guest[] = [];
      const guestOf = (cid: number, role: 'server' | 'client'): Guest => {
        const v = vms.find((x) => x.cid === cid)!;
        const ip = role === 'server' ? '10.0.0.1' : '10.0.0.2';
        const g = new Guest(dirs.env, {
          args: {
            mode: 'vsocktest',
            role,
            peer: role === 'server' ? clientCid : serverCid,
            ip: `${ip}/24`,
            control: '10.0.0.1',
            skip: VSOCK_TEST_SKIPPED.map((c) => c.id).join(','),
          },
          device: [
            '-chardev',
            `socket,id=c1,path=${v.socket}`,
            '-device',
            `vhost-user-vsock-pci,chardev=c1,in_order=on,packed=${ring === 'packed' ? 'on' : 'off'}`,
            '-netdev',
            `socket,id=n1,${role === 'server' ? 'listen' : 'connect'}=127.0.0.1:${port}`,
            '-device',
            `virtio-net-pci,netdev=n1,mac=52:54:00:00:00:0${cid}`,
          ],
        });
        guests.push(g);
        return g;
      };
      try {
        for (const v of vms) await daemon.waitFor(new RegExp(`listening on ${v.socket}`));
        const server = guestOf(serverCid, 'server');
        await server.line(/^VQ-VT Control socket listening/);
        const client = guestOf(clientCid, 'client');
        for (const g of [server, client]) {
          const features = await g.features(VIRTIO_ID_VSOCK);
          expect(hasFeature(features, VIRTIO_F_IN_ORDER)).toBe(true);
          expect(hasFeature(features, VIRTIO_F_RING_PACKED)).toBe(ring === 'packed');
          expect(hasFeature(features, VIRTIO_VSOCK_F_SEQPACKET)).toBe(true);
        }
        const exits = await Promise.all([server, client].map((g) => g.line(/VQ-VSOCKTEST-EXIT (\d+)/)));
        const results = parseVsockTest(client.output);
        console.log(
          `vsock_test, ${ring} ring, IN_ORDER, server CID ${serverCid}, client CID ${clientCid}:\n` +
            results.map((r) => `  ${r.id} - ${r.name}: ${r.result}`).join('\n'),
        );
        expect(
          exits.map((m) => Number(m[1])),
          `${server.output}\n----\n${client.output}`,
        ).toEqual([0, 0]);
        expect(results.filter((r) => r.result !== 'ok' && r.result !== 'skipped')).toEqual([]);
        expect(results.filter((r) => r.result === 'skipped').map((r) => r.id)).toEqual(
          VSOCK_TEST_SKIPPED.map((c) => c.id),
        );
        expect(results.length).toBeGreaterThanOrEqual(26);
        for (const g of [server, client]) expect(await g.finish(), g.output).toBe(0);
      } finally {
        guests.forEach((g) => g.proc.kill('SIGKILL'));
        await daemon.stop();
      }
    },
    900_000,
  );
});
