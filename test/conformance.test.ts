import { describe, expect, it } from 'vitest';
import { VerdictBoard } from '../src/conformance/board.js';
import { DeviceJudge, judgeWake, UNWRITTEN } from '../src/conformance/device-judge.js';
import {
  CheckCounter,
  DriverJudge,
  behaviourNames,
  newCheckCounters,
  type Behaviour,
} from '../src/conformance/driver-judge.js';
import { reportMarkdown, reportText, verdicts, exitCodeOf, type CheckReport } from '../src/conformance/report.js';
import type { RuleId } from '../src/conformance/rules.js';
import { EventFd, signalEventFd } from '../src/os/eventfd.js';
import { VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from '../src/spec/split.js';
import { ringFeatures } from '../src/virtqueue/features.js';
import { ScatterList } from '../src/virtqueue/scatter-list.js';
import type { VirtqueueDevice, VirtqueueDriver } from '../src/virtqueue/types.js';
import { PackedTestRing } from './support/packed-ring.js';
import { TestRing, type FeatureFlags } from './support/split-ring.js';

type Ring = TestRing | PackedTestRing;

/** vqkit's driver on `ring`, judged: what `vq check device` runs. */
function judgedDriver(ring: Ring, board: VerdictBoard): DeviceJudge<number> {
  const { size, features, memory, addresses } = ring;
  const config = { name: 'mock.0', size, features, memory, addresses };
  return new DeviceJudge(ring.driver<number>() as VirtqueueDriver<number>, config, board, 0);
}

/** Adds buffers of `writable` bytes (one descriptor each), readable `readable` bytes before when given. */
function addBuffers(ring: Ring, drv: VirtqueueDriver<number>, writable: number[], readable = 0): void {
  writable.forEach((w, i) => {
    const sg = new ScatterList();
    if (readable > 0) sg.addReadable(ring.dataBase + 0x1000 + i * 64, readable);
    drv.add(sg.addWritable(ring.dataBase + i * 64, w), i, false);
  });
  drv.kickPrepare();
}

const takeAll = (drv: VirtqueueDriver<number>): number[] => {
  const out: number[] = [];
  for (let t = drv.takeUsed(); t !== undefined; t = drv.takeUsed()) out.push(t);
  return out;
};

/** The one rule the board says was broken, with its first offence. */
function brokenOnly(board: VerdictBoard, role: 'device' | 'driver', flags: { inOrder: boolean; packed: boolean }) {
  const broken = verdicts(board, role, flags).filter((v) => v.violations > 0);
  expect(broken.map((v) => v.id)).toHaveLength(1);
  return broken[0];
}

describe('vq check device: a non-conforming device is named by rule and index', () => {
  const split = { inOrder: true, packed: false };
  const packed = { inOrder: true, packed: true };

  it('a conforming device (vqkit engine, batched IN_ORDER) gets a clean report', () => {
    const ring = new TestRing(8, { inOrder: true });
    const board = new VerdictBoard();
    const drv = judgedDriver(ring, board);
    const dev = ring.device('batched');
    for (let lap = 0; lap < 5; lap++) {
      addBuffers(ring, drv, [8, 8, 8, 8], 4);
      for (let c = dev.pop(); c !== null; c = dev.pop()) dev.complete(c, c.writableLength);
      dev.flush();
      expect(takeAll(drv)).toEqual([0, 1, 2, 3]);
    }
    const v = verdicts(board, 'device', split);
    expect(v.filter((r) => r.verdict === 'fail' || r.verdict === 'warn')).toEqual([]);
    expect(v.find((r) => r.id === 'device.split-batch')).toMatchObject({ verdict: 'pass' });
    expect(v.find((r) => r.id === 'device.no-write-readable')).toMatchObject({ verdict: 'pass', checks: 20 });
  });

  it('split IN_ORDER: a device that uses the second buffer first', () => {
    const ring = new TestRing(8, { inOrder: true });
    const board = new VerdictBoard();
    const drv = judgedDriver(ring, board);
    addBuffers(ring, drv, [8, 8]);
    ring.writeUsedEntry(0, 1, 8);
    ring.setUsedIdx(1);
    expect(takeAll(drv)).toEqual([]);
    const v = brokenOnly(board, 'device', split);
    expect(v).toMatchObject({ id: 'device.in-order', verdict: 'fail', first: { queue: 0, index: 0, value: 1 } });
  });

  it('split IN_ORDER: a device that writes both entries, the later buffer first', () => {
    const ring = new TestRing(8, { inOrder: true });
    const board = new VerdictBoard();
    const drv = judgedDriver(ring, board);
    addBuffers(ring, drv, [8, 8]);
    ring.writeUsedEntry(0, 1, 8); // read as a batch of buffers 0 and 1...
    ring.writeUsedEntry(1, 0, 8); // ...yet buffer 0 got an entry of its own after it
    ring.setUsedIdx(2);
    takeAll(drv);
    const v = brokenOnly(board, 'device', split);
    expect(v).toMatchObject({ id: 'device.in-order', first: { index: 1, value: 0, expected: UNWRITTEN } });
  });

  it("split IN_ORDER: a batch's entry at its last slot instead of its first", () => {
    const ring = new TestRing(8, { inOrder: true });
    const board = new VerdictBoard();
    const drv = judgedDriver(ring, board);
    addBuffers(ring, drv, [8, 8, 8]);
    ring.writeUsedEntry(2, 2, 8);
    ring.setUsedIdx(3);
    expect(takeAll(drv)).toEqual([]);
    const v = brokenOnly(board, 'device', split);
    expect(v).toMatchObject({ id: 'device.split-batch', first: { index: 0, value: UNWRITTEN } });
  });

  it("packed IN_ORDER: a batch's used descriptor at its last buffer's place", () => {
    const ring = new PackedTestRing(8, { inOrder: true });
    const board = new VerdictBoard();
    const drv = judgedDriver(ring, board);
    addBuffers(ring, drv, [8, 8, 8]);
    const last = ring.readDesc(2);
    ring.writeDesc(2, last.addr, 8, last.id, ring.used(1));
    expect(takeAll(drv)).toEqual([]);
    drv.diagnoseStall();
    const v = brokenOnly(board, 'device', packed);
    expect(v).toMatchObject({ id: 'device.packed-batch', first: { index: 2, value: last.id, expected: 0 } });
  });

  it('packed IN_ORDER: a device that uses the later buffer first, each in its own descriptor', () => {
    const ring = new PackedTestRing(8, { inOrder: true });
    const board = new VerdictBoard();
    const drv = judgedDriver(ring, board);
    addBuffers(ring, drv, [8, 8]);
    const [a, b] = [ring.readDesc(0), ring.readDesc(1)];
    ring.writeDesc(1, a.addr, 8, a.id, ring.used(1));
    ring.writeDesc(0, b.addr, 8, b.id, ring.used(1));
    takeAll(drv);
    const v = brokenOnly(board, 'device', packed);
    expect(v).toMatchObject({ id: 'device.in-order', first: { index: 1, value: a.id } });
  });

  it('a used length past the writable bytes', () => {
    const ring = new TestRing(8);
    const board = new VerdictBoard();
    const drv = judgedDriver(ring, board);
    addBuffers(ring, drv, [8, 8]);
    ring.writeUsedEntry(0, 1, 9);
    ring.setUsedIdx(1);
    takeAll(drv);
    expect(brokenOnly(board, 'device', { inOrder: false, packed: false })).toMatchObject({
      id: 'device.used-len',
      first: { index: 0, value: 9 },
    });
  });

  it('a used id the driver never made available', () => {
    const ring = new TestRing(8);
    const board = new VerdictBoard();
    const drv = judgedDriver(ring, board);
    addBuffers(ring, drv, [8, 8]);
    ring.writeUsedEntry(0, 5, 0);
    ring.setUsedIdx(1);
    takeAll(drv);
    expect(brokenOnly(board, 'device', { inOrder: false, packed: false })).toMatchObject({
      id: 'device.used-available-only',
      first: { index: 0, value: 5 },
    });
  });

  it('a device that writes into a device-readable buffer', () => {
    const ring = new TestRing(8, { inOrder: true });
    const board = new VerdictBoard();
    const drv = judgedDriver(ring, board);
    addBuffers(ring, drv, [8, 8], 16);
    const dev = ring.device();
    const first = dev.pop()!;
    first.bytes[0][first.offsets[0] + 3] ^= 0xff; // the readable segment
    dev.complete(first, 8);
    dev.complete(dev.pop()!, 8);
    dev.flush();
    expect(takeAll(drv)).toEqual([0, 1]);
    expect(brokenOnly(board, 'device', split)).toMatchObject({ id: 'device.no-write-readable', first: { index: 0 } });
  });

  it('a device that publishes used buffers and does not notify the driver waiting for them', () => {
    const ring = new TestRing(8, { inOrder: true, eventIdx: true });
    const board = new VerdictBoard();
    const drv = judgedDriver(ring, board);
    const call = EventFd.create();
    try {
      addBuffers(ring, drv, [8]);
      expect(drv.enableInterrupts()).toBe(true);
      const dev = ring.device();
      dev.complete(dev.pop()!, 8);
      expect(dev.flush()).toBe(true); // the driver asked to be notified: the device does not
      judgeWake([drv as DeviceJudge<unknown>], [call.fd], false);
      expect(brokenOnly(board, 'device', split)).toMatchObject({ id: 'device.notify', verdict: 'fail' });
    } finally {
      call.close();
    }
  });

  it('EVENT_IDX: notifications the driver did not ask for are a SHOULD-level warning', () => {
    const ring = new TestRing(8, { inOrder: true, eventIdx: true });
    const board = new VerdictBoard();
    const drv = judgedDriver(ring, board);
    const call = EventFd.create();
    try {
      addBuffers(ring, drv, [8]);
      // Until its first wake-up a ring runs with notifications on and nothing armed: whatever came is not counted.
      for (let i = 0; i < 5; i++) signalEventFd(call.fd);
      judgeWake([drv as DeviceJudge<unknown>], [call.fd], true);
      expect(verdicts(board, 'device', split).filter((v) => v.violations > 0)).toEqual([]);
      drv.enableInterrupts();
      for (let i = 0; i < 3; i++) signalEventFd(call.fd);
      judgeWake([drv as DeviceJudge<unknown>], [call.fd], true);
      const v = brokenOnly(board, 'device', split);
      expect(v).toMatchObject({ id: 'device.notify-suppressed', verdict: 'warn', first: { value: 3, expected: 2 } });
      expect(exitCodeOf([v], [])).toBe(0);
    } finally {
      call.close();
    }
  });
});

/** The device engine on `ring`, judged and playing `behaviour`: what `vq check driver` serves. */
function judgedDevice(ring: Ring, board: VerdictBoard, behaviour: Behaviour = 'per-buffer') {
  const counters = newCheckCounters();
  Atomics.store(new Int32Array(counters), CheckCounter.BEHAVIOUR, behaviourNames.indexOf(behaviour));
  const check = { board: board.buffer, counters, seed: 7 };
  const dev: VirtqueueDevice = new DriverJudge(ring.device('batched'), check, 0, ringFeatures(ring.features));
  return { dev, counters: new Int32Array(counters) };
}

interface DriverCase {
  name: string;
  flags: FeatureFlags;
  /** Writes the driver's side of the ring by hand. */
  write: (r: TestRing) => void;
  rule: RuleId;
  index: number;
  value: number;
}

const d = (r: TestRing, i: number, flags: number, next = 0): void =>
  r.writeDesc(i, r.dataBase + i * 64, 16, flags, next);

const driverCases: DriverCase[] = [
  {
    name: 'IN_ORDER: a chain whose next skips a descriptor',
    flags: { inOrder: true },
    write: (r) => {
      d(r, 0, VIRTQ_DESC_F_NEXT, 2);
      d(r, 2, VIRTQ_DESC_F_WRITE);
      r.publish(0);
    },
    rule: 'driver.in-order-next',
    index: 0,
    value: 2,
  },
  {
    name: 'IN_ORDER: a second buffer that does not start where the first ended',
    flags: { inOrder: true },
    write: (r) => {
      d(r, 0, VIRTQ_DESC_F_WRITE);
      d(r, 3, VIRTQ_DESC_F_WRITE);
      r.publish(0, 3);
    },
    rule: 'driver.in-order-next',
    index: 1,
    value: 3,
  },
  {
    name: 'IN_ORDER: an indirect table that is not sequential',
    flags: { inOrder: true, indirect: true },
    write: (r) => {
      r.writeTableDesc(0, 0, r.dataBase, 16, VIRTQ_DESC_F_NEXT, 2);
      r.writeTableDesc(0, 1, r.dataBase + 64, 16, VIRTQ_DESC_F_WRITE);
      r.writeTableDesc(0, 2, r.dataBase + 128, 16, VIRTQ_DESC_F_WRITE);
      r.writeDesc(0, r.tableAddr(0), 48, VIRTQ_DESC_F_INDIRECT);
      r.publish(0);
    },
    rule: 'driver.in-order-indirect',
    index: 0,
    value: 2,
  },
  {
    name: 'avail idx further ahead than the queue holds',
    flags: {},
    write: (r) => r.setAvailIdx(9),
    rule: 'driver.avail-idx',
    index: 0,
    value: 9,
  },
  {
    name: 'a head made available again while still in flight',
    flags: {},
    write: (r) => {
      d(r, 0, VIRTQ_DESC_F_WRITE);
      r.publish(0, 0);
    },
    rule: 'driver.no-reuse',
    index: 1,
    value: 0,
  },
  {
    name: 'a device-readable descriptor after a device-writable one',
    flags: {},
    write: (r) => {
      d(r, 0, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
      d(r, 1, 0);
      r.publish(0);
    },
    rule: 'driver.readable-first',
    index: 1,
    value: 16,
  },
  {
    name: 'a descriptor outside guest memory',
    flags: {},
    write: (r) => {
      r.writeDesc(0, 0x7000_0000, 16, VIRTQ_DESC_F_WRITE);
      r.publish(0);
    },
    rule: 'driver.descriptors',
    index: 0,
    value: 0x7000_0000,
  },
];

describe('vq check driver: a non-conforming driver is named by rule and index', () => {
  for (const c of driverCases) {
    it(c.name, () => {
      const ring = new TestRing(8, c.flags);
      const board = new VerdictBoard();
      const { dev } = judgedDevice(ring, board);
      c.write(ring);
      for (let chain = dev.pop(); chain !== null; chain = dev.pop()) dev.complete(chain, 0);
      const v = brokenOnly(board, 'driver', { inOrder: c.flags.inOrder === true, packed: false });
      expect(v).toMatchObject({ id: c.rule, verdict: 'fail', first: { queue: 0, index: c.index, value: c.value } });
    });
  }

  for (const behaviour of behaviourNames) {
    it(`'${behaviour}' is legal: vqkit's driver gets every buffer back, in order, with its length`, () => {
      const ring = new TestRing(16, { inOrder: true, eventIdx: true });
      const board = new VerdictBoard();
      const { dev, counters } = judgedDevice(ring, board, behaviour);
      const drv = ring.driver<number>();
      // Even heads are filled (a batch may skip them: skipped buffers count as full), odd ones in part.
      const written = (head: number): number => (head % 2 === 0 ? 64 : 8 * (head % 4));
      let next = 0;
      let back = 0;
      while (back < 2000) {
        const sg = new ScatterList();
        while (next - back < 16 && drv.add(sg.reset().addWritable(ring.dataBase + (next % 16) * 64, 64), next, false))
          next++;
        drv.kickPrepare();
        for (let c = dev.pop(); c !== null; c = dev.pop()) dev.complete(c, written(c.id));
        dev.flush();
        for (let t = drv.takeUsed(); t !== undefined; t = drv.takeUsed()) {
          expect(t).toBe(back++);
          expect(drv.usedLen).toBe(written(t % 16));
        }
        if (!dev.hasAvailable()) dev.flush(); // idle: a held completion is published now
      }
      expect(drv.error).toBeNull();
      expect(dev.error).toBeNull();
      expect(Atomics.load(counters, CheckCounter.COMPLETED)).toBeGreaterThanOrEqual(2000);
      expect(verdicts(board, 'driver', { inOrder: true, packed: false }).filter((v) => v.violations > 0)).toEqual([]);
      const entries = dev.stats.usedEntriesWritten;
      if (behaviour === 'per-buffer') expect(entries).toBe(dev.stats.buffersUsed);
      if (behaviour === 'batched' || behaviour === 'random-batches')
        expect(entries).toBeLessThan(dev.stats.buffersUsed);
    });
  }
});

describe('reports', () => {
  const report = (): CheckReport => {
    const ring = new TestRing(8, { inOrder: true });
    const board = new VerdictBoard();
    const drv = judgedDriver(ring, board);
    addBuffers(ring, drv, [8, 8]);
    ring.writeUsedEntry(0, 1, 8);
    ring.setUsedIdx(1);
    takeAll(drv);
    const rules = verdicts(board, 'device', { inOrder: true, packed: false });
    return {
      role: 'device',
      peer: 'test device at /tmp/x.sock',
      negotiated: 'VERSION_1 IN_ORDER',
      run: '0 of 2 buffers',
      rules,
      interop: [],
      command: 'vq check device --vhost-user /tmp/x.sock --device test',
      exitCode: exitCodeOf(rules, []),
    };
  };

  it('text: one row per rule, the first offence under a failed one, the command, and the verdict', () => {
    const r = report();
    expect(r.exitCode).toBe(1);
    const text = reportText(r);
    expect(text).toMatch(/FAIL\s+device\.in-order\s+MUST/);
    expect(text).toContain('first: queue 0, index 0: mock.0: IN_ORDER_BATCH_OVERRUN');
    expect(text).toContain('N/A       device.packed-batch');
    expect(text).toContain('reproduce: vq check device --vhost-user /tmp/x.sock --device test');
    expect(text).toContain('verdict: DOES NOT CONFORM');
  });

  it('markdown: a findings table with the spec section', () => {
    const md = reportMarkdown(report());
    expect(md).toContain('| device.in-order | MUST | fail | 1 | 1 |');
    expect(md).toContain('Reserved Feature Bits');
  });
});
