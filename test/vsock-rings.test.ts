import { describe, expect, it } from 'vitest';
import { VsockEndpoint, type VsockConnection } from '../src/devices/vsock/endpoint.js';
import { MAX_CONTROL_BACKLOG, VsockDevice, VsockEvents } from '../src/devices/vsock/vsock-device.js';
import { VsockDriver } from '../src/drivers/vsock/vsock-driver.js';
import { GuestMemory } from '../src/memory/guest-memory.js';
import { VIRTIO_F_IN_ORDER, VIRTIO_F_VERSION_1 } from '../src/spec/features.js';
import {
  VIRTIO_VSOCK_OP_REQUEST,
  VIRTIO_VSOCK_OP_RST,
  VIRTIO_VSOCK_OP_RW,
  VIRTIO_VSOCK_TYPE_STREAM,
  VSOCK_HDR_SIZE,
} from '../src/spec/vsock.js';
import { emptyHeader, writeHeader, type VsockHeader } from '../src/devices/vsock/packet.js';
import { featureMask } from '../src/virtqueue/features.js';
import { ScatterList } from '../src/virtqueue/scatter-list.js';
import { localQueue } from './support/local-queue.js';
import { SIBLING_INBOX_PACKETS, SiblingPort, SiblingRouter } from '../src/devices/vsock/sibling-router.js';

// vqkit's vsock device and driver on local rings in one memory: the ring side of both, and what the device does with
// buffers no correct driver gives.

const BASE = 0x10_0000;
const SLOT = VSOCK_HDR_SIZE + 4096;

function rings(cid = 3, siblings: { router: SiblingRouter; groups: string[]; seqpacket?: boolean } | null = null) {
  const bytes = 4 << 20;
  const memory = new GuestMemory([{ guestAddr: BASE, size: bytes, buffer: new ArrayBuffer(bytes) }]);
  const features = featureMask(VIRTIO_F_VERSION_1, VIRTIO_F_IN_ORDER);
  const [rx, tx, event] = ['rx', 'tx', 'event'].map((name, i) => localQueue(features, BASE + i * 0x4000, memory, name));
  const area = (i: number, slotBytes: number) => {
    const addr = BASE + 0x10000 + i * 0x100000;
    return { addr, area: memory.translate(addr, 16 * slotBytes), slotBytes };
  };
  const host = new VsockEndpoint({ name: 'host', localCid: 2, peerCid: cid });
  const guest = new VsockEndpoint({
    name: 'guest',
    localCid: cid,
    peerCid: 2,
    siblings: siblings !== null,
    seqpacket: siblings?.seqpacket,
  });
  const port = new SiblingPort(cid, siblings?.groups ?? [], () => {});
  siblings?.router.attach(port);
  const device = new VsockDevice(
    rx.device,
    tx.device,
    host,
    siblings === null ? null : { router: siblings.router, port, seqpacket: siblings.seqpacket === true },
  );
  const events = new VsockEvents(event.device);
  const driver = new VsockDriver(rx.driver, tx.driver, event.driver, guest, {
    rx: area(0, SLOT),
    tx: area(1, SLOT),
    event: area(2, 8),
  });
  /** Both sides until nothing moves. */
  const run = (): void => {
    for (let i = 0; i < 10_000; i++) {
      const moved = driver.pump().moved + device.transmit() + device.receive() + (events.post() ? 1 : 0);
      [rx, tx, event].forEach((q) => q.device.flush());
      if (moved === 0 && driver.pump().moved === 0) return;
    }
    throw new Error('still moving after 10000 rounds');
  };
  return { memory, rx, tx, event, host, guest, device, events, driver, run, port };
}

/** Adds a raw buffer to a queue, as a driver that breaks the rules would. */
function raw(q: ReturnType<typeof rings>['tx'], memory: GuestMemory, readable: Uint8Array, writable = 0): void {
  const addr = BASE + 0x380000;
  memory.translate(addr, readable.length + writable).set(readable);
  const sg = new ScatterList();
  if (readable.length > 0) sg.addReadable(addr, readable.length);
  if (writable > 0) sg.addWritable(addr + readable.length, writable);
  q.driver.add(sg, 99, false);
  q.driver.kickPrepare();
}

