import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import type { Behaviour } from '../../src/conformance/driver-judge.js';
import type { CheckReport } from '../../src/conformance/report.js';
import { checkDevice } from '../../src/harness/check-device.js';
import { checkDriver } from '../../src/harness/check-driver.js';
import { Testpmd } from '../../src/harness/testpmd.js';
import { RING_FEATURES, featureMask } from '../../src/virtqueue/features.js';
import {
  VIRTIO_F_EVENT_IDX,
  VIRTIO_F_INDIRECT_DESC,
  VIRTIO_F_IN_ORDER,
  VIRTIO_F_VERSION_1,
} from '../../src/spec/features.js';
import { Guest, useGuestEnv } from './guest.js';

// `vq check` against the real peers, asserting the verdicts docs/conformance.md records: a change in what the
// checker finds about a peer fails here.

const dir = mkdtempSync(join(tmpdir(), 'vq-conformance-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let sockets = 0;
const socketPath = (): string => join(dir, `k${sockets++}.sock`);

const verdict = (r: CheckReport, id: string): string | undefined => r.rules.find((v) => v.id === id)?.verdict;
const outcomes = (r: CheckReport): Record<string, string> =>
  Object.fromEntries(r.interop.map((f) => [f.behaviour, f.outcome]));

/** Prints the report's Markdown (what docs/conformance.md shows) into the test log. */
const show = (title: string, r: CheckReport): void =>
  console.log(
    `${title}\n${r.rules.map((v) => `  ${v.verdict} ${v.id}`).join('\n')}\n  ${r.interop.map((f) => `${f.behaviour}: ${f.outcome} (${f.detail})`).join('\n  ')}`,
  );

describe("DPDK 22.11's vhost PMD as the device under test (testpmd macswap)", () => {
  it.each(['split', 'packed'] as const)('%s ring, IN_ORDER: conforms', async (ring) => {
    const socket = socketPath();
    // --no-flush-rx: the checker connects as soon as the socket exists, and testpmd's flush at the start of
    // forwarding would discard (and never send back) the first frames it finds.
    const testpmd = new Testpmd(`net_vhost0,iface=${socket},queues=1`, ['--forward-mode=macswap', '--no-flush-rx']);
    try {
      while (!existsSync(socket)) await sleep(50);
      const r = await checkDevice({
        socket,
        device: 'net',
        ring,
        inOrder: true,
        indirect: true,
        eventIdx: true,
        mergeable: true,
        rxBufferBytes: 512,
        queueSize: 256,
        count: 20_000,
        seed: 1,
        stallMs: 20_000,
        command: `vq check device --vhost-user SOCK --device net --ring ${ring}`,
      });
      show(`DPDK vhost, ${ring}`, r);
      expect(r.negotiated).toMatch(/IN_ORDER/);
      expect(r.exitCode).toBe(0);
      expect(r.interop[0]).toMatchObject({ outcome: 'ok', completed: 20_000 });
      for (const id of [
        'device.in-order',
        'device.used-available-only',
        'device.used-len',
        'device.no-write-readable',
        'device.payload',
        'device.notify',
      ]) {
        expect([id, verdict(r, id)]).toEqual([id, 'pass']);
      }
      // DPDK writes one used entry per buffer on split rings, and batches only on the packed dequeue path.
      expect(verdict(r, 'device.split-batch')).toBe(ring === 'split' ? 'unchecked' : 'n/a');
      expect(verdict(r, 'device.packed-batch')).toBe(ring === 'packed' ? 'pass' : 'n/a');
    } finally {
      await testpmd.stop();
    }
  });
});

interface DriverPath {
  ring: 'split' | 'packed';
  mergeable: boolean;
  behaviours: Behaviour[];
  /** What each behaviour did to the driver, as docs/conformance.md records it. */
  outcomes: Record<string, string>;
  /** Driver rules that fail (the rest pass or do not apply). */
  failing: string[];
}

const ALL: Behaviour[] = ['per-buffer', 'batched', 'random-batches', 'delayed', 'spurious-interrupts', 'random'];
const NOT_BATCHING: Behaviour[] = ['per-buffer', 'delayed', 'spurious-interrupts'];
const allOk = (b: Behaviour[]): Record<string, string> => Object.fromEntries(b.map((x) => [x, 'ok']));
const stopsAtBatched = {
  'per-buffer': 'ok',
  batched: 'broken',
  'random-batches': 'not run',
  delayed: 'not run',
  'spurious-interrupts': 'not run',
  random: 'not run',
};

const driverPaths: DriverPath[] = [
  { ring: 'split', mergeable: false, behaviours: ALL, outcomes: allOk(ALL), failing: [] },
  { ring: 'packed', mergeable: false, behaviours: ALL, outcomes: allOk(ALL), failing: [] },
  // The calibration (docs/net.md): split in-order receive reads len from used slots a batch skipped.
  { ring: 'split', mergeable: true, behaviours: ALL, outcomes: stopsAtBatched, failing: [] },
  { ring: 'split', mergeable: true, behaviours: NOT_BATCHING, outcomes: allOk(NOT_BATCHING), failing: [] },
  // Packed multi-segment transmit leaves WRITE set in indirect tables; receive waits on skipped descriptors.
  { ring: 'packed', mergeable: true, behaviours: ALL, outcomes: stopsAtBatched, failing: ['driver.readable-first'] },
  {
    ring: 'packed',
    mergeable: true,
    behaviours: NOT_BATCHING,
    outcomes: allOk(NOT_BATCHING),
    failing: ['driver.readable-first'],
  },
];

describe("DPDK 22.11's virtio-user as the driver under test (testpmd io --tx-first), vqkit playing every behaviour", () => {
  it.each(driverPaths)('$ring, mrg_rxbuf $mergeable: $behaviours', async (p) => {
    const socket = socketPath();
    const checking = checkDriver({
      socket,
      client: false,
      device: 'net',
      ringFeatures:
        p.ring === 'packed'
          ? RING_FEATURES
          : featureMask(VIRTIO_F_VERSION_1, VIRTIO_F_IN_ORDER, VIRTIO_F_INDIRECT_DESC, VIRTIO_F_EVENT_IDX),
      mergeable: p.mergeable,
      expectEcho: true,
      behaviours: p.behaviours,
      phaseMs: 1500,
      stallMs: 3000,
      connectTimeoutMs: 60_000,
      lingerMs: 0,
      seed: 1,
      command: 'vq check driver',
      log: () => {},
    });
    while (!existsSync(socket)) await sleep(50);
    // With MRG_RXBUF, 1152-byte frames into 512-byte mbufs: every frame spans 3 receive buffers.
    const frames = p.mergeable ? ['--mbuf-size=512', '--txpkts=384,384,384', '--enable-scatter'] : [];
    const testpmd = new Testpmd(
      `net_virtio_user0,path=${socket},queues=1,in_order=1,packed_vq=${p.ring === 'packed' ? 1 : 0},mrg_rxbuf=${p.mergeable ? 1 : 0}`,
      ['--forward-mode=io', '--tx-first', ...frames],
    );
    let r: CheckReport;
    try {
      r = await checking;
    } finally {
      await testpmd.stop();
    }
    show(`DPDK virtio-user, ${p.ring}, mrg ${p.mergeable}`, r);
    expect(r.negotiated).toMatch(/IN_ORDER/);
    expect(outcomes(r)).toEqual(p.outcomes);
    expect(r.rules.filter((v) => v.verdict === 'fail').map((v) => v.id)).toEqual(p.failing);
    if (p.outcomes.batched === 'broken') {
      expect(r.interop.find((f) => f.behaviour === 'batched')!.detail).toMatch(/match no frame delivered|stalled/);
    }
  });
});

const guestDirs = useGuestEnv('vq-guest-check-');

describe("the Linux guest's virtio-net driver (QEMU 10) as the driver under test", () => {
  it.each(['split', 'packed'] as const)(
    '%s ring, IN_ORDER: survives every behaviour, no kernel error',
    async (ring) => {
      const socket = join(guestDirs.dir, `${ring}.sock`);
      const phaseMs = 2000;
      const checking = checkDriver({
        socket,
        client: false,
        device: 'net',
        ringFeatures: RING_FEATURES,
        mergeable: true,
        expectEcho: false,
        behaviours: ALL,
        phaseMs,
        stallMs: 10_000,
        connectTimeoutMs: 120_000,
        // The guest ends its load, reads its kernel log and powers off while the device is still there.
        lingerMs: 240_000,
        seed: 1,
        command: 'vq check driver',
        log: () => {},
      });
      while (!existsSync(socket)) await sleep(50);
      const guest = new Guest(guestDirs.env, {
        args: { mode: 'netload', seconds: Math.ceil((ALL.length * phaseMs) / 1000) + 15 },
        device: [
          '-chardev',
          `socket,id=c0,path=${socket}`,
          '-netdev',
          'vhost-user,id=n0,chardev=c0',
          '-device',
          `virtio-net-pci,netdev=n0,in_order=on${ring === 'packed' ? ',packed=on' : ''}`,
        ],
      });
      const r = await checking;
      const errors = await guest.finish();
      show(`Linux guest, ${ring}`, r);
      expect(r.negotiated).toMatch(/IN_ORDER/);
      expect(r.negotiated.includes('RING_PACKED')).toBe(ring === 'packed');
      expect(outcomes(r)).toEqual(allOk(ALL));
      expect(r.rules.filter((v) => v.verdict === 'fail' || v.verdict === 'warn')).toEqual([]);
      expect(errors).toBe(0);
    },
  );
});

describe("the Linux guest's virtio-vsock driver (QEMU 10) as the driver under test", () => {
  it.each(['split', 'packed'] as const)(
    '%s ring, IN_ORDER: streams echoed all along under every behaviour, no kernel error',
    async (ring) => {
      const socket = join(guestDirs.dir, `vsock-${ring}.sock`);
      const phaseMs = 2000;
      const checking = checkDriver({
        socket,
        client: false,
        device: 'vsock',
        udsPath: join(guestDirs.dir, `vsock-${ring}.uds`),
        guestCid: 3,
        ringFeatures: RING_FEATURES,
        mergeable: false,
        expectEcho: false,
        behaviours: ALL,
        phaseMs,
        stallMs: 10_000,
        connectTimeoutMs: 120_000,
        lingerMs: 240_000,
        seed: 1,
        command: 'vq check driver --device vsock',
        log: () => {},
      });
      while (!existsSync(socket)) await sleep(50);
      const guest = new Guest(guestDirs.env, {
        args: { mode: 'vsockload', seconds: Math.ceil((ALL.length * phaseMs) / 1000) + 15, bytes: 262144 },
        device: [
          '-chardev',
          `socket,id=c1,path=${socket}`,
          '-device',
          `vhost-user-vsock-pci,chardev=c1,in_order=on${ring === 'packed' ? ',packed=on' : ''}`,
        ],
      });
      const r = await checking;
      const load = await guest.line(/^VQ-VSOCKLOAD rounds=(\d+) bad=(\d+)/);
      const errors = await guest.finish();
      show(`Linux guest vsock, ${ring}: ${load[0]}`, r);
      expect(r.negotiated).toMatch(/IN_ORDER/);
      expect(r.negotiated.includes('RING_PACKED')).toBe(ring === 'packed');
      expect(outcomes(r)).toEqual(allOk(ALL));
      expect(r.rules.filter((v) => v.verdict === 'fail' || v.verdict === 'warn')).toEqual([]);
      expect(Number(load[1])).toBeGreaterThan(0);
      expect(Number(load[2])).toBe(0);
      expect(errors).toBe(0);
    },
  );
});
