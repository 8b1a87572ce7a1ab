import {
  VIRTIO_F_EVENT_IDX,
  VIRTIO_F_INDIRECT_DESC,
  VIRTIO_F_IN_ORDER,
  VIRTIO_F_RING_PACKED,
  VIRTIO_F_VERSION_1,
} from '../../spec/features.js';
import { BufferBurst } from '../../virtqueue/buffer-burst.js';
import type { Chain } from '../../virtqueue/chain.js';
import { featureMask, type Features } from '../../virtqueue/features.js';
import { createDeviceQueue, createDriverQueue, packedRingLayout, splitRingLayout } from '../../virtqueue/index.js';
import { ScatterList } from '../../virtqueue/scatter-list.js';
import type { IndirectChoice, RingAddresses } from '../../virtqueue/types.js';
import { GuardedMemory } from '../guarded-memory.js';
import { FuzzInput } from '../input.js';
import { FuzzFailure, guarded, invariant } from '../target.js';

/**
 * One ring in guarded guest memory with vqkit's driver on one side and vqkit's device on the other, driven by a
 * fuzz input as a program of operations. One side is honest; the other's shared memory is also written by the input
 * (`hostile`), as a buggy or malicious peer would. The oracles:
 * - neither side ever throws (peer input breaks a queue with a VirtqueueError, it never escapes);
 * - every chain the device pops lies inside guest memory, visits no more descriptors than the ring and its
 *   indirect tables hold, and no buffer is in flight twice;
 * - the driver hands back only buffers it added, each once, with a length at most their writable bytes;
 * - nothing outside guest memory is written;
 * - a run nobody tampered with ends with every buffer back, with the exact lengths written, and no error.
 */

const BASE = 0x10000;
const MEMORY = 0x4000;
const INDIRECT_AT = 0x1000;
const INDIRECT_MAX = 8;
const DATA_AT = 0x2000;
const DATA_BYTES = MEMORY - DATA_AT;
const SPLIT_SIZES = [1, 2, 4, 8, 16, 32];
const PACKED_SIZES = [1, 2, 3, 4, 5, 8, 16, 31];
/** A run is at most this many operations (the input's length bounds it too). */
const MAX_OPS = 96;
/** A chain never spans more segments than the ring plus the largest indirect table guest memory can hold. */
const MAX_SEGMENTS = (size: number): number => size + MEMORY / 16;

export type HostileSide = 'driver' | 'device';

const enum Op {
  Add,
  Kick,
  Poke,
  Poke16,
  Pop,
  Complete,
  Flush,
  Take,
  Notify,
}

/** Which operations each byte value means, weighted towards the hostile side's writes. */
const OPS: Record<HostileSide, readonly Op[]> = {
  driver: [
    Op.Add,
    Op.Add,
    Op.Kick,
    Op.Poke,
    Op.Poke,
    Op.Poke16,
    Op.Poke16,
    Op.Pop,
    Op.Pop,
    Op.Complete,
    Op.Flush,
    Op.Take,
    Op.Notify,
  ],
  device: [
    Op.Add,
    Op.Add,
    Op.Kick,
    Op.Pop,
    Op.Complete,
    Op.Flush,
    Op.Poke,
    Op.Poke16,
    Op.Poke16,
    Op.Take,
    Op.Take,
    Op.Notify,
  ],
};

interface Areas {
  /** [offset, length] in guest memory of what the hostile side may write. */
  writable: [number, number][];
}

interface Added {
  writable: number;
  readable: number;
}

/** The honest driver's record of what it added and got back. */
class DriverBook {
  readonly added: Added[] = [];
  readonly back: boolean[] = [];
  /** Lengths the device wrote, by the position the buffer was popped in (equal to the order added when honest). */
  readonly written: number[] = [];
}

/** A ring's configuration, drawn from an input's first bytes. */
export interface RingConfig {
  features: Features;
  size: number;
  perBuffer: boolean;
  readOnlyIndirect: boolean;
}

export function ringConfig(input: FuzzInput): RingConfig {
  const c = input.u8();
  const packed = (c & 1) !== 0;
  const bits = [VIRTIO_F_VERSION_1];
  if (packed) bits.push(VIRTIO_F_RING_PACKED);
  if (c & 2) bits.push(VIRTIO_F_IN_ORDER);
  if (c & 4) bits.push(VIRTIO_F_INDIRECT_DESC);
  if (c & 8) bits.push(VIRTIO_F_EVENT_IDX);
  const size = input.pick(packed ? PACKED_SIZES : SPLIT_SIZES);
  return { features: featureMask(...bits), size, perBuffer: (c & 16) !== 0, readOnlyIndirect: (c & 32) !== 0 };
}

