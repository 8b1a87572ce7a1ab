import type { GuestMemory } from '../../memory/guest-memory.js';
import {
  PVIRTQ_DESC_ALIGN,
  PVIRTQ_DESC_SIZE,
  PVIRTQ_EVENT_ALIGN,
  PVIRTQ_EVENT_SIZE,
  PVIRTQ_MAX_SIZE,
  RING_EVENT_FLAGS_ENABLE,
  VIRTQ_DESC_F_AVAIL,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_USED,
  VIRTQ_DESC_F_WRITE,
  availFlags,
  isAvailable,
  packedDescRingSize,
  usedFlags,
} from '../../spec/packed.js';
import { ChainPool, SegmentReader } from '../chain-reader.js';
import { checkBurstCompletion, type BufferBurst } from '../buffer-burst.js';
import type { Chain } from '../chain.js';
import { addressText, VirtqueueError, VirtqueueErrorCode as E } from '../errors.js';
import { ringFeatures, type Features } from '../features.js';
import { checkQueueSize, ringView } from '../ring-views.js';
import { newDeviceStats } from '../stats.js';
import { UsedBatcher, recordFlush, type UsedSink } from '../used-batcher.js';
import { armEvent, disarmEvent, eventWanted } from './event.js';
import type { DeviceQueueConfig, DeviceStats, UsedEntryPolicy, VirtqueueDevice } from '../types.js';

/** What the device side of a packed ring is created with. */
export interface PackedDeviceConfig extends DeviceQueueConfig {
  /**
   * Where to resume (vhost-user SET_VRING_BASE for packed rings): the next descriptor to read, with the driver's wrap
   * counter in bit 15. Used descriptors resume at the same place. Default: position 0, wrap 1.
   */
  availBase?: number;
}

/**
 * The device side of a packed virtqueue (VIRTIO 1.2 section 2.8).
 *
 * Descriptors are read in ring order from the position after the last chain; each must be available for the wrap
 * counter of its lap, and every field is checked before use. Used descriptors are written in completion order,
 * each overwriting the first descriptor of the buffer it completes, then skipping that buffer's descriptor count;
 * under IN_ORDER one used descriptor per batch carries the last buffer's ID and skips the whole batch. The first
 * used descriptor's flags are written last, so one release store publishes a flush.
 */
export class PackedDevice implements VirtqueueDevice {
  readonly name: string;
  readonly size: number;
  readonly features: Features;
  readonly stats: DeviceStats = newDeviceStats();
  error: VirtqueueError | null = null;

  readonly #inOrder: boolean;
  readonly #eventIdx: boolean;
  readonly #indirect: boolean;
  readonly #readOnlyTables: boolean;
  readonly #desc32: Uint32Array;
  readonly #desc16: Uint16Array;
  /** The driver's: [off_wrap, flags] (used buffer notifications). */
  readonly #driverEvent: Uint16Array;
  /** Ours: [off_wrap, flags] (available buffer notifications). */
  readonly #deviceEvent: Uint16Array;
  readonly #memory: GuestMemory;
  readonly #reader: SegmentReader;
  readonly #pool: ChainPool;
  readonly #used: UsedBatcher;
  readonly #sink: UsedSink;
  /** Without IN_ORDER: Buffer IDs popped and not completed (reusing one while in flight is an error). */
  readonly #idInFlight: Uint8Array;
  /** Descriptors popped whose used descriptor is not written yet: at most the ring size. */
  #outstandingDescs = 0;

  #lastAvail: number;
  #availWrap: number;
  #usedPos: number;
  #usedWrap: number;
  /** During a flush: where its first used descriptor went, and its flags (written last). */
  #flushFirst = -1;
  #flushFirstFlags = 0;
  #flushDescs = 0;

