import { VsockEndpoint, type VsockConnection } from '../../devices/vsock/endpoint.js';
import { emptyHeader, readHeader } from '../../devices/vsock/packet.js';
import { VsockDevice, VsockEvents } from '../../devices/vsock/vsock-device.js';
import { VsockDriver } from '../../drivers/vsock/vsock-driver.js';
import { VIRTIO_VSOCK_SHUTDOWN_SEND, VSOCK_HDR_SIZE } from '../../spec/vsock.js';
import { GuardedMemory } from '../guarded-memory.js';
import { FuzzInput } from '../input.js';
import { guarded, invariant, type FuzzTarget } from '../target.js';
import { queuePair, ringConfig } from './ring-pair.js';

/**
 * virtio-vsock: vqkit's device and host endpoint against vqkit's driver and guest endpoint on real rings, with
 * connections opened, written, consumed, shut down and reset from both ends by the input. The input may also write
 * the guest's transmit buffers and rings, and hand the host endpoint packets it made up (any op, type, length,
 * CIDs, ports and credit). The oracles: nothing escapes; no connection holds more unconsumed bytes than it
 * advertised; the device never waits on more replies than its back-pressure bound; and a run nobody tampered with
 * carries every stream intact - each side receives a prefix of what the other wrote, the whole of it once both have
 * pumped - with no packet refused.
 */

const BASE = 0x200000;
const MEMORY = 0x4000;
const QUEUE = 8;
const SLOT = VSOCK_HDR_SIZE + 256;
const RING_AT = [0x0, 0x400, 0x800];
const RX_AT = 0x1000;
const TX_AT = 0x2000;
const EVENT_AT = 0x3000;
const BUF_ALLOC = 2048;
const HOST_CID = 2;
const GUEST_CID = 3;
const MAX_OPS = 64;

const enum Op {
  GuestConnect,
  GuestWrite,
  HostWrite,
  Consume,
  Pump,
  Shutdown,
  HostConnect,
  Inject,
  Poke,
}
const OPS: readonly Op[] = [
  Op.GuestConnect,
  Op.GuestWrite,
  Op.GuestWrite,
  Op.HostWrite,
  Op.Consume,
  Op.Pump,
  Op.Pump,
  Op.Shutdown,
  Op.HostConnect,
  Op.Inject,
  Op.Poke,
];

/** Stream bytes are a function of the connection and the offset, so a receiver checks them without a copy. */
const streamByte = (key: number, offset: number): number => (key * 131 + offset * 7 + (offset >>> 8)) & 0xff;
const streamKey = (guestPort: number, hostPort: number): number => (guestPort * 17 + hostPort) & 0xffff;

/** One end of a connection as the model follows it: what it wrote and what it has received. */
interface End {
  conn: VsockConnection;
  key: number;
  written: number;
  received: number;
  /** Received and not yet consumed. */
  unconsumed: number;
  closed: boolean;
}