describe('vsock device and driver on local rings', () => {
  it('carry a stream both ways and a transport reset; the driver ends its connections on the reset', () => {
    const r = rings();
    let server!: VsockConnection;
    r.host.listen(9, (c) => {
      server = c;
      c.accept();
    });
    const client = r.guest.connect(9);
    r.run();
    expect(client.state).toBe('established');
    const got: number[] = [];
    server.onData = (b) => {
      got.push(...b);
      server.consumed(b.length);
    };
    const data = Uint8Array.from({ length: 50_000 }, (_, i) => (i * 7) & 0xff);
    client.write(data);
    r.run();
    expect(Uint8Array.from(got)).toEqual(data);
    let why = '';
    client.onClose = (w) => (why = w);
    r.events.postTransportReset();
    r.run();
    expect(r.driver.stats.events).toBe(1);
    expect(why).toBe('reset by peer');
    expect(r.guest.connections).toBe(0);
  });

  it.each([
    ['a transmit buffer shorter than a header', 'SHORT_HEADER', 10, 0],
    ['a transmit buffer with a device-writable part', 'BAD_BUFFER', VSOCK_HDR_SIZE, 16],
  ] as const)('%s is refused (%s) and completed; the next packet goes', (_, code, readable, writable) => {
    const r = rings();
    raw(r.tx, r.memory, new Uint8Array(readable), writable);
    expect(r.device.transmit()).toBe(1);
    expect(r.device.lastError?.code).toBe(code);
    r.tx.device.flush();
    expect(r.tx.driver.takeUsed()).toBe(99);
    // A well-formed connection still works.
    r.host.listen(1, (c) => c.accept());
    const c = r.guest.connect(1);
    r.run();
    expect(c.state).toBe('established');
  });

  it('a transmit buffer larger than a header and 64 KiB of data is refused (BAD_LENGTH) and completed', () => {
    const r = rings();
    raw(r.tx, r.memory, new Uint8Array(VSOCK_HDR_SIZE + 64 * 1024 + 1));
    expect(r.device.transmit()).toBe(1);
    expect(r.device.lastError?.code).toBe('BAD_LENGTH');
    expect(r.host.stats.packetsIn).toBe(0);
  });

  it('an oversized RW on an established stream resets that stream (no hole in it); the other is untouched', () => {
    const r = rings();
    const servers: VsockConnection[] = [];
    r.host.listen(9, (c) => {
      servers.push(c);
      c.accept();
    });
    const victim = r.guest.connect(9);
    const bystander = r.guest.connect(9);
    r.run();
    expect([victim.state, bystander.state]).toEqual(['established', 'established']);
    // A packet naming the victim's ports, longer than any transmit packet may be.
    const packet = new Uint8Array(VSOCK_HDR_SIZE + 64 * 1024 + 1);
    writeHeader(packet, 0, {
      ...emptyHeader(),
      srcCid: 3,
      dstCid: 2,
      srcPort: victim.localPort,
      dstPort: victim.peerPort,
      len: 64 * 1024 + 1,
      type: VIRTIO_VSOCK_TYPE_STREAM,
      op: VIRTIO_VSOCK_OP_RW,
    });
    // (Put on the driver's transmit queue by hand: the device alone takes it.)
    raw(r.tx, r.memory, packet);
    const resetsBefore = r.host.stats.resetsSent;
    expect(r.device.transmit()).toBe(1);
    expect(r.device.lastError?.code).toBe('BAD_LENGTH');
    expect(r.host.lastError?.code).toBe('BAD_LENGTH');
    // The host's end of the victim is closed and an RST is on its way to the guest; the other stream is untouched.
    expect([servers[0].state, servers[1].state]).toEqual(['closed', 'established']);
    expect(r.host.pending).toBe(true);
    const out = emptyHeader();
    expect(r.host.next(out, 4096)).toBe(true);
    expect([out.op, out.srcPort, out.dstPort]).toEqual([VIRTIO_VSOCK_OP_RST, victim.peerPort, victim.localPort]);
    expect(r.host.stats.resetsSent).toBe(resetsBefore + 1);
  });

  it('a guest that floods REQUESTs and never reads its receive queue is held back, not buffered without bound', () => {
    const r = rings();
    const conns = Array.from({ length: 2000 }, (_, i) => r.guest.connect(1000 + i));
    // The device takes transmit packets but the guest gives no receive buffers a chance: only transmit runs.
    for (let i = 0; i < 5000; i++) {
      r.driver.pump();
      r.device.transmit();
      r.tx.device.flush();
    }
    expect(r.host.controlBacklog).toBe(MAX_CONTROL_BACKLOG);
    expect(r.device.transmitBlocked).toBe(true);
    expect(r.host.stats.packetsIn).toBe(MAX_CONTROL_BACKLOG);
    // Once the guest reads, every REQUEST gets its RST: nothing was dropped.
    r.run();
    expect(r.host.controlBacklog).toBe(0);
    expect(r.host.stats.packetsIn).toBe(2000);
    expect(conns.every((c) => c.state === 'closed')).toBe(true);
  });

  it('an event buffer too small for an event is refused (BAD_BUFFER); the reset goes in the next one', () => {
    const r = rings();
    raw(r.event, r.memory, new Uint8Array(0), 2);
    r.events.postTransportReset();
    expect(r.events.lastError?.code).toBe('BAD_BUFFER');
    expect(r.events.pending).toBe(true);
    r.run();
    expect(r.events.posted).toBe(1);
    // The driver got the refused buffer back empty, and says so, then the event.
    expect(r.driver.lastError?.code).toBe('SHORT_HEADER');
    expect(r.driver.stats.bufferErrors).toBe(1);
    expect(r.driver.stats.events).toBe(1);
  });

  it('the driver refuses a receive completion shorter than a header (SHORT_HEADER) and takes the next packet', () => {
    const r = rings();
    r.host.listen(1, (c) => c.accept());
    r.driver.pump();
    // A device that completes a receive buffer with 10 bytes.
    const chain = r.rx.device.pop()!;
    r.rx.device.complete(chain, 10);
    r.rx.device.flush();
    const c = r.guest.connect(1);
    r.run();
    expect(r.driver.lastError?.code).toBe('SHORT_HEADER');
    expect(r.driver.stats.bufferErrors).toBe(1);
    expect(c.state).toBe('established');
  });

  it('a receive buffer too small for a header is refused and completed empty; the packet goes in the next one', () => {
    const r = rings();
    r.host.listen(1, (c) => c.accept());
    // The first receive buffer the device sees holds 20 bytes; the driver's own come after it.
    raw(r.rx, r.memory, new Uint8Array(0), 20);
    const c = r.guest.connect(1);
    r.run();
    expect(r.device.lastError?.code).toBe('BAD_BUFFER');
    expect(r.device.stats.bufferErrors).toBe(1);
    expect(c.state).toBe('established');
  });
});