  constructor(config: PackedDeviceConfig) {
    const { name, size, memory, addresses, features } = config;
    checkQueueSize(name, size, PVIRTQ_MAX_SIZE, false);
    const rf = ringFeatures(features);
    this.name = name;
    this.size = size;
    this.features = features;
    this.#inOrder = rf.inOrder;
    this.#eventIdx = rf.eventIdx;
    this.#indirect = rf.indirect;
    this.#readOnlyTables = config.readOnlyIndirectTables === true;
    const ringBytes = packedDescRingSize(size);
    this.#desc32 = ringView(name, memory, 'descriptor ring', addresses.desc, ringBytes, PVIRTQ_DESC_ALIGN, Uint32Array);
    this.#desc16 = ringView(name, memory, 'descriptor ring', addresses.desc, ringBytes, PVIRTQ_DESC_ALIGN, Uint16Array);
    const ev = (what: string, addr: number): Uint16Array =>
      ringView(name, memory, what, addr, PVIRTQ_EVENT_SIZE, PVIRTQ_EVENT_ALIGN, Uint16Array);
    this.#driverEvent = ev('driver event suppression', addresses.driver);
    this.#deviceEvent = ev('device event suppression', addresses.device);
    this.#memory = memory;
    this.#reader = new SegmentReader(name, memory);
    this.#pool = new ChainPool(size);
    this.#used = new UsedBatcher(size, rf.inOrder && (config.usedEntries ?? 'batched') === 'batched');
    this.#idInFlight = new Uint8Array(size);
    const base = config.availBase ?? 1 << 15;
    this.#lastAvail = (base & 0x7fff) % size;
    this.#availWrap = base >>> 15;
    this.#usedPos = this.#lastAvail;
    this.#usedWrap = this.#availWrap;
    const desc16 = this.#desc16;
    const desc32 = this.#desc32;
    this.#sink = {
      writeUsed: (_at, id, len, _buffers, descs) => {
        const pos = this.#usedPos;
        const flags = usedFlags(this.#usedWrap) | (len > 0 ? VIRTQ_DESC_F_WRITE : 0);
        desc32[pos * 4 + 2] = len;
        desc16[pos * 8 + 6] = id;
        if (this.#flushFirst < 0) {
          this.#flushFirst = pos;
          this.#flushFirstFlags = flags;
        } else {
          desc16[pos * 8 + 7] = flags;
        }
        let next = pos + descs;
        if (next >= this.size) {
          next -= this.size;
          this.#usedWrap ^= 1;
        }
        this.#usedPos = next;
        this.#flushDescs += descs;
      },
    };
    Atomics.store(this.#deviceEvent, 1, RING_EVENT_FLAGS_ENABLE);
  }

  get inFlight(): number {
    return this.#pool.inFlight;
  }

  /** The next descriptor to read, with the wrap counter in bit 15 (what vhost-user GET_VRING_BASE reports). */
  get lastAvailIdx(): number {
    return this.#lastAvail | (this.#availWrap << 15);
  }

  hasAvailable(): boolean {
    if (this.error !== null) return false;
    return isAvailable(Atomics.load(this.#desc16, this.#lastAvail * 8 + 7), this.#availWrap);
  }

  pop(): Chain | null {
    if (this.error !== null) return null;
    const head = this.#lastAvail;
    // Acquire: the rest of the list was written before the head's flags exposed it.
    const headFlags = Atomics.load(this.#desc16, head * 8 + 7);
    if (!isAvailable(headFlags, this.#availWrap) || !this.#roomFor(head)) return null;
    const chain = this.#pool.take();
    if (!this.#parse(chain, head, headFlags)) {
      this.#pool.giveBack(chain);
      return null;
    }
    this.#pool.commit(chain);
    if (!this.#inOrder) this.#idInFlight[chain.id] = 1;
    this.#outstandingDescs += chain.descCount;
    this.stats.chainsPopped++;
    return chain;
  }

  popBurst(out: BufferBurst, max: number): number {
    if (this.error !== null) return 0;
    const k = this.#availableSingles(Math.min(max, out.capacity));
    const desc16 = this.#desc16;
    const desc32 = this.#desc32;
    const size = this.size;
    const reader = this.#reader;
    const memory = this.#memory;
    const inOrder = this.#inOrder;
    const idInFlight = this.#idInFlight;
    let pos = this.#lastAvail;
    let wrap = this.#availWrap;
    let outstanding = this.#outstandingDescs;
    let suspect = false;
    let i = 0;
    while (i < k) {
      const flags = desc16[pos * 8 + 7];
      // Changed since the scan (only a driver rewriting what it made available): leave it to pop().
      if (!isSingle(flags, wrap)) break;
      const w = pos * 4;
      const len = desc32[w + 2];
      const id = desc16[pos * 8 + 6];
      // Anything pop() would refuse first: left to the checks below, which name the error exactly as pop() does.
      if (outstanding >= size) {
        suspect = true;
        break;
      }
      const bytes = len === 0 ? null : reader.locate(pos, desc32[w], desc32[w + 1], len);
      if (bytes === null && len !== 0) {
        this.error = reader.error;
        break;
      }
      if (id >= size || (!inOrder && idInFlight[id] === 1)) {
        suspect = true;
        break;
      }
      out.set(i++, id, bytes, memory.offset, len, (flags & VIRTQ_DESC_F_WRITE) !== 0);
      if (!inOrder) idInFlight[id] = 1;
      outstanding++;
      if (++pos === size) {
        pos = 0;
        wrap ^= 1;
      }
    }
    this.#lastAvail = pos;
    this.#availWrap = wrap;
    this.#outstandingDescs = outstanding;
    out.firstSeq = this.#pool.commitRun(i);
    out.count = i;
    this.stats.chainsPopped += i;
    if (suspect && this.#roomFor(pos)) this.#idAcceptable(pos, desc16[pos * 8 + 6], 1);
    return i;
  }

  /**
   * How many buffers from lastAvail on, up to `max`, are available and one descriptor each. As DPDK's vhost reads a
   * batch: the first descriptor's flags with an acquire load, the rest plainly, then one acquire load of the last
   * counted, which orders the reads of every descriptor up to it (a driver makes them available in ring order).
   */
  #availableSingles(max: number): number {
    const desc16 = this.#desc16;
    const size = this.size;
    // The last descriptor counted, and its lap's wrap counter.
    let pos = this.#lastAvail;
    let wrap = this.#availWrap;
    if (max <= 0 || !isSingle(Atomics.load(desc16, pos * 8 + 7), wrap)) return 0;
    let k = 1;
    while (k < max) {
      let next = pos + 1;
      let nextWrap = wrap;
      if (next === size) {
        next = 0;
        nextWrap ^= 1;
      }
      if (!isSingle(desc16[next * 8 + 7], nextWrap)) break;
      pos = next;
      wrap = nextWrap;
      k++;
    }
    if (k > 1 && !isSingle(Atomics.load(desc16, pos * 8 + 7), wrap)) return 1;
    return k;
  }

  /**
   * Whether another buffer at `head` can be in flight. A driver has only `size` descriptors: one more available while
   * all are outstanding means it reused some (and every chain of the pool is taken), which breaks the queue.
   */
  #roomFor(head: number): boolean {
    if (this.#outstandingDescs < this.size) return true;
    return this.#failed(
      E.TOO_MANY_IN_FLIGHT,
      head,
      this.#outstandingDescs + 1,
      `the ring holds ${this.size} descriptors`,
    );
  }

  /** Whether the buffer at `head` may carry Buffer ID `id` and occupy `count` more descriptors; else breaks the queue. */
  #idAcceptable(head: number, id: number, count: number): boolean {
    const size = this.size;
    if (id >= size) return this.#failed(E.BUFFER_ID_OUT_OF_RANGE, head, id, `queue size is ${size}`);
    if (!this.#inOrder && this.#idInFlight[id] === 1) {
      return this.#failed(E.BUFFER_ID_IN_FLIGHT, head, id, 'Buffer ID reused while still in flight');
    }
    if (this.#outstandingDescs + count > size) {
      return this.#failed(
        E.TOO_MANY_IN_FLIGHT,
        head,
        this.#outstandingDescs + count,
        `the ring holds ${size} descriptors`,
      );
    }
    return true;
  }

  /** Reads the list at `head` into `chain` and moves past it; false (queue broken) on the first bad descriptor. */
  #parse(chain: Chain, head: number, headFlags: number): boolean {
    const desc32 = this.#desc32;
    const desc16 = this.#desc16;
    const size = this.size;
    let pos = head;
    let wrap = this.#availWrap;
    let flags = headFlags;
    let count = 0;
    let id = 0;
    for (;;) {
      count++;
      if (count > 1) {
        flags = desc16[pos * 8 + 7];
        if (!isAvailable(flags, wrap)) {
          return this.#failed(
            E.DESC_NOT_AVAILABLE,
            pos,
            flags,
            `mid-list descriptor not available for wrap counter ${wrap}`,
          );
        }
      }
      const w = pos * 4;
      if (flags & VIRTQ_DESC_F_INDIRECT) {
        if (!this.#indirect)
          return this.#failed(E.INDIRECT_NOT_NEGOTIATED, pos, flags, 'INDIRECT_DESC was not negotiated');
        if (flags & VIRTQ_DESC_F_NEXT)
          return this.#failed(E.INDIRECT_WITH_NEXT, pos, flags, 'INDIRECT together with NEXT');
        if (count > 1)
          return this.#failed(E.INDIRECT_IN_CHAIN, pos, flags, 'an indirect descriptor inside a NEXT list');
        if (!this.#readIndirect(chain, pos, desc32[w], desc32[w + 1], desc32[w + 2])) return false;
      } else if (
        !this.#reader.addSegment(
          chain,
          pos,
          desc32[w],
          desc32[w + 1],
          desc32[w + 2],
          (flags & VIRTQ_DESC_F_WRITE) !== 0,
        )
      ) {
        return this.#failedWith(this.#reader.error!);
      }
      id = desc16[pos * 8 + 6];
      if (++pos === size) {
        pos = 0;
        wrap ^= 1;
      }
      if ((flags & VIRTQ_DESC_F_NEXT) === 0) break;
      // A list that goes on after `size` descriptors is longer than the ring, whatever follows.
      if (count === size) return this.#failed(E.CHAIN_TOO_LONG, head, count + 1, 'the list is longer than the ring');
    }
    // "Buffer ID is included in the last descriptor in the list."
    if (!this.#idAcceptable(head, id, count)) return false;
    chain.id = id;
    chain.descCount = count;
    this.#lastAvail = pos;
    this.#availWrap = wrap;
    return true;
  }

  /** An indirect table: len / 16 descriptors one after another; only WRITE is valid in them. */
  #readIndirect(chain: Chain, at: number, lo: number, hi: number, len: number): boolean {
    if (len === 0 || len % PVIRTQ_DESC_SIZE !== 0 || len / PVIRTQ_DESC_SIZE > this.size) {
      return this.#failed(
        E.INDIRECT_BAD_LENGTH,
        at,
        len,
        `an indirect table holds 1..${this.size} descriptors of 16 bytes`,
      );
    }
    const memory = this.#memory;
    const r = memory.locateWords(lo, hi, len);
    if (typeof r !== 'number')
      return this.#failed(r, at, hi * 2 ** 32 + lo, `indirect table of ${len} bytes`, addressText(lo, hi));
    const view = memory.regions[r].view;
    const base = memory.offset;
    const reader = this.#reader;
    let tolerated = false;
    for (let i = 0, n = len / PVIRTQ_DESC_SIZE; i < n; i++) {
      const o = base + i * PVIRTQ_DESC_SIZE;
      const flags = view.getUint16(o + 14, true);
      if (flags & VIRTQ_DESC_F_INDIRECT)
        return this.#failed(E.INDIRECT_NESTED, at, i, 'an indirect table entry has INDIRECT set');
      let writable = (flags & VIRTQ_DESC_F_WRITE) !== 0;
      if (writable && this.#readOnlyTables) {
        // DeviceQueueConfig.readOnlyIndirectTables: the device only reads this queue's buffers.
        writable = false;
        tolerated = true;
      }
      if (!reader.addTableEntry(chain, i, view, o, writable)) return this.#failedWith(reader.error!);
    }
    if (tolerated) this.stats.writeFlagsTolerated++;
    return true;
  }

  complete(chain: Chain, written: number): void {
    this.#pool.release(this.name, chain, written, this.#inOrder);
    if (!this.#inOrder) this.#idInFlight[chain.id] = 0;
    this.#used.add(chain.id, written, written === chain.writableLength, chain.descCount);
    this.stats.buffersUsed++;
  }

  completeBurst(burst: BufferBurst, from: number, count: number, written: ArrayLike<number>): void {
    const pool = this.#pool;
    checkBurstCompletion(
      this.name,
      burst,
      from,
      count,
      written,
      this.#inOrder ? pool.oldestSeq : null,
      this.#idInFlight,
    );
    if (!this.#inOrder) for (let i = from; i < from + count; i++) this.#idInFlight[burst.ids[i]] = 0;
    this.#used.addBurst(burst, from, count, written);
    pool.releaseRun(count);
    this.stats.buffersUsed += count;
  }

  setUsedEntries(policy: UsedEntryPolicy): void {
    this.#used.setBatched(this.#inOrder && policy === 'batched');
  }

  flush(): boolean {
    if (this.#used.pending === 0) return false;
    this.#flushFirst = -1;
    this.#flushDescs = 0;
    const entries = this.#used.drain(this.#sink);
    // Release: the other used descriptors of this flush (and their id and len) are visible before this flag.
    Atomics.store(this.#desc16, this.#flushFirst * 8 + 7, this.#flushFirstFlags);
    const descs = this.#flushDescs;
    this.#outstandingDescs -= descs;
    // Store->load: publishing is ordered before reading the driver's suppression state.
    const need = eventWanted(this.#driverEvent, this.#eventIdx, this.#usedPos, descs, this.#usedWrap, this.size);
    recordFlush(this.stats, entries, need);
    return need;
  }

  disableNotifications(): void {
    disarmEvent(this.#deviceEvent);
  }

  enableNotifications(): boolean {
    // With EVENT_IDX: kick when the driver makes available the descriptor we read next.
    armEvent(this.#deviceEvent, this.#eventIdx, this.#lastAvail, this.#availWrap);
    // Store->load: the request is ordered before re-reading the ring.
    return !this.hasAvailable();
  }

  #failed(code: E, index: number, value: number, detail: string, exactValue?: string): false {
    this.error = new VirtqueueError(code, this.name, index, value, detail, exactValue);
    return false;
  }

  #failedWith(error: VirtqueueError): false {
    this.error = error;
    return false;
  }
}

/**
 * Available for wrap counter `wrap`, and a buffer of its own: neither a list nor an indirect table. (One mask and one
 * compare: AVAIL equal to the wrap counter, USED not, NEXT and INDIRECT clear.)
 */
const isSingle = (flags: number, wrap: number): boolean => (flags & SINGLE_MASK) === availFlags(wrap);
const SINGLE_MASK = VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED | VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_INDIRECT;