/** vqkit's driver and device on one ring laid out at guest address `at` of `g`, as the targets build each queue. */
export function queuePair(
  g: GuardedMemory,
  at: number,
  size: number,
  ring: RingConfig,
  name: string,
  o: { indirectArea?: number; indirectMax?: number; readOnlyIndirectTables?: boolean } = {},
) {
  const packed = (ring.features & featureMask(VIRTIO_F_RING_PACKED)) !== 0n;
  const layout = packed ? packedRingLayout(at, size) : splitRingLayout(at, size);
  const config = { name, size, features: ring.features, memory: g.memory, addresses: layout.addresses };
  const usedEntries = ring.perBuffer ? ('per-buffer' as const) : ('batched' as const);
  return {
    addresses: layout.addresses,
    driver: guarded('driver constructor', () =>
      createDriverQueue<number>({ ...config, indirectArea: o.indirectArea, indirectMax: o.indirectMax }),
    )!,
    device: guarded('device constructor', () =>
      createDeviceQueue({ ...config, usedEntries, readOnlyIndirectTables: o.readOnlyIndirectTables }),
    )!,
  };
}

/** A buffer the device popped (as a chain or in a burst) and has not completed. */
interface LiveBuffer {
  id: number;
  seq: number;
  writableLength: number;
  /** Writes `written` bytes into it and completes it. */
  complete(written: number): void;
}

