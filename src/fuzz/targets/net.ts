import { NetControl } from '../../devices/net/net-control.js';
import { Delivery, NetDevicePair } from '../../devices/net/net-pair.js';
import { NetState } from '../../devices/net/net-state.js';
import { NetDriverPair } from '../../drivers/net/net-driver.js';
import {
  ETH_HEADER_SIZE,
  VIRTIO_NET_F_CTRL_MAC_ADDR,
  VIRTIO_NET_F_CTRL_RX,
  VIRTIO_NET_F_MQ,
  VIRTIO_NET_HDR_SIZE,
  maxFrameSize,
} from '../../spec/net.js';
import { featureMask } from '../../virtqueue/features.js';
import { ScatterList } from '../../virtqueue/scatter-list.js';
import type { IndirectChoice } from '../../virtqueue/types.js';
import { GuardedMemory } from '../guarded-memory.js';
import { FuzzInput } from '../input.js';
import { guarded, invariant, type FuzzTarget } from '../target.js';
import { queuePair, ringConfig } from './ring-pair.js';

/**
 * virtio-net on rings: vqkit's device (frame and header checks on transmit, receive with and without MRG_RXBUF, the
 * control queue's commands) against a guest whose transmit frames, headers and commands come from the input, and
 * vqkit's driver reassembling what the device receives. Either side's shared memory may also be overwritten. The
 * oracles: nothing escapes; every frame handed out lies in guest memory and within the MTU; a run nobody tampered
 * with delivers exactly the frames a reference model accepts, byte for byte, in order, both ways.
 */

const BASE = 0x100000;
const MEMORY = 0xc000;
const QUEUE = 8;
const MTU = 1500;
const MAX_FRAME = maxFrameSize(MTU);
const RING_AT = [0x0, 0x400, 0x800];
const INDIRECT_AT = [0x1000, 0x1200, 0x1400];
const INDIRECT_MAX = 4;
/** Transmit frames go in one 2 KiB slot per buffer in flight (token modulo the queue size), so none overwrites
 * another before the device has read it. */
const TX_AT = 0x2000;
const TX_SLOT = 0x800;
const CTRL_AT = 0x1800;
const RX_AT = 0x6000;
const RX_BUFFER = 1536;
const MAX_OPS = 64;

const enum Op {
  Tx,
  Transmit,
  Refill,
  Receive,
  DriverReceive,
  Control,
  Poke,
  Flush,
}
const OPS: readonly Op[] = [
  Op.Tx,
  Op.Tx,
  Op.Transmit,
  Op.Refill,
  Op.Receive,
  Op.DriverReceive,
  Op.Control,
  Op.Poke,
  Op.Flush,
];

/** The frame a guest's transmit buffer carries, as the reference model sees it. */
interface SentFrame {
  valid: boolean;
  token: number;
  length: number;
}

const pattern = (seed: number, i: number): number => (seed * 31 + i * 7) & 0xff;

