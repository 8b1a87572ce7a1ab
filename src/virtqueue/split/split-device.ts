import type { GuestMemory } from '../../memory/guest-memory.js';
import {
  VIRTQ_AVAIL_ALIGN,
  VIRTQ_AVAIL_F_NO_INTERRUPT,
  VIRTQ_DESC_ALIGN,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
  VIRTQ_DESC_SIZE,
  VIRTQ_SPLIT_MAX_SIZE,
  VIRTQ_USED_ALIGN,
  VIRTQ_USED_F_NO_NOTIFY,
  availRingSize,
  descTableSize,
  needEvent,
  usedRingSize,
} from '../../spec/split.js';
import { ChainPool, SegmentReader } from '../chain-reader.js';
import { checkBurstCompletion, type BufferBurst } from '../buffer-burst.js';
import type { Chain } from '../chain.js';
import { addressText, VirtqueueError, VirtqueueErrorCode as E } from '../errors.js';
import { ringFeatures, type Features } from '../features.js';
import { checkQueueSize, ringView } from '../ring-views.js';
import { newDeviceStats } from '../stats.js';
import { UsedBatcher, recordFlush, type UsedSink } from '../used-batcher.js';
import type { DeviceQueueConfig, DeviceStats, UsedEntryPolicy, VirtqueueDevice } from '../types.js';

/** What the device side of a split ring is created with. */
export interface SplitDeviceConfig extends DeviceQueueConfig {
  /** Avail idx to resume from (vhost-user SET_VRING_BASE); by default the used idx found in the ring. */
  availBase?: number;
}

/**
 * The device side of a split virtqueue (VIRTIO 1.2 section 2.7).
 *
 * Everything read from the rings was written by a driver that may be buggy or hostile: every index, length, flag
 * combination and address is checked before use, and the first bad one breaks the queue with a VirtqueueError.
 * With IN_ORDER the next head is predictable (the descriptor after the previous chain); the device checks that the
 * driver kept that promise, and flush() writes one used entry per batch.
 */
export class SplitDevice implements VirtqueueDevice {
  readonly name: string;
  readonly size: number;
  readonly features: Features;
  readonly stats: DeviceStats = newDeviceStats();
  error: VirtqueueError | null = null;

  readonly #mask: number;
  readonly #inOrder: boolean;
  readonly #eventIdx: boolean;
  readonly #indirect: boolean;
  readonly #desc: Uint32Array;
  readonly #avail: Uint16Array;
  readonly #used16: Uint16Array;
  readonly #used32: Uint32Array;
  readonly #usedEventAt: number;
  readonly #availEventAt: number;
  readonly #memory: GuestMemory;
  readonly #reader: SegmentReader;
  readonly #pool: ChainPool;
  /** 1 for each head popped and not yet completed: a driver that makes one available again is reusing it. */
  readonly #headLive: Uint8Array;
  readonly #used: UsedBatcher;
  /** Writes used entries for #used.drain(); made once so flushing allocates nothing. */
  readonly #sink: UsedSink;
  /** used idx before the flush in progress. */
  #flushBase = 0;

  #lastAvail: number;
  /** The driver's avail idx as last loaded. */
  #availIdx: number;
  #usedIdx: number;
  /** IN_ORDER: the head the next chain must start at; -1 when resuming a ring (not known until the first chain). */
  #nextInOrder: number;

