import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { VIRTIO_F_IN_ORDER, VIRTIO_F_RING_PACKED } from '../../src/spec/features.js';
import { runNetTraffic } from '../../src/drivers/net/net-frontend.js';
import { hasFeature } from '../../src/virtqueue/features.js';
import { ServeProcess } from '../support/serve-process.js';
import { Testpmd, accumulated } from '../../src/harness/testpmd.js';

const dir = mkdtempSync(join(tmpdir(), 'vq-dpdk-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let sockets = 0;
const socketPath = (): string => join(dir, `s${sockets++}.sock`);

const rings = ['split', 'packed'] as const;
const onOff = [true, false] as const;
const sizes = [256, 1024] as const;
/** Which side listens on the vhost-user socket. */
const roles = ['vqkit listens', 'DPDK listens'] as const;

const bit35 = (features: bigint): boolean => hasFeature(features, VIRTIO_F_IN_ORDER);

interface Case {
  ring: (typeof rings)[number];
  inOrder: boolean;
  mergeable: boolean;
  queueSize: number;
  role: (typeof roles)[number];
}

const cases: Case[] = rings.flatMap((ring) =>
  onOff.flatMap((inOrder) =>
    onOff.flatMap((mergeable) =>
      sizes.flatMap((queueSize) => roles.map((role) => ({ ring, inOrder, mergeable, queueSize, role }))),
    ),
  ),
);
const label = (c: Case): string =>
  `${c.ring}, IN_ORDER ${c.inOrder ? 'on' : 'off'}, MRG_RXBUF ${c.mergeable ? 'on' : 'off'}, queue ${c.queueSize}, ${c.role}`;

/** Frames testpmd must see come back before a run counts. */
const ENOUGH = 20_000;

describe("DPDK virtio-user (testpmd io) as the driver, vqkit's net device with the loop backend", () => {
  it.each(cases)('$ring $queueSize in_order=$inOrder mrg=$mergeable ($role)', async (c) => {
    const path = socketPath();
    // With MRG_RXBUF, 1152-byte frames in 3 segments into 512-byte buffers: each frame spans 3 receive buffers.
    const frames = c.mergeable ? ['--mbuf-size=512', '--txpkts=384,384,384', '--enable-scatter'] : [];
    const vqkitArgs = ['--backend', 'loop'];
    if (c.ring === 'split') vqkitArgs.push('--no-packed');
    const vdev =
      `net_virtio_user0,path=${path},queues=1,queue_size=${c.queueSize},in_order=${c.inOrder ? 1 : 0},` +
      `packed_vq=${c.ring === 'packed' ? 1 : 0},mrg_rxbuf=${c.mergeable ? 1 : 0}` +
      (c.role === 'DPDK listens' ? ',server=1' : '');
    const forward = ['--forward-mode=io', '--tx-first', `--txd=${c.queueSize}`, `--rxd=${c.queueSize}`, ...frames];
    const eal = ['--log-level=pmd.net.virtio.init:debug'];
    let daemon: ServeProcess;
    let testpmd: Testpmd;
    if (c.role === 'vqkit listens') {
      daemon = new ServeProcess('net', path, vqkitArgs);
      await daemon.waitFor(/listening on/);
      testpmd = new Testpmd(vdev, forward, eal);
    } else {
      // testpmd's virtio-user listens; vqkit's --client retries until the socket is there.
      testpmd = new Testpmd(vdev, forward, eal);
      daemon = new ServeProcess('net', path, [...vqkitArgs, '--client']);
    }
    try {
      await testpmd.waitFor(new RegExp(`RX-packets:\\s+([1-9]\\d{${String(ENOUGH).length - 1},})`), 60_000);
    } finally {
      await testpmd.stop();
      await daemon.stop();
    }
    const out = testpmd.output;
    const totals = accumulated(out);
    expect(totals.rxPackets).toBeGreaterThanOrEqual(ENOUGH);
    expect(totals.txPackets).toBeGreaterThanOrEqual(totals.rxPackets);
    expect(totals.txDropped).toBe(0);
    expect(totals.rxDropped).toBe(0);
    expect(totals.rxErrors).toBe(0);
    // Frames come back whole: every one testpmd sent back still has the length it was sent with.
    const nic = [...out.matchAll(/TX-packets:\s+(\d+)\s+TX-errors:\s+\d+\s+TX-bytes:\s+(\d+)/g)].at(-1)!;
    // (testpmd reads its packet and byte counters a moment apart: allow 1%. A truncated frame is far off: docs/net.md.)
    const perFrame = Number(nic[2]) / Number(nic[1]);
    const sent = c.mergeable ? 1152 : 64;
    expect(perFrame).toBeGreaterThan(sent * 0.99);
    expect(perFrame).toBeLessThan(sent * 1.01);
    const negotiated = BigInt('0x' + out.match(/features after negotiate = ([0-9a-f]+)/)![1]);
    console.log(`${label(c)}: testpmd negotiated 0x${negotiated.toString(16)}, ${totals.rxPackets} frames back`);
    expect(bit35(negotiated)).toBe(c.inOrder);
    expect(hasFeature(negotiated, VIRTIO_F_RING_PACKED)).toBe(c.ring === 'packed');
    expect(daemon.lines.some((l) => /negotiated .*IN_ORDER/.test(l))).toBe(c.inOrder);
    // Packed multi-segment frames go through indirect tables that DPDK leaves flagged WRITE (docs/net.md): the
    // transmit queue reads them as device-readable, and says so once.
    if (c.ring === 'packed' && c.mergeable) {
      expect(daemon.lines.some((l) => /tx: indirect tables with WRITE flags left set/.test(l))).toBe(true);
    }
  });

  it('IN_ORDER stays off when vqkit does not offer it, though DPDK asks', async () => {
    const path = socketPath();
    const daemon = new ServeProcess('net', path, ['--backend', 'loop', '--no-in-order']);
    await daemon.waitFor(/listening on/);
    const testpmd = new Testpmd(
      `net_virtio_user0,path=${path},queues=1,in_order=1,packed_vq=1`,
      ['--forward-mode=io', '--tx-first'],
      ['--log-level=pmd.net.virtio.init:debug'],
    );
    try {
      await testpmd.waitFor(/RX-packets:\s+[1-9]\d{3,}/, 60_000);
    } finally {
      await testpmd.stop();
      await daemon.stop();
    }
    const negotiated = BigInt('0x' + testpmd.output.match(/features after negotiate = ([0-9a-f]+)/)![1]);
    expect(bit35(negotiated)).toBe(false);
    expect(accumulated(testpmd.output).txDropped).toBe(0);
  });
});

describe("vqkit's net driver into DPDK's vhost PMD (testpmd macswap)", () => {
  it.each(cases)('$ring $queueSize in_order=$inOrder mrg=$mergeable ($role)', async (c) => {
    const path = socketPath();
    const vdev = `net_vhost0,iface=${path},queues=1` + (c.role === 'vqkit listens' ? ',client=1' : '');
    // testpmd flushes its receive queues when forwarding starts, discarding what is there (it counts those frames
    // received and never sends them). As the client it connects before that; as the server it may accept the
    // driver, which sends its first window at once, between "Checking link statuses" and the start of forwarding.
    // Either way the flush could eat the first frames: keep them.
    const forward = ['--forward-mode=macswap', '--no-flush-rx'];
    const eal = ['--log-level=lib.vhost.config:info'];
    const traffic = (listen: boolean) =>
      runNetTraffic(path, {
        ring: c.ring,
        inOrder: c.inOrder,
        mergeable: c.mergeable,
        indirect: false,
        eventIdx: false,
        control: false,
        queueSize: c.queueSize,
        pairs: 1,
        frames: ENOUGH,
        frameSize: 'random',
        window: 128,
        // With MRG_RXBUF, 512-byte receive buffers: frames up to 1514 bytes span up to 3 of them.
        rxBufferBytes: c.mergeable ? 512 : undefined,
        idleTimeoutMs: 20_000,
        seed: 5,
        listen,
      });
    let testpmd: Testpmd;
    let run: Awaited<ReturnType<typeof traffic>>;
    if (c.role === 'vqkit listens') {
      const running = traffic(true);
      testpmd = new Testpmd(vdev, forward, eal);
      try {
        run = await running;
      } finally {
        await testpmd.stop();
      }
    } else {
      testpmd = new Testpmd(vdev, forward, eal);
      try {
        await testpmd.waitFor(/Press enter to exit|Port 0: link state change|Checking link statuses/, 30_000);
        run = await traffic(false);
      } finally {
        await testpmd.stop();
      }
    }
    console.log(`${label(c)}: ${run.described}; ${run.pairs[0].received} frames back`);
    expect(run.failure).toBeNull();
    expect(run.pairs[0]).toMatchObject({ sent: ENOUGH, received: ENOUGH, bad: 0, rxErrors: 0 });
    if (c.mergeable) expect(run.pairs[0].rxBuffers).toBeGreaterThan(ENOUGH);
    expect(bit35(run.negotiated)).toBe(c.inOrder);
    const dpdkSays = [...testpmd.output.matchAll(/negotiated Virtio features: 0x([0-9a-f]+)/g)].map((m) =>
      BigInt('0x' + m[1]),
    );
    expect(dpdkSays.length).toBeGreaterThan(0);
    expect(bit35(dpdkSays.at(-1)!)).toBe(c.inOrder);
  });
});