function run(data: Uint8Array): void {
  const input = new FuzzInput(data);
  const ring = ringConfig(input);
  const mergeable = input.bool();
  const features = ring.features | featureMask(VIRTIO_NET_F_CTRL_RX, VIRTIO_NET_F_CTRL_MAC_ADDR, VIRTIO_NET_F_MQ);
  const g = new GuardedMemory(BASE, MEMORY);
  const queue = (i: number, name: string) =>
    queuePair(g, BASE + RING_AT[i], QUEUE, { ...ring, features }, name, {
      indirectArea: BASE + INDIRECT_AT[i],
      indirectMax: INDIRECT_MAX,
    });
  const rx = queue(0, 'net.rx0');
  const tx = queue(1, 'net.tx0');
  const ctrl = queue(2, 'net.ctrl');
  const pair = new NetDevicePair(rx.device, tx.device, { mergeable, mtu: MTU });
  const control = new NetControl(ctrl.device, new NetState(), 4);
  const guest = new NetDriverPair(rx.driver, tx.driver, {
    mergeable,
    rxBufferBytes: RX_BUFFER,
    txSlotBytes: 0,
    rxAddr: BASE + RX_AT,
    rxArea: g.bytes.subarray(RX_AT, RX_AT + QUEUE * RX_BUFFER),
    txAddr: BASE + TX_AT,
    txArea: g.bytes.subarray(TX_AT, TX_AT + QUEUE * TX_SLOT),
  });

  const sg = new ScatterList();
  const sent: SentFrame[] = [];
  let sentTokens = 0;
  const received: { seed: number; length: number }[] = [];
  let pendingRx: { seed: number; length: number } | null = null;
  let tampered = false;
  /** A frame dropped on receive returns its buffers empty, which the driver counts as errors. */
  let droppedRx = false;
  const frameOut = new Uint8Array(0x10000);

  /** Sent frames the device has popped so far, and the model's count of those it must refuse. */
  let popped = 0;
  let refusedByModel = 0;
  /** Frames the model refuses before the next valid one count as refused. */
  const skipRefused = (upTo: number): void => {
    while (popped < upTo && !sent[popped].valid) {
      popped++;
      refusedByModel++;
    }
  };

  const sink = (bytes: Uint8Array, offset: number, length: number): void => {
    invariant(length >= ETH_HEADER_SIZE && length <= MAX_FRAME, () => `a ${length}-byte frame handed out (MTU ${MTU})`);
    invariant(
      offset >= 0 && offset + length <= bytes.length,
      () => `frame ${offset}+${length} outside its ${bytes.length}-byte view`,
    );
    if (bytes === g.bytes) g.assertInside(g.bytes, offset, length, 'transmitted frame');
    if (tampered) return;
    skipRefused(sent.length);
    const want = sent[popped++];
    invariant(
      want !== undefined && want.valid && want.length === length,
      () => `frame of ${length} bytes handed out, model expects ${JSON.stringify(want)}`,
    );
    for (let i = 0; i < length; i++) {
      if (bytes[offset + i] !== pattern(want.token, i))
        invariant(false, () => `frame ${want.token} differs at byte ${i}`);
    }
  };

  const transmit = (max: number): void => {
    const start = popped;
    const n = guarded('pair.transmit', () => pair.transmit(max, sink))!;
    if (tampered) return;
    skipRefused(start + n);
    invariant(popped === start + n, () => `the device popped ${n} frames, the model accounts for ${popped - start}`);
    invariant(
      refusedByModel === pair.stats.txErrors,
      () => `device refused ${pair.stats.txErrors} frames, the model ${refusedByModel}`,
    );
  };

  const driverReceive = (): void => {
    for (let k = 0; k < QUEUE * 2; k++) {
      const got = guarded('guest.receive', () =>
        guest.receive((bytes, offset, length) => {
          invariant(
            offset >= 0 && offset + length <= bytes.length,
            () => `received frame ${offset}+${length} outside its view`,
          );
          if (tampered) return;
          const want = received.shift();
          invariant(
            want !== undefined && want.length === length,
            () => `received ${length} bytes, model expects ${JSON.stringify(want)}`,
          );
          for (let i = 0; i < length; i++) {
            if (bytes[offset + i] !== pattern(want.seed, i))
              invariant(false, () => `received frame differs at byte ${i}`);
          }
        }),
      );
      if (!got) return;
    }
  };

  for (let ops = 0; ops < MAX_OPS && !input.done; ops++) {
    switch (input.pick(OPS)) {
      case Op.Tx: {
        const flags = input.u8() & 0x83;
        const gso = input.u8() & 0x81;
        const length = input.u16() % 1600;
        const writable = (input.u8() & 0xf0) === 0xf0;
        const cuts = input.below(3);
        const indirect: IndirectChoice = input.pick([false, true, 'auto'] as const);
        const total = VIRTIO_NET_HDR_SIZE + length;
        const token = sentTokens;
        const at = (token % QUEUE) * TX_SLOT + input.below(TX_SLOT - total + 1);
        sg.reset();
        let from = 0;
        for (let c = 0; c < cuts && from < total; c++) {
          const piece = 1 + (input.u16() % (total - from));
          sg.addReadable(BASE + TX_AT + at + from, piece);
          from += piece;
        }
        if (from < total || total === 0) sg.addReadable(BASE + TX_AT + at + from, total - from);
        if (writable) sg.addWritable(BASE + TX_AT + at, 1);
        if (!guarded('tx.canAdd', () => tx.driver.canAdd(sg, indirect))) break;
        // Written only once it fits: the slot may still hold a frame in flight until then.
        const h = g.bytes.subarray(TX_AT + at, TX_AT + at + total);
        h.fill(0, 0, VIRTIO_NET_HDR_SIZE);
        h[0] = flags;
        h[1] = gso;
        for (let i = 0; i < length; i++) h[VIRTIO_NET_HDR_SIZE + i] = pattern(token, i);
        if (!guarded('tx.add', () => tx.driver.add(sg, token, indirect))) break;
        sentTokens++;
        const valid =
          !writable && length >= ETH_HEADER_SIZE && length <= MAX_FRAME && (flags & ~0x2) === 0 && gso === 0;
        sent.push({ valid, token, length });
        guarded('tx.kickPrepare', () => tx.driver.kickPrepare());
        break;
      }
      case Op.Transmit:
        transmit(1 + input.below(QUEUE));
        break;
      case Op.Refill:
        guarded('guest.refill', () => guest.refill());
        break;
      case Op.Receive: {
        const frame: { seed: number; length: number } = pendingRx ?? { seed: input.u8(), length: input.u16() % 2200 };
        const bytes = frameOut;
        for (let i = 0; i < frame.length; i++) bytes[i] = pattern(frame.seed, i);
        const d: Delivery | undefined = guarded('pair.receive', () => pair.receive(bytes, 0, frame.length));
        pendingRx = d === Delivery.Wait ? frame : null;
        if (d === Delivery.Delivered) received.push(frame);
        if (d === Delivery.Dropped) droppedRx = true;
        if (!tampered && d === Delivery.Dropped) {
          // Only a frame too long for the receive buffers may be dropped.
          const fits = mergeable
            ? frame.length + VIRTIO_NET_HDR_SIZE <= QUEUE * RX_BUFFER
            : frame.length + VIRTIO_NET_HDR_SIZE <= RX_BUFFER;
          invariant(!fits, () => `a ${frame.length}-byte frame dropped though the buffers hold it`);
        }
        break;
      }
      case Op.DriverReceive:
        driverReceive();
        break;
      case Op.Control: {
        const length = input.below(24);
        const ack = input.u8() !== 0xff;
        const command = input.take(length);
        g.bytes.set(command, CTRL_AT);
        g.bytes[CTRL_AT + 0x100] = 0xee;
        sg.reset().addReadable(BASE + CTRL_AT, command.length);
        if (ack) sg.addWritable(BASE + CTRL_AT + 0x100, 1);
        if (!guarded('ctrl.canAdd', () => ctrl.driver.canAdd(sg, false))) break;
        if (!guarded('ctrl.add', () => ctrl.driver.add(sg, 0, false))) break;
        guarded('ctrl.kickPrepare', () => ctrl.driver.kickPrepare());
        guarded('control.serve', () => control.serve());
        guarded('ctrl.flush', () => ctrl.device.flush());
        const back = guarded('ctrl.takeUsed', () => ctrl.driver.takeUsed());
        if (!tampered && ack && back !== undefined) {
          const a = g.bytes[CTRL_AT + 0x100];
          invariant(a === 0 || a === 1, () => `control command answered ${a}`);
        }
        break;
      }
      case Op.Poke: {
        const at = input.pick([RING_AT[0], RING_AT[1], RING_AT[2], INDIRECT_AT[1], RX_AT]);
        g.poke(at + input.below(0x200), input.take(1 + input.below(8)));
        tampered = true;
        break;
      }
      case Op.Flush:
        for (const q of [rx, tx, ctrl]) guarded('flush', () => q.device.flush());
        for (
          let t = guarded('tx.takeUsed', () => tx.driver.takeUsed());
          t !== undefined;
          t = guarded('tx.takeUsed', () => tx.driver.takeUsed())
        ) {
          invariant(t < sentTokens, () => `transmit token ${t} never added`);
        }
        break;
    }
    g.assertIntact();
  }
  // Wind down: everything sent is transmitted and everything received is read.
  transmit(QUEUE);
  for (const q of [rx, tx, ctrl]) guarded('flush', () => q.device.flush());
  driverReceive();
  g.assertIntact();
  if (!tampered) {
    for (const q of [rx, tx, ctrl]) {
      invariant(q.device.error === null, () => `honest run, device error: ${q.device.error?.message}`);
      invariant(q.driver.error === null, () => `honest run, driver error: ${q.driver.error?.message}`);
    }
    invariant(popped === sent.length, () => `honest run: ${sent.length - popped} frames never transmitted`);
    invariant(received.length === 0, () => `honest run: ${received.length} received frames never reached the driver`);
    invariant(droppedRx || guest.stats.rxErrors === 0, () => `honest run, driver refused: ${guest.lastError?.message}`);
  }
}