function run(data: Uint8Array): void {
  const input = new FuzzInput(data);
  const ring = ringConfig(input);
  const g = new GuardedMemory(BASE, MEMORY);
  const queue = (i: number, name: string) => queuePair(g, BASE + RING_AT[i], QUEUE, ring, name);
  const rx = queue(0, 'vsock.rx');
  const tx = queue(1, 'vsock.tx');
  const event = queue(2, 'vsock.event');
  const host = new VsockEndpoint({ name: 'host', localCid: HOST_CID, peerCid: GUEST_CID, bufAlloc: BUF_ALLOC });
  const guest = new VsockEndpoint({ name: 'guest', localCid: GUEST_CID, peerCid: HOST_CID, bufAlloc: BUF_ALLOC });
  const device = new VsockDevice(rx.device, tx.device, host);
  const events = new VsockEvents(event.device);
  const area = (at: number, slot: number) => ({
    addr: BASE + at,
    area: g.bytes.subarray(at, at + QUEUE * slot),
    slotBytes: slot,
  });
  const driver = new VsockDriver(rx.driver, tx.driver, event.driver, guest, {
    rx: area(RX_AT, SLOT),
    tx: area(TX_AT, SLOT),
    event: area(EVENT_AT, 8),
  });

  let tampered = false;
  /** A connection closed or reset early may still get packets in flight: those are refused, legitimately. */
  let closedEarly = false;
  const ends: { guest: End; host: End | null }[] = [];
  const hostEnds: End[] = [];
  const follow = (conn: VsockConnection, key: number): End => {
    const end: End = { conn, key, written: 0, received: 0, unconsumed: 0, closed: false };
    conn.onData = (b) => {
      invariant(b.length > 0, () => 'an empty data callback');
      if (!tampered) {
        for (let i = 0; i < b.length; i++) {
          if (b[i] !== streamByte(key, end.received + i))
            invariant(false, () => `stream ${key} wrong at byte ${end.received + i}`);
        }
      }
      end.received += b.length;
      end.unconsumed += b.length;
      invariant(
        end.unconsumed <= BUF_ALLOC,
        () => `stream ${key}: ${end.unconsumed} bytes unconsumed, ${BUF_ALLOC} advertised`,
      );
    };
    conn.onClose = () => (end.closed = true);
    return end;
  };
  const accept = (conn: VsockConnection, key: number, list: End[]) => {
    list.push(follow(conn, key));
    conn.accept();
  };
  host.listen(9, (c) => accept(c, streamKey(c.peerPort, c.localPort), hostEnds));
  const guestAccepted: End[] = [];
  guest.listen(20, (c) => accept(c, streamKey(c.localPort, c.peerPort), guestAccepted));

  const pump = (): void => {
    for (let round = 0; round < 64; round++) {
      let moved = guarded('driver.pump', () => driver.pump().moved)!;
      moved += guarded('device.transmit', () => device.transmit())!;
      moved += guarded('device.receive', () => device.receive())!;
      if (guarded('events.post', () => events.post())) moved++;
      for (const q of [rx, tx, event]) guarded('flush', () => q.device.flush());
      invariant(host.controlBacklog <= 256 + QUEUE, () => `${host.controlBacklog} replies wait for receive buffers`);
      if (moved === 0) return;
    }
  };
  const write = (end: End | undefined, n: number): void => {
    if (
      end === undefined ||
      end.closed ||
      end.conn.state === 'closed' ||
      end.conn.localShutdown & VIRTIO_VSOCK_SHUTDOWN_SEND
    )
      return;
    const bytes = new Uint8Array(n);
    for (let i = 0; i < n; i++) bytes[i] = streamByte(end.key, end.written + i);
    guarded('conn.write', () => end.conn.write(bytes));
    end.written += n;
  };
  const allEnds = (): End[] => [...ends.map((e) => e.guest), ...hostEnds, ...guestAccepted];

  for (let ops = 0; ops < MAX_OPS && !input.done; ops++) {
    switch (input.pick(OPS)) {
      case Op.GuestConnect: {
        const port = input.pick([9, 9, 11]);
        const conn = guarded('guest.connect', () => guest.connect(port))!;
        ends.push({ guest: follow(conn, streamKey(conn.localPort, port)), host: null });
        break;
      }
      case Op.GuestWrite:
        write(ends[input.below(Math.max(1, ends.length))]?.guest ?? guestAccepted[0], input.u16() % 3000);
        break;
      case Op.HostWrite:
        write(hostEnds[input.below(Math.max(1, hostEnds.length))], input.u16() % 3000);
        break;
      case Op.Consume: {
        const list = allEnds();
        const end = list[input.below(Math.max(1, list.length))];
        if (end === undefined || end.unconsumed === 0) break;
        const n = 1 + input.below(end.unconsumed);
        end.unconsumed -= n;
        guarded('conn.consumed', () => end.conn.consumed(n));
        break;
      }
      case Op.Pump:
        pump();
        break;
      case Op.Shutdown: {
        const list = allEnds();
        const end = list[input.below(Math.max(1, list.length))];
        const how = input.below(4);
        if (end === undefined) break;
        closedEarly = true;
        // A shutdown or reset ends a stream early: what it had not carried yet is legitimately lost.
        if (how === 3) guarded('conn.reset', () => end.conn.reset());
        else guarded('conn.shutdown', () => end.conn.shutdown(how + 1));
        end.closed = true;
        break;
      }
      case Op.HostConnect: {
        const conn = guarded('host.connect', () => host.connect(20))!;
        hostEnds.push(follow(conn, streamKey(20, conn.localPort)));
        break;
      }
      case Op.Inject: {
        const bytes = new Uint8Array(VSOCK_HDR_SIZE + 64);
        bytes.set(input.take(VSOCK_HDR_SIZE));
        const h = readHeader(bytes, 0, emptyHeader());
        // Mostly the right CIDs and a live connection's ports, so the packet reaches the state machine.
        if (input.bool()) {
          h.srcCid = GUEST_CID;
          h.dstCid = HOST_CID;
          const end = ends[input.below(Math.max(1, ends.length))]?.guest;
          if (end !== undefined && input.bool()) {
            h.srcPort = end.conn.localPort;
            h.dstPort = end.conn.peerPort;
          }
        }
        tampered = true;
        guarded('host.receive', () => host.receive(h, bytes, VSOCK_HDR_SIZE, input.below(65)));
        break;
      }
      case Op.Poke:
        g.poke(
          input.pick([TX_AT, TX_AT + SLOT, RING_AT[1], RING_AT[0]]) + input.below(SLOT),
          input.take(1 + input.below(8)),
        );
        tampered = true;
        break;
    }
    g.assertIntact();
  }

  // Wind down: both sides consume what they hold and pump until nothing is left to consume.
  for (let round = 0; round < 10_000; round++) {
    let consumed = 0;
    for (const end of allEnds()) {
      if (end.unconsumed > 0 && end.conn.state !== 'closed') {
        const n = end.unconsumed;
        end.unconsumed = 0;
        consumed += n;
        guarded('conn.consumed', () => end.conn.consumed(n));
      }
    }
    pump();
    if (consumed === 0 && allEnds().every((e) => e.unconsumed === 0 || e.conn.state === 'closed')) break;
  }
  g.assertIntact();
  if (tampered) return;
  for (const q of [rx, tx, event]) {
    invariant(q.device.error === null, () => `honest run, device error: ${q.device.error?.message}`);
    invariant(q.driver.error === null, () => `honest run, driver error: ${q.driver.error?.message}`);
  }
  invariant(
    (closedEarly || host.stats.errors === 0) && device.stats.bufferErrors === 0,
    () => `honest run, host refused: ${(host.lastError ?? device.lastError)?.message}`,
  );
  invariant(
    (closedEarly || guest.stats.errors === 0) && driver.stats.bufferErrors === 0,
    () => `honest run, guest refused: ${(guest.lastError ?? driver.lastError)?.message}`,
  );
  // Every stream nobody closed arrived whole.
  const byKey = new Map<number, End[]>();
  for (const end of allEnds()) byKey.set(end.key, [...(byKey.get(end.key) ?? []), end]);
  for (const [key, pair] of byKey) {
    if (pair.length !== 2 || pair.some((e) => e.closed)) continue;
    invariant(
      pair[0].written === pair[1].received && pair[1].written === pair[0].received,
      () =>
        `stream ${key}: wrote ${pair[0].written}/${pair[1].written}, received ${pair[1].received}/${pair[0].received}`,
    );
  }
}

export const vsockTarget: FuzzTarget = {
  surface: 'vsock',
  description:
    "virtio-vsock device and host endpoint (packet parser, connection state machine, credit flow control, back-pressure) against packets, buffers and rings from the input, with vqkit's driver on the guest side",
  maxLength: 1024,
  dictionary: [0, 1, 2, 3, 4, 5, 6, 7, 9, 11, 20, 44, 0x40000000, 2048, 0xffffffff],
  seeds() {
    const code = (op: Op): number => OPS.indexOf(op);
    const seeds: Uint8Array[] = [];
    for (let config = 0; config < 16; config++) {
      const bytes = [config * 2, 3];
      bytes.push(
        code(Op.GuestConnect),
        0,
        code(Op.Pump),
        code(Op.GuestWrite),
        0,
        0xe8,
        3,
        code(Op.HostWrite),
        0,
        0x10,
        2,
      );
      bytes.push(
        code(Op.Pump),
        code(Op.Consume),
        0,
        200,
        code(Op.HostConnect),
        code(Op.Pump),
        code(Op.Shutdown),
        1,
        1,
        code(Op.Pump),
      );
      seeds.push(Uint8Array.from(bytes));
    }
    return seeds;
  },
  run,
};
