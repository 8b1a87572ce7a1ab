import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FrameCopier } from '../src/devices/net/frame-copier.js';
import { FrameRing } from '../src/devices/net/frame-ring.js';
import { NetControl } from '../src/devices/net/net-control.js';
import { Delivery, NetDevicePair } from '../src/devices/net/net-pair.js';
import { NetState } from '../src/devices/net/net-state.js';
import { NetDriverPair } from '../src/drivers/net/net-driver.js';
import { GuestMemory } from '../src/memory/guest-memory.js';
import { Tap } from '../src/os/tap.js';
import { connectUnix } from '../src/os/unix-socket.js';
import { VIRTIO_F_IN_ORDER, VIRTIO_F_VERSION_1 } from '../src/spec/features.js';
import {
  VIRTIO_NET_F_CTRL_RX,
  VIRTIO_NET_F_MQ,
  VIRTIO_NET_F_MRG_RXBUF,
  VIRTIO_NET_OK,
  VIRTIO_NET_ERR,
} from '../src/spec/net.js';
import {
  VHOST_USER_F_PROTOCOL_FEATURES,
  VHOST_USER_NEED_REPLY,
  VHOST_USER_VERSION,
  VhostUserProtocolFeature as P,
  VhostUserRequest as R,
} from '../src/spec/vhost-user.js';
import { VhostUserConnection } from '../src/transport/vhost-user/connection.js';
import { VhostUserFrontendError } from '../src/transport/vhost-user/frontend-setup.js';
import { decodeU64, encodeConfig, encodeU64 } from '../src/transport/vhost-user/messages.js';
import { runNetTraffic, type NetTrafficOptions } from '../src/drivers/net/net-frontend.js';
import { bit, featureMask, type Features } from '../src/virtqueue/features.js';
import { ScatterList } from '../src/virtqueue/scatter-list.js';
import { localQueue } from './support/local-queue.js';
import { ServeProcess, VqProcess } from './support/serve-process.js';
import { openNetTestPort } from './support/net-test-port.js';

const BASE = 0x10_0000;
const SIZE = 16;

function netPair(features: Features) {
  const bytes = 1 << 20;
  const memory = new GuestMemory([{ guestAddr: BASE, size: bytes, buffer: new ArrayBuffer(bytes) }]);
  const rx = localQueue(features, BASE, memory, 'rx');
  const tx = localQueue(features, BASE + 0x4000, memory, 'tx');
  const rxAddr = BASE + 0x10000;
  const txAddr = BASE + 0x40000;
  const mergeable = (features & featureMask(VIRTIO_NET_F_MRG_RXBUF)) !== 0n;
  const rxBufferBytes = mergeable ? 256 : 1600;
  const driver = new NetDriverPair(rx.driver, tx.driver, {
    mergeable,
    rxBufferBytes,
    txSlotBytes: 1600,
    rxAddr,
    rxArea: memory.translate(rxAddr, SIZE * rxBufferBytes),
    txAddr,
    // The slots, then 8 KiB of staging for sendStaged().
    txArea: memory.translate(txAddr, SIZE * 1600 + 8192),
  });
  const device = new NetDevicePair(rx.device, tx.device, { mergeable, mtu: 1500 });
  return { memory, driver, device, rx, tx };
}

const frameOf = (length: number, seed: number): Uint8Array =>
  Uint8Array.from({ length }, (_, i) => (i * 13 + seed) & 0xff);
const BASIC = featureMask(VIRTIO_F_VERSION_1, VIRTIO_F_IN_ORDER);

/** Frames the device hands out of its transmit queue, copied. */
function transmitted(device: NetDevicePair): Uint8Array[] {
  const out: Uint8Array[] = [];
  device.transmit(SIZE, (b, at, len) => out.push(b.slice(at, at + len)));
  return out;
}