export const netTarget: FuzzTarget = {
  surface: 'net',
  description:
    'virtio-net device: transmit header and frame checks, receive with and without MRG_RXBUF, control-queue commands; and the driver reassembling received frames (num_buffers), on split and packed rings',
  maxLength: 1024,
  dictionary: [0, 1, 2, 12, 13, 14, 25, 26, 1500, 1514, 1518, 1519, 1530, 1536, 0x80, 0x81, 0xff],
  seeds() {
    const seeds: Uint8Array[] = [];
    const code = (op: Op): number => OPS.indexOf(op);
    for (let config = 0; config < 16; config++) {
      for (const mergeable of [0, 1]) {
        const bytes = [config * 2, 3, mergeable];
        bytes.push(code(Op.Refill));
        for (let k = 0; k < 4; k++) bytes.push(code(Op.Tx), 0, 0, 60 + k * 200, k, 0, k % 3, k % 3, k * 40, 0);
        bytes.push(
          code(Op.Transmit),
          7,
          code(Op.Receive),
          9,
          100,
          0,
          code(Op.Receive),
          3,
          0xdc,
          5,
          code(Op.DriverReceive),
        );
        bytes.push(code(Op.Control), 3, 1, 0, 0, 1, code(Op.Control), 4, 4, 0, 1, 0, code(Op.Flush));
        seeds.push(Uint8Array.from(bytes));
      }
    }
    return seeds;
  },
  run,
};