export function runRingProgram(data: Uint8Array, hostile: HostileSide): void {
  const input = new FuzzInput(data);
  const ring = ringConfig(input);
  const { features, size, readOnlyIndirect } = ring;
  const packed = (features & featureMask(VIRTIO_F_RING_PACKED)) !== 0n;
  const inOrder = (features & featureMask(VIRTIO_F_IN_ORDER)) !== 0n;
  const g = new GuardedMemory(BASE, MEMORY);
  const { addresses, driver, device } = queuePair(g, BASE, size, ring, 'fuzz.0', {
    indirectArea: BASE + INDIRECT_AT,
    indirectMax: INDIRECT_MAX,
    readOnlyIndirectTables: readOnlyIndirect,
  });
  const areas = hostileAreas(hostile, packed, size, addresses);
  const book = new DriverBook();
  const live: LiveBuffer[] = [];
  const liveIds = new Set<number>();
  const sg = new ScatterList();
  // What addBurst() reads and takeUsedBurst() writes (at most 4 buffers in, a ring's worth out).
  const burstTokens = new Array<number>(Math.max(size, 4)).fill(0);
  const burstLens = new Uint32Array(Math.max(size, 4));
  const burstAddrs = new Float64Array(4);
  let tampered = false;

  const checkChain = (chain: Chain): void => {
    invariant(
      chain.descCount >= 1 && chain.descCount <= size,
      () => `chain ${chain.id} takes ${chain.descCount} descriptors of ${size}`,
    );
    if (chain.segCount > MAX_SEGMENTS(size)) {
      throw new FuzzFailure('unbounded', `chain ${chain.id} has ${chain.segCount} segments`);
    }
    for (let i = 0; i < chain.segCount; i++)
      g.assertInside(chain.bytes[i], chain.offsets[i], chain.lengths[i], `segment ${i} of chain ${chain.id}`);
    // A packed device under IN_ORDER knows buffers by their place in the ring and only echoes the Buffer ID back
    // (the driver's own label): a driver that repeats one confuses itself, not the device.
    if (!(packed && inOrder))
      invariant(!liveIds.has(chain.id), () => `buffer ${chain.id} popped while already in flight`);
    invariant(chain.id >= 0 && chain.id < size, () => `buffer id ${chain.id} outside a ring of ${size}`);
  };

  /** A buffer the device popped is the one the driver added at its place in available order. */
  const checkAdded = (seq: number, readable: number, writable: number): void => {
    if (tampered) return;
    const want = book.added[seq];
    invariant(
      want !== undefined && want.readable === readable && want.writable === writable,
      () => `buffer #${seq} is ${readable}/${writable} bytes, added as ${want?.readable}/${want?.writable}`,
    );
  };

  const pop = (n: number): void => {
    for (let k = 0; k < n; k++) {
      const chain = guarded('device.pop', () => device.pop());
      if (chain === null || chain === undefined) return;
      checkChain(chain);
      checkAdded(chain.seq, chain.readableLength, chain.writableLength);
      live.push({
        id: chain.id,
        seq: chain.seq,
        writableLength: chain.writableLength,
        complete: (written) => {
          guarded('chain.write', () => chain.write(FILL.subarray(0, written)));
          guarded('device.complete', () => device.complete(chain, written));
        },
      });
      liveIds.add(chain.id);
    }
  };

  /** One popBurst() of up to `max` one-descriptor buffers (a burst of its own, so each completes when picked). */
  const popBurst = (max: number): void => {
    const burst = new BufferBurst(size);
    const n = guarded('device.popBurst', () => device.popBurst(burst, max)) ?? 0;
    invariant(n <= max && n === burst.count, () => `popBurst took ${n} buffers (count ${burst.count}), max ${max}`);
    for (let i = 0; i < n; i++) {
      const id = burst.ids[i];
      const len = burst.lengths[i];
      g.assertInside(burst.bytes[i], burst.offsets[i], len, `buffer ${i} of a burst`);
      invariant(id < size, () => `buffer id ${id} outside a ring of ${size}`);
      if (!(packed && inOrder)) invariant(!liveIds.has(id), () => `buffer ${id} popped while already in flight`);
      const writable = burst.writableLength(i);
      checkAdded(burst.firstSeq + i, writable === 0 ? len : 0, writable);
      live.push({
        id,
        seq: burst.firstSeq + i,
        writableLength: writable,
        complete: (w) => {
          burst.bytes[i].fill(0x5a, burst.offsets[i], burst.offsets[i] + w);
          const written = new Uint32Array(n);
          written[i] = w;
          guarded('device.completeBurst', () => device.completeBurst(burst, i, 1, written));
        },
      });
      liveIds.add(id);
    }
  };

  const complete = (pick: number, written: number): void => {
    if (live.length === 0) return;
    const i = inOrder ? 0 : pick % live.length;
    const buffer = live[i];
    const n = written % (buffer.writableLength + 1);
    book.written[buffer.seq] = n;
    live.splice(i, 1);
    liveIds.delete(buffer.id);
    buffer.complete(n);
  };

  const takenBack = (token: number, usedLen: number): void => {
    const added = book.added[token];
    invariant(added !== undefined, () => `the driver returned token ${token}, never added`);
    invariant(!book.back[token], () => `the driver returned buffer ${token} twice`);
    invariant(usedLen <= added.writable, () => `used length ${usedLen} beyond ${added.writable} writable bytes`);
    if (!tampered)
      invariant(
        usedLen === book.written[token],
        () => `buffer ${token}: used length ${usedLen}, device wrote ${book.written[token]}`,
      );
    book.back[token] = true;
  };

  const take = (): void => {
    for (let k = 0; k <= size; k++) {
      const token = guarded('driver.takeUsed', () => driver.takeUsed());
      if (token === undefined) return;
      takenBack(token, driver.usedLen);
    }
  };

  const takeBursts = (max: number): void => {
    for (let k = 0; k <= size; k++) {
      const n = guarded('driver.takeUsedBurst', () => driver.takeUsedBurst(burstTokens, burstLens, max)) ?? 0;
      invariant(n <= max, () => `takeUsedBurst handed back ${n} buffers, asked for at most ${max}`);
      if (n === 0) return;
      for (let i = 0; i < n; i++) takenBack(burstTokens[i], burstLens[i]);
    }
  };

  /** One-segment buffers in one addBurst(): readable on a queue that only carries readable buffers. */
  const addBurst = (n: number): void => {
    const writable = !readOnlyIndirect && input.below(2) === 1;
    for (let i = 0; i < n; i++) {
      burstLens[i] = input.u8();
      burstAddrs[i] = BASE + DATA_AT + (input.u16() % (DATA_BYTES - 256));
      burstTokens[i] = book.added.length + i;
    }
    const added =
      guarded('driver.addBurst', () => driver.addBurst(burstAddrs, burstLens, burstTokens, n, writable)) ?? 0;
    invariant(added <= n, () => `addBurst added ${added} buffers of ${n}`);
    for (let i = 0; i < added; i++) {
      book.added.push({ readable: writable ? 0 : burstLens[i], writable: writable ? burstLens[i] : 0 });
    }
  };

  for (let ops = 0; ops < MAX_OPS && !input.done; ops++) {
    switch (input.pick(OPS[hostile])) {
      case Op.Add: {
        if (input.below(4) === 0) {
          addBurst(1 + input.below(4));
          break;
        }
        // A queue that reads indirect tables as device-readable (a net transmit queue) only carries readable buffers.
        const readable = input.below(3) || (readOnlyIndirect ? 1 : 0);
        const writable = readOnlyIndirect ? 0 : input.below(3) || (readable === 0 ? 1 : 0);
        sg.reset();
        let r = 0;
        let w = 0;
        for (let s = 0; s < readable + writable; s++) {
          const len = input.u8();
          const addr = BASE + DATA_AT + (input.u16() % (DATA_BYTES - 256));
          if (s < readable) {
            sg.addReadable(addr, len);
            r += len;
          } else {
            sg.addWritable(addr, len);
            w += len;
          }
        }
        const indirect: IndirectChoice = input.pick([false, true, 'auto'] as const);
        if (!guarded('driver.canAdd', () => driver.canAdd(sg, indirect))) break;
        const token = book.added.length;
        if (guarded('driver.add', () => driver.add(sg, token, indirect))) book.added.push({ readable: r, writable: w });
        break;
      }
      case Op.Kick:
        guarded('driver.kickPrepare', () => driver.kickPrepare());
        break;
      case Op.Poke: {
        const [at, len] = input.pick(areas.writable);
        g.poke(at + input.below(len), input.take(1 + input.below(8)));
        tampered = true;
        break;
      }
      case Op.Poke16: {
        const [at, len] = input.pick(areas.writable);
        const off = at + 2 * input.below(len >> 1);
        const v = input.u16();
        g.bytes[off] = v & 0xff;
        g.bytes[off + 1] = v >> 8;
        tampered = true;
        break;
      }
      case Op.Pop:
        if (input.below(3) === 0) popBurst(1 + input.below(4));
        else pop(1 + input.below(4));
        break;
      case Op.Complete: {
        const n = 1 + input.below(4);
        for (let k = 0; k < n; k++) complete(input.u8(), input.u16());
        break;
      }
      case Op.Flush:
        guarded('device.flush', () => device.flush());
        break;
      case Op.Take:
        if (input.below(2) === 0) take();
        else takeBursts(1 + input.below(size));
        break;
      case Op.Notify: {
        const which = input.below(5);
        guarded('notifications', () => {
          if (which === 0) device.enableNotifications();
          else if (which === 1) device.disableNotifications();
          else if (which === 2) driver.enableInterrupts();
          else if (which === 3) driver.disableInterrupts();
          else device.hasAvailable() && driver.hasUsed();
        });
        break;
      }
    }
    g.assertIntact();
  }

  // Wind down as an honest pair would: publish, consume, complete, reclaim.
  guarded('driver.kickPrepare', () => driver.kickPrepare());
  pop(size + 1);
  while (live.length > 0) complete(0, live[0].writableLength);
  guarded('device.flush', () => device.flush());
  take();
  g.assertIntact();
  if (!tampered) {
    invariant(device.error === null, () => `honest run, device error: ${device.error?.message}`);
    invariant(driver.error === null, () => `honest run, driver error: ${driver.error?.message}`);
    const missing = book.added.findIndex((_, t) => !book.back[t]);
    invariant(missing < 0, () => `honest run: buffer ${missing} of ${book.added.length} never came back`);
  }
}