describe('virtio-net data path (device and driver on one ring)', () => {
  it.each([
    ['one buffer per frame', BASIC],
    ['mergeable receive buffers', BASIC | featureMask(VIRTIO_NET_F_MRG_RXBUF)],
  ])('frames go out and come back byte for byte (%s)', (_, features) => {
    const { driver, device } = netPair(features);
    driver.refill();
    const frames = [60, 128, 500, 1514].map((n, i) => frameOf(n, i));
    for (const f of frames) expect(driver.send(f)).toBe(true);
    driver.kickTx();
    const out = transmitted(device);
    expect(out).toEqual(frames);
    for (const f of out) expect(device.receive(f, 0, f.length)).toBe(Delivery.Delivered);
    device.rx.flush();
    const back: Uint8Array[] = [];
    while (driver.receive((b, at, len) => back.push(b.slice(at, at + len))));
    expect(back).toEqual(frames);
    if (features & featureMask(VIRTIO_NET_F_MRG_RXBUF)) expect(device.stats.rxBuffers).toBeGreaterThan(frames.length);
  });

  it('bursts: frames packed in one buffer go out as given, as far as the slots last, and come back in one call', () => {
    const { driver, device } = netPair(BASIC);
    driver.refill();
    // Twenty frames of 60 to 1500 bytes, back to back in one buffer: more than the 16 transmit slots.
    const lengths = Array.from({ length: 20 }, (_, i) => 60 + ((i * 379) % 1441));
    const offsets = lengths.map((_, i) => lengths.slice(0, i).reduce((a, b) => a + b, 0));
    const all = frameOf(offsets[19] + lengths[19], 3);
    expect(driver.sendBurst(all, offsets, lengths, 20)).toBe(SIZE);
    expect(driver.stats.txFrames).toBe(SIZE);
    driver.kickTx();
    const out = transmitted(device);
    expect(out).toEqual(lengths.slice(0, SIZE).map((n, i) => all.slice(offsets[i], offsets[i] + n)));
    device.tx.flush();
    // The slots come back at the next burst: the rest goes out.
    expect(driver.sendBurst(all, offsets.slice(SIZE), lengths.slice(SIZE), 4)).toBe(4);
    driver.kickTx();
    expect(transmitted(device)).toEqual(
      lengths.slice(SIZE).map((n, i) => all.slice(offsets[SIZE + i], offsets[SIZE + i] + n)),
    );
    for (const f of out.slice(0, 8)) expect(device.receive(f, 0, f.length)).toBe(Delivery.Delivered);
    device.rx.flush();
    const back: Uint8Array[] = [];
    expect(driver.receiveBurst((b, at, len) => back.push(b.slice(at, at + len)), 5)).toBe(5);
    expect(driver.receiveBurst((b, at, len) => back.push(b.slice(at, at + len)), 64)).toBe(3);
    expect(back).toEqual(out.slice(0, 8));
  });

  it('staged frames go out with the header written beside them, as far as the slots last; one outside the staging area is refused', () => {
    const { driver, device } = netPair(BASIC);
    expect(driver.staging.length).toBe(8192);
    const lengths = [60, 1514, 200];
    const offsets = [12, 2000, 4000];
    lengths.forEach((n, i) => {
      driver.staging.fill(0, offsets[i] - 12, offsets[i]);
      driver.staging.set(frameOf(n, i), offsets[i]);
    });
    const many = Array.from({ length: 20 }, (_, i) => i % 3);
    expect(
      driver.sendStaged(
        many.map((i) => offsets[i]),
        many.map((i) => lengths[i]),
        20,
      ),
    ).toBe(SIZE);
    driver.kickTx();
    expect(transmitted(device)).toEqual(many.slice(0, SIZE).map((i) => frameOf(lengths[i], i)));
    // A header with a flag set is sent as written: the device refuses that frame (no offload was negotiated).
    device.tx.flush();
    driver.staging[offsets[0] - 12] = 1;
    expect(driver.sendStaged([offsets[0]], [60], 1)).toBe(1);
    driver.kickTx();
    expect(transmitted(device)).toEqual([]);
    expect(device.stats.txErrors).toBe(1);
    expect(() => driver.sendStaged([4], [60], 1)).toThrow(RangeError);
    expect(() => driver.sendStaged([8100], [200], 1)).toThrow(RangeError);
    // A burst with one frame outside the staging area queues none of it, the good frame before it included.
    const sent = driver.stats.txFrames;
    expect(() => driver.sendStaged([offsets[0], 8100], [60, 200], 2)).toThrow(RangeError);
    expect(driver.stats.txFrames).toBe(sent);
    driver.kickTx();
    expect(transmitted(device)).toEqual([]);
  });

  it('a frame waits for receive buffers (MRG_RXBUF) and is delivered whole when they come', () => {
    const { driver, device } = netPair(BASIC | featureMask(VIRTIO_NET_F_MRG_RXBUF));
    const big = frameOf(1514, 9);
    expect(device.receive(big, 0, big.length)).toBe(Delivery.Wait);
    driver.refill();
    expect(device.receive(big, 0, big.length)).toBe(Delivery.Delivered);
    device.rx.flush();
    let got: Uint8Array | null = null;
    driver.receive((b, at, len) => (got = b.slice(at, at + len)));
    expect(got).toEqual(big);
  });

  /** Adds a raw transmit buffer (header bytes as given), so the device sees exactly what a bad driver wrote. */
  function rawTx(memory: GuestMemory, q: ReturnType<typeof localQueue>, bytes: Uint8Array, writable = 0): void {
    const addr = BASE + 0x80000;
    memory.translate(addr, bytes.length + writable).set(bytes);
    const sg = new ScatterList().addReadable(addr, bytes.length);
    if (writable) sg.addWritable(addr + bytes.length, writable);
    q.driver.add(sg, 0, false);
    q.driver.kickPrepare();
  }

  const header = (flags = 0, gso = 0): number[] => [flags, gso, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
  it.each([
    ['SHORT_HEADER', Uint8Array.from([0, 0, 0, 0, 0, 0]), 0],
    ['BAD_HEADER', Uint8Array.from([...header(0, 1), ...frameOf(60, 1)]), 0],
    ['BAD_HEADER', Uint8Array.from([...header(1), ...frameOf(60, 1)]), 0],
    ['RUNT_FRAME', Uint8Array.from([...header(), ...frameOf(10, 1)]), 0],
    ['FRAME_TOO_LONG', Uint8Array.from([...header(), ...frameOf(1519, 1)]), 0],
    ['WRITABLE_TX', Uint8Array.from([...header(), ...frameOf(60, 1)]), 16],
  ] as const)(
    'a transmitted buffer with %s is dropped and counted; the next frame still goes',
    (code, bytes, writable) => {
      const { memory, driver, device, tx } = netPair(BASIC);
      rawTx(memory, tx, bytes, writable);
      expect(transmitted(device)).toEqual([]);
      expect(device.lastError?.code).toBe(code);
      expect(device.stats.txErrors).toBe(1);
      expect(device.tx.error).toBeNull();
      const good = frameOf(100, 3);
      driver.send(good);
      driver.kickTx();
      expect(transmitted(device)).toEqual([good]);
    },
  );

  it('a transmit buffer that is one device-writable descriptor is dropped (WRITABLE_TX) on the burst path too', () => {
    const { memory, driver, device, tx } = netPair(BASIC);
    const addr = BASE + 0x80000;
    memory.translate(addr, 72).set([...header(), ...frameOf(60, 1)]);
    tx.driver.add(new ScatterList().addWritable(addr, 72), 0, false);
    tx.driver.kickPrepare();
    expect(transmitted(device)).toEqual([]);
    expect(device.lastError?.code).toBe('WRITABLE_TX');
    expect(device.stats.txErrors).toBe(1);
    const good = frameOf(100, 3);
    driver.send(good);
    driver.kickTx();
    expect(transmitted(device)).toEqual([good]);
  });

  /** Adds a transmit chain, each part its own device-readable descriptor (a header apart, as some drivers send). */
  function rawTxChain(memory: GuestMemory, q: ReturnType<typeof localQueue>, parts: Uint8Array[], at = 0): void {
    const sg = new ScatterList();
    let addr = BASE + 0x80000 + at;
    for (const part of parts) {
      memory.translate(addr, part.length).set(part);
      sg.addReadable(addr, part.length);
      addr += 0x100;
    }
    q.driver.add(sg, 0, false);
    q.driver.kickPrepare();
  }

  it('a frame in a chain goes out whole: header in its own descriptor, or split across two, between bursts', () => {
    const { memory, driver, device, tx } = netPair(BASIC);
    const frame = frameOf(80, 4);
    const h = Uint8Array.from(header());
    driver.send(frameOf(60, 1));
    rawTxChain(memory, tx, [h, frame]);
    rawTxChain(memory, tx, [h.subarray(0, 6), Uint8Array.from([...h.subarray(6), ...frame])], 0x1000);
    driver.send(frameOf(60, 2));
    driver.kickTx();
    expect(transmitted(device)).toEqual([frameOf(60, 1), frame, frame, frameOf(60, 2)]);
    expect(device.stats.txErrors).toBe(0);
  });

  it('a chain whose header is split across descriptors is still checked (BAD_HEADER), and dropped', () => {
    const { memory, device, tx } = netPair(BASIC);
    const bad = Uint8Array.from(header(0, 1));
    rawTxChain(memory, tx, [bad.subarray(0, 6), Uint8Array.from([...bad.subarray(6), ...frameOf(60, 1)])]);
    expect(transmitted(device)).toEqual([]);
    expect(device.lastError?.code).toBe('BAD_HEADER');
  });

  it('a frame longer than a non-mergeable receive buffer is refused; the buffer comes back empty', () => {
    const bytes = 1 << 20;
    const memory = new GuestMemory([{ guestAddr: BASE, size: bytes, buffer: new ArrayBuffer(bytes) }]);
    const rx = localQueue(BASIC, BASE, memory, 'rx');
    const tx = localQueue(BASIC, BASE + 0x4000, memory, 'tx');
    const device = new NetDevicePair(rx.device, tx.device, { mergeable: false, mtu: 1500 });
    rx.driver.add(new ScatterList().addWritable(BASE + 0x10000, 100), 7, false);
    rx.driver.kickPrepare();
    const f = frameOf(200, 1);
    expect(device.receive(f, 0, f.length)).toBe(Delivery.Dropped);
    expect(device.lastError?.code).toBe('RX_BUFFER_TOO_SMALL');
    device.rx.flush();
    expect(rx.driver.takeUsed()).toBe(7);
    expect(rx.driver.usedLen).toBe(0);
  });

  it('the driver refuses a received frame whose num_buffers is 0, and takes the next one', () => {
    const { memory, driver, device, rx } = netPair(BASIC | featureMask(VIRTIO_NET_F_MRG_RXBUF));
    driver.refill();
    // The device writes a frame, then a bad device zeroes num_buffers in the header it wrote.
    const f = frameOf(60, 2);
    device.receive(f, 0, f.length);
    device.receive(f, 0, f.length);
    device.rx.flush();
    memory.translate(BASE + 0x10000 + 10, 2).fill(0);
    const got: number[] = [];
    while (driver.receive((_, __, len) => got.push(len)));
    expect(driver.lastError?.code).toBe('BAD_NUM_BUFFERS');
    expect(got).toEqual([60]);
    expect(rx.driver.error).toBeNull();
  });
});

describe('virtio-net control queue', () => {
  function control(features: Features) {
    const bytes = 1 << 16;
    const memory = new GuestMemory([{ guestAddr: BASE, size: bytes, buffer: new ArrayBuffer(bytes) }]);
    const q = localQueue(features, BASE, memory, 'ctrl');
    const state = NetState.create(Uint8Array.from([2, 0, 0, 0, 0, 1]), 4);
    const ctrl = new NetControl(q.device, state, 4);
    const send = (command: number[], ackBytes = 1): number => {
      const area = memory.translate(BASE + 0x8000, 512);
      area.set(command);
      area[256] = 0xaa;
      const sg = new ScatterList().addReadable(BASE + 0x8000, command.length);
      if (ackBytes) sg.addWritable(BASE + 0x8000 + 256, ackBytes);
      q.driver.add(sg, 0, false);
      q.driver.kickPrepare();
      ctrl.serve();
      q.device.flush();
      q.driver.takeUsed();
      return area[256];
    };
    return { state, ctrl, send };
  }
  const ALL = BASIC | featureMask(VIRTIO_NET_F_CTRL_RX, VIRTIO_NET_F_MQ);

  it('answers RX mode, MAC table and queue-pair commands and applies them', () => {
    const { state, send } = control(ALL);
    expect(send([0, 0, 0])).toBe(VIRTIO_NET_OK);
    expect(state.promisc).toBe(false);
    expect(send([4, 0, 2, 0])).toBe(VIRTIO_NET_OK);
    expect(state.pairs).toBe(2);
    const mac = [2, 9, 9, 9, 9, 9];
    expect(send([1, 0, 1, 0, 0, 0, ...mac, 0, 0, 0, 0])).toBe(VIRTIO_NET_OK);
    const frame = Uint8Array.from([...mac, 0, 0, 0, 0, 0, 0]);
    expect(state.accepts(frame, 0)).toBe(true);
    expect(state.accepts(Uint8Array.from([2, 1, 1, 1, 1, 1]), 0)).toBe(false);
  });

  it.each([
    ['a command shorter than its header', [0]],
    ['PROMISC with 2 data bytes', [0, 0, 1, 1]],
    ['PROMISC with value 2', [0, 0, 2]],
    ['VQ_PAIRS_SET beyond the device', [4, 0, 9, 0]],
    ['VQ_PAIRS_SET of 0', [4, 0, 0, 0]],
    ['MAC_TABLE_SET claiming more entries than it carries', [1, 0, 5, 0, 0, 0, 1, 2, 3]],
    ['an unknown class', [99, 0]],
  ])('%s gets VIRTIO_NET_ERR and changes nothing', (_, command) => {
    const { state, ctrl, send } = control(ALL);
    const before = Int32Array.from(state.words);
    expect(send(command)).toBe(VIRTIO_NET_ERR);
    expect(ctrl.stats.refused).toBe(1);
    expect(ctrl.lastError).not.toBeNull();
    expect(Int32Array.from(state.words)).toEqual(before);
    // The queue goes on: a good command after it is answered.
    expect(send([0, 1, 1])).toBe(VIRTIO_NET_OK);
  });

  it('a feature the driver did not negotiate is refused (MQ without VIRTIO_NET_F_MQ)', () => {
    const { send } = control(BASIC | featureMask(VIRTIO_NET_F_CTRL_RX));
    expect(send([4, 0, 1, 0])).toBe(VIRTIO_NET_ERR);
  });
});

describe("vqkit's net driver and net device over vhost-user (two processes)", () => {
  const dir = mkdtempSync(join(tmpdir(), 'vq-net-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  const base: NetTrafficOptions = {
    ring: 'split',
    inOrder: true,
    mergeable: true,
    indirect: false,
    eventIdx: false,
    control: true,
    queueSize: 256,
    pairs: 1,
    frames: 5000,
    frameSize: 'random',
    window: 64,
    idleTimeoutMs: 20_000,
    seed: 3,
  };

  async function withDaemon(args: string[], body: (path: string, d: ServeProcess) => Promise<void>): Promise<void> {
    const path = join(dir, `n${n++}.sock`);
    const d = new ServeProcess('net', path, args);
    try {
      await d.waitFor(/listening on/);
      await body(path, d);
    } finally {
      await d.stop();
    }
  }

  const combos = (['split', 'packed'] as const).flatMap((ring) =>
    [true, false].flatMap((inOrder) => [true, false].map((mergeable) => ({ ring, inOrder, mergeable }))),
  );
  it.each(combos)(
    'loop backend: $ring, IN_ORDER $inOrder, MRG_RXBUF $mergeable, every frame back intact',
    async (c) => {
      await withDaemon(['--backend', 'loop'], async (path, d) => {
        const r = await runNetTraffic(path, { ...base, ...c, rxBufferBytes: c.mergeable ? 256 : undefined });
        expect(r.failure).toBeNull();
        expect(r.pairs[0]).toMatchObject({ sent: 5000, received: 5000, bad: 0 });
        if (c.mergeable) expect(r.pairs[0].rxBuffers).toBeGreaterThan(5000);
        expect((r.negotiated & featureMask(VIRTIO_F_IN_ORDER)) !== 0n).toBe(c.inOrder);
        expect(r.mac).toBe('52:54:00:12:34:56');
        await d.waitFor(/negotiated .*NET_MAC/);
      });
    },
  );

  const openPort = (path: string, c: Partial<NetTrafficOptions> = {}) => openNetTestPort(path, { ...base, ...c });

  it.each(combos)(
    'switch backend: 3 ports; unknown and broadcast destinations flood, learned ones go to one port ($ring, IN_ORDER $inOrder, MRG_RXBUF $mergeable)',
    async (c) => {
      const paths = [0, 1, 2].map((i) => join(dir, `sw${n}-${i}.sock`));
      n++;
      const d = new ServeProcess('net', paths[0], ['--socket', paths[1], '--socket', paths[2], '--backend', 'switch']);
      const ports: Awaited<ReturnType<typeof openPort>>[] = [];
      try {
        await d.waitFor(/net2: listening on/);
        for (const path of paths) ports.push(await openPort(path, c));
        const [a, b, cc] = ports;
        const [A, B, C] = ['02:00:00:00:00:0a', '02:00:00:00:00:0b', '02:00:00:00:00:0c'];
        const BROADCAST = 'ff:ff:ff:ff:ff:ff';
        // A to B, whom the switch does not know yet: flooded to B and C.
        a.send(B, A, 1, 1400);
        expect(await b.next()).toEqual({ tag: 1, src: A, dst: B, length: 1400 });
        expect(await cc.next()).toMatchObject({ tag: 1, src: A });
        // B answers A, whom the switch learned from frame 1: to A only.
        b.send(A, B, 2);
        expect(await a.next()).toMatchObject({ tag: 2, src: B, dst: A });
        // A broadcast from B: C's next frame is this one, so frame 2 did not reach C.
        b.send(BROADCAST, B, 3);
        expect(await cc.next()).toMatchObject({ tag: 3, src: B });
        expect(await a.next()).toMatchObject({ tag: 3, src: B });
        // A to B again, now learned: to B only; A's broadcast after it shows C never had it.
        a.send(B, A, 4);
        a.send(BROADCAST, A, 5);
        expect(await b.next()).toMatchObject({ tag: 4, dst: B });
        expect(await b.next()).toMatchObject({ tag: 5 });
        expect(await cc.next()).toMatchObject({ tag: 5, src: A });
        // C to A: learned, delivered to A.
        cc.send(A, C, 6);
        expect(await a.next()).toMatchObject({ tag: 6, src: C, dst: A });
      } finally {
        ports.forEach((p) => p.close());
        await d.stop();
      }
    },
  );

  it.each(combos.flatMap((c) => (['sink', 'copy'] as const).map((backend) => ({ ...c, backend }))))(
    '$backend backend: frames are consumed and counted, none come back ($ring, IN_ORDER $inOrder, MRG_RXBUF $mergeable)',
    async (c) => {
      await withDaemon(['--backend', c.backend], async (path, d) => {
        const p = await openPort(path, c);
        for (let i = 0; i < 200; i++) p.send('02:00:00:00:00:0b', '02:00:00:00:00:0a', i & 0xff, 60 + i);
        // Closing at once could stop the device before it takes them: wait for the transmit buffers to come back.
        await p.transmitted();
        p.close();
        expect(await d.waitFor(/pair0 stopped/)).toMatch(/tx 200 frames \(0 refused\), rx 0 frames/);
      });
    },
  );

  it.each(['split', 'packed'] as const)(
    'net-traffic --tx-only: the same frame back to back, several rings of it, every one taken by the device (%s)',
    async (ring) => {
      await withDaemon(['--backend', 'sink'], async (path, d) => {
        const r = await runNetTraffic(path, {
          ...base,
          ring,
          frameSize: 1500,
          txOnly: true,
          durationMs: 600_000,
          txFrames: 2000,
        });
        expect(r.failure).toBeNull();
        const sent = r.pairs[0].sent;
        expect(sent).toBe(2000);
        expect(r.pairs[0].received).toBe(0);
        expect(r.bytes).toBe(sent * 1500);
        expect(await d.waitFor(/pair0 stopped/)).toMatch(new RegExp(`tx ${sent} frames \\(0 refused\\), rx 0 frames`));
      });
    },
  );

  it('net-traffic --tx-only stops with a failure naming the back-end when it goes away mid-run', async () => {
    await withDaemon(['--backend', 'sink'], async (path, d) => {
      const run = runNetTraffic(path, { ...base, control: false, frameSize: 200, txOnly: true, durationMs: 60_000 });
      // Transmitting: the transmit queue (1) runs on the device.
      await d.waitFor(/queue 1 started/);
      await d.stop();
      const r = await run;
      expect(r.failure).toMatch(/back-end (stopped|at .* went away during the run)/);
      expect(r.pairs[0].received).toBe(0);
    });
  });

  it('--pcap writes every frame both ways as pcap records (Ethernet link type), whole and in order per direction', async () => {
    const file = join(dir, 'loop.pcap');
    await withDaemon(['--backend', 'loop', '--pcap', file], async (path, d) => {
      const r = await runNetTraffic(path, { ...base, frames: 300, frameSize: 200 });
      expect(r.failure).toBeNull();
      await d.stop();
    });
    const pcap = readFileSync(file);
    expect(pcap.readUInt32LE(0)).toBe(0xa1b2c3d4);
    expect([pcap.readUInt16LE(4), pcap.readUInt16LE(6)]).toEqual([2, 4]);
    expect(pcap.readUInt32LE(20)).toBe(1);
    const sent: number[] = [];
    const returned: number[] = [];
    let at = 24;
    while (at < pcap.length) {
      const [caplen, len] = [pcap.readUInt32LE(at + 8), pcap.readUInt32LE(at + 12)];
      expect([caplen, len]).toEqual([200, 200]);
      const frame = pcap.subarray(at + 16, at + 16 + caplen);
      // net-traffic sends from 02:00:00:00:00:01; the loop swaps the addresses. The frame number follows the tag.
      (frame[11] === 0x01 ? sent : returned).push(frame.readUInt32BE(16));
      at += 16 + caplen;
    }
    expect(at).toBe(pcap.length);
    const numbers = Array.from({ length: 300 }, (_, i) => i);
    expect(sent).toEqual(numbers);
    expect(returned).toEqual(numbers);
  });

  it('vq net-wire stops with a clear message and exit code 1 when one back-end goes away', async () => {
    const a = new ServeProcess('net', join(dir, `w${n}a.sock`), ['--backend', 'loop']);
    const b = new ServeProcess('net', join(dir, `w${n++}b.sock`), ['--backend', 'loop']);
    try {
      await Promise.all([a.waitFor(/listening on/), b.waitFor(/listening on/)]);
      const wire = new VqProcess(['net-wire', '--vhost-user', a.socket, '--vhost-user', b.socket]);
      await wire.waitFor(/carrying frames/);
      const exited = new Promise<number | null>((resolve) => wire.proc.once('exit', resolve));
      await b.stop();
      expect(await wire.waitFor(/stopped:/)).toMatch(/port 1: the back-end went away/);
      expect(await exited).toBe(1);
      // The other back-end saw its front-end go and is serving again.
      await a.sessionEnded(0);
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it('multiqueue: 2 pairs, each in its own worker, set through the control queue', async () => {
    await withDaemon(['--backend', 'loop', '--queues', '2'], async (path, d) => {
      const r = await runNetTraffic(path, { ...base, pairs: 2, ring: 'packed' });
      expect(r.failure).toBeNull();
      expect(r.controlOk).toBe(2);
      expect(r.pairs.map((p) => p.received)).toEqual([5000, 5000]);
      await d.waitFor(/queue pairs in use: 2/);
    });
  });

  it('receive batching (--rx-used-entries batched) is taken by vqkit’s driver: fewer used entries than buffers', async () => {
    await withDaemon(['--backend', 'loop', '--rx-used-entries', 'batched'], async (path, d) => {
      const r = await runNetTraffic(path, { ...base, frameSize: 1400, rxBufferBytes: 256 });
      expect(r.failure).toBeNull();
      expect(r.pairs[0].received).toBe(5000);
      await d.stop();
      const summary = d.lines.find((l) => /pair0 stopped/.test(l))!;
      const m = /rx (\d+) frames in (\d+) buffers.*used entries written rx (\d+)/.exec(summary)!;
      expect(Number(m[3])).toBeLessThan(Number(m[2]));
    });
  });

  it('a driver asking for more queue pairs than MQ allows is told so (VhostUserFrontendError)', async () => {
    await withDaemon(['--backend', 'loop'], async (path) => {
      const run = runNetTraffic(path, { ...base, pairs: 2 });
      await expect(run).rejects.toBeInstanceOf(VhostUserFrontendError);
      await expect(runNetTraffic(path, { ...base, pairs: 2 })).rejects.toThrow(/need VIRTIO_NET_F_MQ/);
    });
  });

  it('GET_CONFIG outside the config space gets an empty reply, SET_CONFIG is refused; the session goes on', async () => {
    await withDaemon(['--backend', 'loop'], async (path, d) => {
      const conn = new VhostUserConnection(connectUnix(path), false);
      try {
        const reply = async (req: number, payload?: Uint8Array, flags = VHOST_USER_VERSION) => {
          conn.send(req, payload, [], flags);
          const m = await conn.receive();
          if (m === null) throw new Error('disconnected');
          return m;
        };
        const offered = decodeU64(await reply(R.GET_FEATURES));
        expect(offered & bit(VHOST_USER_F_PROTOCOL_FEATURES)).not.toBe(0n);
        expect(decodeU64(await reply(R.GET_PROTOCOL_FEATURES)) & featureMask(P.CONFIG)).not.toBe(0n);
        conn.send(R.SET_PROTOCOL_FEATURES, encodeU64(featureMask(P.REPLY_ACK, P.CONFIG)));
        const config = (offset: number, size: number) =>
          encodeConfig({ offset, flags: 0, bytes: new Uint8Array(size) });
        expect((await reply(R.GET_CONFIG, config(8, 12))).payload.length).toBe(0);
        await d.waitFor(/refused GET_CONFIG: bytes 8..20 outside a 12-byte space/);
        const ack = await reply(R.SET_CONFIG, config(0, 6), VHOST_USER_VERSION | VHOST_USER_NEED_REPLY);
        expect(decodeU64({ ...ack, fds: [] })).not.toBe(0n);
        await d.waitFor(/refused SET_CONFIG: .*BAD_CONFIG.*read-only/);
        // The same connection still answers: the MAC from the whole config space.
        const whole = await reply(R.GET_CONFIG, config(0, 12));
        expect(Array.from(whole.payload.subarray(12, 18))).toEqual([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
      } finally {
        conn.close();
      }
    });
  });
});

describe('net helpers refuse what they cannot take', () => {
  it('Tap.open refuses a bad interface name before touching /dev/net/tun', () => {
    expect(() => Tap.open('')).toThrow(RangeError);
    expect(() => Tap.open('a-name-far-too-long')).toThrow(/bad interface name/);
    expect(() => Tap.open('bad/name')).toThrow(/bad interface name/);
  });

  it('FrameRing refuses a frame when full or larger than a slot, and keeps the frames it has', () => {
    const ring = FrameRing.create(2, 100, false);
    const f = frameOf(60, 1);
    expect(ring.push(f, 0, 60)).toBe(0);
    expect(ring.push(f, 0, 60)).toBe(100);
    expect(ring.push(f, 0, 60)).toBe(-1);
    ring.pop();
    expect(ring.push(frameOf(101, 2), 0, 101)).toBe(-1);
    expect(ring.count).toBe(1);
    expect(ring.bytes.slice(ring.peek(), ring.peek() + ring.peekLength)).toEqual(f);
  });

  it('FrameCopier copies each frame whole into the next cache-line-aligned buffer, round the pool, and refuses one too long', () => {
    const copier = new FrameCopier(3, 1514);
    expect(copier.stride).toBe(1536);
    const guest = new Uint8Array(8192).map((_, i) => (i * 7) & 0xff);
    const at = [copier.copy(guest, 100, 60), copier.copy(guest, 2000, 1514), copier.copy(guest, 5, 64)];
    expect(at).toEqual([0, 1536, 3072]);
    expect(copier.pool.subarray(1536, 1536 + 1514)).toEqual(guest.subarray(2000, 3514));
    expect(copier.pool.subarray(3072, 3072 + 64)).toEqual(guest.subarray(5, 69));
    expect(copier.copy(guest, 7, 60)).toBe(0);
    expect(copier.pool.subarray(0, 60)).toEqual(guest.subarray(7, 67));
    expect(() => copier.copy(guest, 0, 1537)).toThrow(RangeError);
  });
});