  constructor(config: SplitDeviceConfig) {
    const { name, size, memory, addresses, features } = config;
    checkQueueSize(name, size, VIRTQ_SPLIT_MAX_SIZE, true);
    const rf = ringFeatures(features);
    this.name = name;
    this.size = size;
    this.features = features;
    this.#mask = size - 1;
    this.#inOrder = rf.inOrder;
    this.#eventIdx = rf.eventIdx;
    this.#indirect = rf.indirect;
    this.#desc = ringView(
      name,
      memory,
      'descriptor table',
      addresses.desc,
      descTableSize(size),
      VIRTQ_DESC_ALIGN,
      Uint32Array,
    );
    this.#avail = ringView(
      name,
      memory,
      'avail ring',
      addresses.driver,
      availRingSize(size),
      VIRTQ_AVAIL_ALIGN,
      Uint16Array,
    );
    this.#used16 = ringView(
      name,
      memory,
      'used ring',
      addresses.device,
      usedRingSize(size),
      VIRTQ_USED_ALIGN,
      Uint16Array,
    );
    this.#used32 = ringView(
      name,
      memory,
      'used ring',
      addresses.device,
      usedRingSize(size) - 2,
      VIRTQ_USED_ALIGN,
      Uint32Array,
    );
    this.#usedEventAt = 2 + size;
    this.#availEventAt = 2 + 4 * size;
    this.#memory = memory;
    this.#reader = new SegmentReader(name, memory);
    this.#pool = new ChainPool(size);
    this.#headLive = new Uint8Array(size);
    this.#used = new UsedBatcher(size, rf.inOrder && (config.usedEntries ?? 'batched') === 'batched');
    const used32 = this.#used32;
    const mask = this.#mask;
    this.#sink = {
      writeUsed: (at, id, len) => {
        const slot = (this.#flushBase + at) & mask;
        used32[1 + 2 * slot] = id;
        used32[2 + 2 * slot] = len;
      },
    };
    this.#usedIdx = Atomics.load(this.#used16, 1);
    const given = (config.availBase ?? this.#usedIdx) & 0xffff;
    // A resume point that disagrees with the used idx in memory: what the last device published is the truth.
    // Everything before the used idx was consumed, so the ring resumes there, as DPDK's vhost library does. (A
    // front-end reconnecting to a restarted back-end gives a base it never tracked: DPDK's virtio-user sends 0.
    // Buffers taken but not completed before a stop are read again rather than lost.)
    if (given !== this.#usedIdx) this.resumedFromUsed = { given, used: this.#usedIdx };
    this.#lastAvail = this.#usedIdx;
    this.#availIdx = this.#lastAvail;
    // A fresh ring starts at descriptor 0; one resumed mid-stream continues wherever its next chain starts.
    this.#nextInOrder = this.#lastAvail === 0 && this.#usedIdx === 0 ? 0 : -1;
    Atomics.store(this.#used16, 0, 0);
  }

  /** Set when the resume point given (availBase) was not the used idx in memory, which the ring resumed from. */
  resumedFromUsed: { given: number; used: number } | null = null;

  get inFlight(): number {
    return this.#pool.inFlight;
  }

  /** The next avail index the device will read (what vhost-user GET_VRING_BASE reports). */
  get lastAvailIdx(): number {
    return this.#lastAvail;
  }

  hasAvailable(): boolean {
    if (this.error !== null) return false;
    return this.#lastAvail !== this.#availIdx || this.#lastAvail !== Atomics.load(this.#avail, 1);
  }

  pop(): Chain | null {
    const head = this.#nextHead();
    if (head < 0) return null;
    const chain = this.#pool.take();
    if (!this.#parse(chain, head)) {
      this.#pool.giveBack(chain);
      return null;
    }
    chain.id = head;
    this.#pool.commit(chain);
    this.#accept(head, chain.descCount);
    this.stats.chainsPopped++;
    return chain;
  }

  popBurst(out: BufferBurst, max: number): number {
    if (this.error !== null) return 0;
    const n = Math.min(max, out.capacity);
    const desc = this.#desc;
    const avail = this.#avail;
    const live = this.#headLive;
    const mask = this.#mask;
    const size = this.size;
    const reader = this.#reader;
    const memory = this.#memory;
    const room = size - (this.#pool.inFlight + this.#used.pending);
    let lastAvail = this.#lastAvail;
    let availIdx = this.#availIdx;
    const inOrder = this.#inOrder;
    let expected = this.#nextInOrder;
    let suspect = false;
    let i = 0;
    while (i < n) {
      if (lastAvail === availIdx) {
        // Acquire: avail ring entries and descriptors below the idx were written before it.
        const idx = Atomics.load(avail, 1);
        if (idx === lastAvail) break;
        if (((idx - lastAvail) & 0xffff) > size) {
          suspect = true;
          break;
        }
        availIdx = idx;
      }
      const head = avail[2 + (lastAvail & mask)];
      // Anything pop() would refuse: it is left to #nextHead() below, which names the error exactly as pop() does.
      if (i >= room || head >= size || live[head] !== 0 || (inOrder && expected >= 0 && head !== expected)) {
        suspect = true;
        break;
      }
      const w = head * 4;
      const flags = desc[w + 3] & 0xffff;
      // A chain or an indirect table: pop() takes it.
      if (flags & (VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_INDIRECT)) break;
      const len = desc[w + 2];
      const bytes = len === 0 ? null : reader.locate(head, desc[w], desc[w + 1], len);
      if (bytes === null && len !== 0) {
        this.error = reader.error;
        break;
      }
      out.set(i++, head, bytes, memory.offset, len, (flags & VIRTQ_DESC_F_WRITE) !== 0);
      live[head] = 1;
      lastAvail = (lastAvail + 1) & 0xffff;
      if (inOrder) expected = (head + 1) & mask;
    }
    this.#lastAvail = lastAvail;
    this.#availIdx = availIdx;
    if (inOrder) this.#nextInOrder = expected;
    out.firstSeq = this.#pool.commitRun(i);
    out.count = i;
    this.stats.chainsPopped += i;
    if (suspect) this.#nextHead();
    return i;
  }

  /** The head of the next available buffer, checked as far as the avail ring goes; -1 if none, or the queue broke. */
  #nextHead(): number {
    if (this.error !== null) return -1;
    const lastAvail = this.#lastAvail;
    if (lastAvail === this.#availIdx) {
      // Acquire: avail ring entries and descriptors below the idx were written before it.
      const availIdx = Atomics.load(this.#avail, 1);
      if (availIdx === lastAvail) return -1;
      const ahead = (availIdx - lastAvail) & 0xffff;
      if (ahead > this.size) {
        return this.#fail(
          E.AVAIL_IDX_AHEAD,
          lastAvail,
          availIdx,
          `avail idx is ${ahead} ahead; the queue holds ${this.size}`,
        );
      }
      this.#availIdx = availIdx;
    }
    // A driver has only `size` descriptors: more outstanding buffers means it reused some still in flight.
    const outstanding = this.#pool.inFlight + this.#used.pending;
    if (outstanding >= this.size) {
      return this.#fail(E.TOO_MANY_IN_FLIGHT, lastAvail, outstanding + 1, `the queue holds ${this.size} buffers`);
    }
    const head = this.#avail[2 + (lastAvail & this.#mask)];
    if (head >= this.size) return this.#fail(E.HEAD_OUT_OF_RANGE, lastAvail, head, `queue size is ${this.size}`);
    if (this.#headLive[head] !== 0) {
      return this.#fail(
        E.HEAD_IN_FLIGHT,
        lastAvail,
        head,
        'the buffer at this head is in flight (popped, not completed)',
      );
    }
    if (this.#inOrder && head !== this.#nextInOrder && this.#nextInOrder >= 0) {
      return this.#fail(E.IN_ORDER_HEAD_UNEXPECTED, lastAvail, head, `IN_ORDER requires head ${this.#nextInOrder}`);
    }
    return head;
  }

  /** The buffer at `head` (`descs` descriptors) was popped: move past it. */
  #accept(head: number, descs: number): void {
    this.#headLive[head] = 1;
    this.#lastAvail = (this.#lastAvail + 1) & 0xffff;
    if (this.#inOrder) this.#nextInOrder = (head + descs) & this.#mask;
  }

  /** Walks the chain at `head` into `chain`; false (queue broken) on the first bad descriptor. */
  #parse(chain: Chain, head: number): boolean {
    const desc = this.#desc;
    const reader = this.#reader;
    let d = head;
    let count = 0;
    for (;;) {
      if (++count > this.size) {
        return this.#failed(E.CHAIN_TOO_LONG, head, count, 'the chain loops or is longer than the queue');
      }
      const w = d * 4;
      const flagsNext = desc[w + 3];
      const flags = flagsNext & 0xffff;
      if (flags & VIRTQ_DESC_F_INDIRECT) {
        if (!this.#indirect)
          return this.#failed(E.INDIRECT_NOT_NEGOTIATED, d, flags, 'INDIRECT_DESC was not negotiated');
        if (flags & VIRTQ_DESC_F_NEXT)
          return this.#failed(E.INDIRECT_WITH_NEXT, d, flags, 'INDIRECT together with NEXT');
        const len = desc[w + 2];
        if (len === 0 || len % VIRTQ_DESC_SIZE !== 0 || len / VIRTQ_DESC_SIZE > this.size) {
          return this.#failed(
            E.INDIRECT_BAD_LENGTH,
            d,
            len,
            `an indirect table holds 1..${this.size} descriptors of 16 bytes`,
          );
        }
        if (!this.#readIndirect(chain, d, desc[w], desc[w + 1], len)) return false;
        break;
      }
      if (!reader.addSegment(chain, d, desc[w], desc[w + 1], desc[w + 2], (flags & VIRTQ_DESC_F_WRITE) !== 0)) {
        return this.#failedWith(reader.error!);
      }
      if ((flags & VIRTQ_DESC_F_NEXT) === 0) break;
      const next = flagsNext >>> 16;
      if (next >= this.size) return this.#failed(E.NEXT_OUT_OF_RANGE, d, next, `queue size is ${this.size}`);
      if (this.#inOrder && next !== ((d + 1) & this.#mask)) {
        return this.#failed(E.IN_ORDER_NEXT_UNEXPECTED, d, next, `IN_ORDER requires next ${(d + 1) & this.#mask}`);
      }
      d = next;
    }
    chain.descCount = count;
    return true;
  }

  /** Walks the indirect table that descriptor `d` points to; tables chain by `next` like the ring itself. */
  #readIndirect(chain: Chain, d: number, lo: number, hi: number, len: number): boolean {
    const memory = this.#memory;
    const r = memory.locateWords(lo, hi, len);
    if (typeof r !== 'number')
      return this.#failed(r, d, hi * 2 ** 32 + lo, `indirect table of ${len} bytes`, addressText(lo, hi));
    const view = memory.regions[r].view;
    const base = memory.offset;
    const n = len / VIRTQ_DESC_SIZE;
    const reader = this.#reader;
    let i = 0;
    let count = 0;
    for (;;) {
      if (++count > n) return this.#failed(E.CHAIN_TOO_LONG, d, count, `the indirect table of ${n} loops`);
      const o = base + i * VIRTQ_DESC_SIZE;
      const flags = view.getUint16(o + 12, true);
      if (flags & VIRTQ_DESC_F_INDIRECT) {
        return this.#failed(E.INDIRECT_NESTED, d, i, 'an indirect table entry has INDIRECT set');
      }
      const writable = (flags & VIRTQ_DESC_F_WRITE) !== 0;
      if (!reader.addTableEntry(chain, i, view, o, writable)) return this.#failedWith(reader.error!);
      if ((flags & VIRTQ_DESC_F_NEXT) === 0) return true;
      const next = view.getUint16(o + 14, true);
      if (next >= n) return this.#failed(E.NEXT_OUT_OF_RANGE, i, next, `indirect table of descriptor ${d} has ${n}`);
      if (this.#inOrder && next !== i + 1) {
        return this.#failed(E.IN_ORDER_NEXT_UNEXPECTED, i, next, `IN_ORDER requires entry ${i + 1} in indirect tables`);
      }
      i = next;
    }
  }

  complete(chain: Chain, written: number): void {
    this.#pool.release(this.name, chain, written, this.#inOrder);
    this.#headLive[chain.id] = 0;
    this.#used.add(chain.id, written, written === chain.writableLength, chain.descCount);
    this.stats.buffersUsed++;
  }

  completeBurst(burst: BufferBurst, from: number, count: number, written: ArrayLike<number>): void {
    const pool = this.#pool;
    checkBurstCompletion(this.name, burst, from, count, written, this.#inOrder ? pool.oldestSeq : null, this.#headLive);
    const ids = burst.ids;
    for (let i = from; i < from + count; i++) this.#headLive[ids[i]] = 0;
    this.#used.addBurst(burst, from, count, written);
    pool.releaseRun(count);
    this.stats.buffersUsed += count;
  }

  setUsedEntries(policy: UsedEntryPolicy): void {
    this.#used.setBatched(this.#inOrder && policy === 'batched');
  }

  flush(): boolean {
    const n = this.#used.pending;
    if (n === 0) return false;
    const old = this.#usedIdx;
    this.#flushBase = old;
    const entries = this.#used.drain(this.#sink);
    const usedIdx = (old + n) & 0xffff;
    this.#usedIdx = usedIdx;
    // Release: the used entries above are visible before the idx that publishes them (Linux vhost: smp_wmb).
    Atomics.store(this.#used16, 1, usedIdx);
    // Store->load: publishing used idx is ordered before reading the driver's interrupt suppression (vhost: smp_mb),
    // so either the driver's re-check sees the entries or we see that it wants an interrupt.
    const need = this.#eventIdx
      ? needEvent(Atomics.load(this.#avail, this.#usedEventAt), usedIdx, old)
      : (Atomics.load(this.#avail, 0) & VIRTQ_AVAIL_F_NO_INTERRUPT) === 0;
    recordFlush(this.stats, entries, need);
    return need;
  }

  disableNotifications(): void {
    // With EVENT_IDX the driver ignores used.flags; avail_event is left where it was, so at most one more kick.
    if (!this.#eventIdx) Atomics.store(this.#used16, 0, VIRTQ_USED_F_NO_NOTIFY);
  }

  enableNotifications(): boolean {
    if (this.#eventIdx) Atomics.store(this.#used16, this.#availEventAt, this.#lastAvail);
    else Atomics.store(this.#used16, 0, 0);
    // Store->load: the request above is ordered before re-reading avail idx, so either the driver's kickPrepare()
    // sees it or we see the buffers it published meanwhile.
    return !this.hasAvailable();
  }

  /** Breaks the queue; -1 for #nextHead(). */
  #fail(code: E, index: number, value: number, detail: string, exactValue?: string): -1 {
    this.error = new VirtqueueError(code, this.name, index, value, detail, exactValue);
    return -1;
  }

  #failed(code: E, index: number, value: number, detail: string, exactValue?: string): false {
    this.#fail(code, index, value, detail, exactValue);
    return false;
  }

  #failedWith(error: VirtqueueError): false {
    this.error = error;
    return false;
  }
}