const FILL = new Uint8Array(0x10000).fill(0x5a);

/** What a hostile peer of each side may write: the areas the spec gives it, and the indirect tables (driver). */
function hostileAreas(hostile: HostileSide, packed: boolean, size: number, a: RingAddresses): Areas {
  const off = (addr: number): number => addr - BASE;
  if (packed) {
    const ring: [number, number] = [off(a.desc), 16 * size];
    return hostile === 'driver'
      ? { writable: [ring, ring, [off(a.driver), 4], [INDIRECT_AT, size * INDIRECT_MAX * 16]] }
      : { writable: [ring, ring, [off(a.device), 4]] };
  }
  return hostile === 'driver'
    ? {
        writable: [
          [off(a.desc), 16 * size],
          [off(a.driver), 6 + 2 * size],
          [INDIRECT_AT, size * INDIRECT_MAX * 16],
        ],
      }
    : { writable: [[off(a.device), 6 + 8 * size]] };
}

/** Dictionary for both ring surfaces: sizes, flags, wrap bits and the indices around them. */
export const RING_DICTIONARY: readonly number[] = [
  0, 1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 0x80, 0x8000, 0x8080, 0x7fff, 0xffff, 0x10000, 0x12000, 0x11000, 0xfffffff0,
];

/** Seeds: honest programs in every configuration, so the mutator starts from rings that work. */
export function ringSeeds(hostile: HostileSide): Uint8Array[] {
  const ops = OPS[hostile];
  const code = (op: Op): number => ops.indexOf(op);
  const seeds: Uint8Array[] = [];
  for (let config = 0; config < 64; config++) {
    for (const sizeIndex of [1, 3, 5]) {
      const bytes: number[] = [config, sizeIndex];
      for (let k = 0; k < 6; k++) {
        // add: 1 readable + 1 writable of 64 bytes each, indirect per k.
        bytes.push(code(Op.Add), 1, 1, 64, k * 8, 0, 64, k * 8 + 64, 1, k % 3);
      }
      bytes.push(code(Op.Kick), code(Op.Pop), 3, code(Op.Complete), 3, 0, 40, 0, code(Op.Flush), code(Op.Take));
      bytes.push(code(Op.Notify), config % 5);
      seeds.push(Uint8Array.from(bytes));
    }
  }
  return seeds;
}