/** A header-only packet on the guest's transmit queue, as a guest that breaks the rules would send it. */
function sendHeader(r: ReturnType<typeof rings>, fields: Partial<VsockHeader>): void {
  const p = new Uint8Array(VSOCK_HDR_SIZE);
  writeHeader(p, 0, { ...emptyHeader(), ...fields });
  raw(r.tx, r.memory, p);
}

describe('vsock devices of two guests on local rings, joined by the sibling router', () => {
  function pair(seqpacket = false) {
    const router = new SiblingRouter();
    const a = rings(3, { router, groups: ['g'], seqpacket });
    const b = rings(4, { router, groups: ['g'], seqpacket });
    const run = (): void => {
      for (let i = 0; i < 10_000; i++) {
        let moved = 0;
        for (const r of [a, b]) {
          moved += r.driver.pump().moved + r.device.transmit() + r.device.receive();
          [r.rx, r.tx].forEach((q) => q.device.flush());
        }
        if (moved === 0 && a.driver.pump().moved + b.driver.pump().moved === 0) return;
      }
      throw new Error('still moving after 10000 rounds');
    };
    return { router, a, b, run };
  }

  it('a stream from one guest to another, through the router and receive buffers of 4 KiB', () => {
    const { a, b, run } = pair();
    let server!: VsockConnection;
    b.guest.listen(7000, (c) => {
      server = c;
      c.accept();
    });
    const client = a.guest.connect(7000, 4);
    run();
    expect([client.state, server.peerCid]).toEqual(['established', 3]);
    const got: number[] = [];
    server.onData = (x) => {
      got.push(...x);
      server.consumed(x.length);
    };
    const data = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 13) & 0xff);
    client.write(data);
    run();
    expect(Uint8Array.from(got)).toEqual(data);
  });

  it('a packet for another guest that claims a CID not its own is refused (BAD_CID), and nothing is forwarded', () => {
    const { a, b } = pair();
    sendHeader(a, { srcCid: 5, dstCid: 4, srcPort: 1, dstPort: 7000, op: VIRTIO_VSOCK_OP_REQUEST });
    expect(a.device.transmit()).toBe(1);
    expect(a.device.lastError?.code).toBe('BAD_CID');
    expect(b.port.inbox.count).toBe(0);
  });

  it('a seqpacket packet to another guest without VIRTIO_VSOCK_F_SEQPACKET is refused (BAD_TYPE)', () => {
    const { a, b } = pair(false);
    sendHeader(a, { srcCid: 3, dstCid: 4, srcPort: 1, dstPort: 7000, op: VIRTIO_VSOCK_OP_REQUEST, type: 2 });
    expect(a.device.transmit()).toBe(1);
    expect(a.device.lastError?.code).toBe('BAD_TYPE');
    expect(b.port.inbox.count).toBe(0);
  });

  it("a receive buffer with room for a header only, while a sibling's data waits, is refused (BAD_BUFFER); the data goes in the next", () => {
    const { b } = pair();
    // B's first receive buffer holds a header and nothing more; its driver's own come after it.
    raw(b.rx, b.memory, new Uint8Array(0), VSOCK_HDR_SIZE);
    const packet = new Uint8Array(VSOCK_HDR_SIZE + 3);
    writeHeader(packet, 0, { ...emptyHeader(), srcCid: 3, dstCid: 4, op: VIRTIO_VSOCK_OP_RW, len: 3 });
    packet.set([1, 2, 3], VSOCK_HDR_SIZE);
    b.port.inbox.push(packet);
    expect(b.device.receive()).toBe(0);
    expect(b.device.lastError?.code).toBe('BAD_BUFFER');
    expect(b.device.lastError?.message).toMatch(/no room for data/);
    b.driver.pump();
    expect(b.device.receive()).toBe(1);
    expect([b.port.inbox.count, b.device.stats.rxPackets]).toEqual([0, 1]);
  });

  it('a guest that floods REQUESTs to a CID it cannot reach and never reads is held back, then gets every RST', () => {
    const { a, run } = pair();
    const conns = Array.from({ length: SIBLING_INBOX_PACKETS + 2000 }, (_, i) => a.guest.connect(i, 99));
    for (let i = 0; i < 40_000 && !a.device.transmitBlocked; i++) {
      a.driver.pump();
      a.device.transmit();
      a.tx.device.flush();
    }
    expect(a.device.transmitBlocked).toBe(true);
    expect(a.port.inbox.count).toBe(SIBLING_INBOX_PACKETS);
    run();
    expect(a.port.inbox.count).toBe(0);
    expect(conns.every((c) => c.state === 'closed')).toBe(true);
  });
});
