import {
  PVIRTQ_DESC_ALIGN,
  PVIRTQ_DESC_SIZE,
  PVIRTQ_EVENT_ALIGN,
  PVIRTQ_EVENT_SIZE,
  PVIRTQ_MAX_SIZE,
  RING_EVENT_FLAGS_ENABLE,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
  availFlags,
  isUsed,
  packedDescRingSize,
} from '../../spec/packed.js';
import { VirtqueueError, VirtqueueErrorCode as E, VirtqueueUsageError } from '../errors.js';
import { highWord, storeChangedWords } from '../descriptor-words.js';
import { InFlightBuffers } from '../in-flight.js';
import { armEvent, disarmEvent, eventWanted } from './event.js';
import { ringFeatures, type Features } from '../features.js';
import { checkQueueSize, ringView } from '../ring-views.js';
import { newDriverStats } from '../stats.js';
import { checkBurst, type ScatterList } from '../scatter-list.js';
import type { DriverQueueConfig, DriverStats, IndirectChoice, VirtqueueDriver } from '../types.js';

/**
 * The driver side of a packed virtqueue (VIRTIO 1.2 section 2.8).
 *
 * Descriptors go into the ring in order; a buffer's Buffer ID is in its last descriptor and its first descriptor's
 * flags are written last. The flags of the first buffer added since the last kickPrepare() are held back and written
 * there, so one release store publishes the whole batch. What the driver needs to take a buffer back lives in shadow
 * arrays indexed by Buffer ID. With IN_ORDER one used descriptor may complete a batch: every in-flight buffer up to
 * the one whose ID it carries, the driver skipping forward by their descriptor counts.
 */
export class PackedDriver<T> implements VirtqueueDriver<T> {
  readonly name: string;
  readonly size: number;
  readonly features: Features;
  readonly stats: DriverStats = newDriverStats();
  error: VirtqueueError | null = null;
  usedLen = 0;

  readonly #inOrder: boolean;
  readonly #eventIdx: boolean;
  /** Descriptor ring as 32-bit words (addr lo, addr hi, len, id | flags << 16) and as 16-bit words (id at 8d + 6, flags at 8d + 7). */
  readonly #desc32: Uint32Array;
  readonly #desc16: Uint16Array;
  /**
   * What the descriptor ring holds, as far as the driver knows: addr lo, addr hi, len and Buffer ID of each
   * descriptor, in private memory. add() compares against it instead of loading the shared ring: a driver that
   * recycles its buffers in order rewrites only the flags, and never reads a line the device is polling. Used
   * descriptors the driver takes back are copied into it (the device wrote their id and len).
   */
  readonly #shadow: Uint32Array;
  /** Ours: [off_wrap, flags], read by the device (used buffer notifications). */
  readonly #driverEvent: Uint16Array;
  /** The device's: [off_wrap, flags] (available buffer notifications). */
  readonly #deviceEvent: Uint16Array;

  /** The driver's own record of each in-flight buffer, by Buffer ID. */
  readonly #buffers: InFlightBuffers<T>;
  /** Without IN_ORDER: free Buffer IDs, a FIFO ring (reused oldest-freed first). */
  readonly #freeIds: Uint16Array;
  #freeAt = 0;
  #freeCount: number;
  /**
   * IN_ORDER: Buffer IDs are handed out in sequence and come back in the same sequence, so no ID list is kept: the
   * next ID to hand out and the oldest in flight are counters.
   */
  #nextId = 0;
  #oldestId = 0;

  #nextAvail = 0;
  #availWrap = 1;
  #lastUsed = 0;
  #usedWrap = 1;
  /** The first buffer added since the last kickPrepare(): its head position and held-back flags (-1: none). */
  #heldHead = -1;
  #heldFlags = 0;
  /** Descriptors made available since the last kickPrepare(). */
  #addedDescs = 0;

  readonly #indirect: Uint32Array | null;
  readonly #indirectArea: number;
  readonly #indirectMax: number;
  readonly #autoIndirectAbove: number;

  constructor(config: DriverQueueConfig) {
    const { name, size, memory, addresses, features } = config;
    checkQueueSize(name, size, PVIRTQ_MAX_SIZE, false);
    const rf = ringFeatures(features);
    if (!rf.packed) throw new VirtqueueUsageError(`${name}: RING_PACKED not negotiated; use the split driver`);
    this.name = name;
    this.size = size;
    this.features = features;
    this.#inOrder = rf.inOrder;
    this.#eventIdx = rf.eventIdx;
    const ringBytes = packedDescRingSize(size);
    this.#desc32 = ringView(name, memory, 'descriptor ring', addresses.desc, ringBytes, PVIRTQ_DESC_ALIGN, Uint32Array);
    this.#desc16 = ringView(name, memory, 'descriptor ring', addresses.desc, ringBytes, PVIRTQ_DESC_ALIGN, Uint16Array);
    this.#shadow = new Uint32Array(size * 4);
    const ev = (what: string, addr: number): Uint16Array =>
      ringView(name, memory, what, addr, PVIRTQ_EVENT_SIZE, PVIRTQ_EVENT_ALIGN, Uint16Array);
    this.#driverEvent = ev('driver event suppression', addresses.driver);
    this.#deviceEvent = ev('device event suppression', addresses.device);

    this.#buffers = new InFlightBuffers<T>(size, this.stats);
    this.#freeIds = new Uint16Array(size);
    for (let i = 0; i < size; i++) this.#freeIds[i] = i;
    this.#freeCount = size;

    this.#autoIndirectAbove = config.autoIndirectAbove ?? 1;
    const indirectMax = Math.min(config.indirectMax ?? 0, size);
    if (rf.indirect && config.indirectArea !== undefined && indirectMax > 0) {
      const bytes = size * indirectMax * PVIRTQ_DESC_SIZE;
      this.#indirect = ringView(
        name,
        memory,
        'indirect tables',
        config.indirectArea,
        bytes,
        PVIRTQ_DESC_ALIGN,
        Uint32Array,
      );
      this.#indirectArea = config.indirectArea;
      this.#indirectMax = indirectMax;
    } else {
      this.#indirect = null;
      this.#indirectArea = 0;
      this.#indirectMax = 0;
    }
    // "The descriptor ring is zero-initialized"; interrupts wanted.
    this.#desc32.fill(0);
    Atomics.store(this.#driverEvent, 0, 0);
    Atomics.store(this.#driverEvent, 1, RING_EVENT_FLAGS_ENABLE);
  }

  get numFree(): number {
    return this.#buffers.numFree;
  }

  get inFlight(): number {
    return this.#buffers.count;
  }

  #usesIndirect(sg: ScatterList, indirect: IndirectChoice): boolean {
    const wanted = indirect === 'auto' ? sg.count > this.#autoIndirectAbove : indirect;
    return wanted && this.#indirect !== null && sg.count <= this.#indirectMax;
  }

  canAdd(sg: ScatterList, indirect: IndirectChoice): boolean {
    return (
      sg.count > 0 && this.#freeCount > 0 && this.#buffers.numFree >= (this.#usesIndirect(sg, indirect) ? 1 : sg.count)
    );
  }

  add(sg: ScatterList, token: T, indirect: IndirectChoice): boolean {
    if (this.error !== null) return false;
    if (token === undefined) throw new VirtqueueUsageError(`${this.name}: a buffer's token must not be undefined`);
    const n = sg.count;
    if (n === 0) throw new VirtqueueUsageError(`${this.name}: a buffer needs at least one segment`);
    const viaTable = this.#usesIndirect(sg, indirect);
    const ringDescs = viaTable ? 1 : n;
    if (ringDescs > this.#buffers.numFree || this.#buffers.count === this.size) {
      throw new VirtqueueUsageError(`${this.name}: ${ringDescs} descriptors needed, ${this.#buffers.numFree} free`);
    }
    const id = this.#allocateId();

    const head = this.#nextAvail;
    let pos = head;
    let wrap = this.#availWrap;
    let headFlags = 0;
    if (viaTable) {
      const table = this.#indirect!;
      const base = id * this.#indirectMax;
      for (let i = 0; i < n; i++) {
        // Only WRITE is valid in an indirect table; entries follow each other.
        writeTableEntry(table, base + i, sg.addrs[i], sg.lens[i], i >= sg.readableCount ? VIRTQ_DESC_F_WRITE : 0);
      }
      this.#writeDesc(pos, this.#indirectArea + base * PVIRTQ_DESC_SIZE, n * PVIRTQ_DESC_SIZE, id, -1);
      headFlags = VIRTQ_DESC_F_INDIRECT | availFlags(wrap);
      if (++pos === this.size) {
        pos = 0;
        wrap ^= 1;
      }
      this.stats.indirectAdded++;
    } else {
      for (let i = 0; i < n; i++) {
        let flags = availFlags(wrap);
        if (i >= sg.readableCount) flags |= VIRTQ_DESC_F_WRITE;
        if (i < n - 1) flags |= VIRTQ_DESC_F_NEXT;
        if (i === 0) {
          // Written last, by kickPrepare() or below: it exposes the list.
          this.#writeDesc(pos, sg.addrs[i], sg.lens[i], id, -1);
          headFlags = flags;
        } else {
          this.#writeDesc(pos, sg.addrs[i], sg.lens[i], id, flags);
        }
        if (++pos === this.size) {
          pos = 0;
          wrap ^= 1;
        }
      }
    }
    this.#nextAvail = pos;
    this.#availWrap = wrap;
    if (this.#heldHead < 0) {
      this.#heldHead = head;
      this.#heldFlags = headFlags;
    } else {
      // The device reads in ring order and stops at the held head, so this one is exposed with it.
      this.#desc16[head * 8 + 7] = headFlags;
    }
    this.#addedDescs += ringDescs;
    this.#buffers.add(id, token, ringDescs, sg.writableLength);
    return true;
  }

  addBurst(
    addrs: ArrayLike<number>,
    lens: ArrayLike<number>,
    tokens: ArrayLike<T>,
    count: number,
    writable: boolean,
  ): number {
    if (this.error !== null) return 0;
    const buffers = this.#buffers;
    // One descriptor each; free descriptors never outnumber free Buffer IDs.
    const room = Math.min(count, buffers.numFree);
    checkBurst(this.name, addrs, lens, tokens, room);
    const segmentFlags = writable ? VIRTQ_DESC_F_WRITE : 0;
    const size = this.size;
    let pos = this.#nextAvail;
    let wrap = this.#availWrap;
    for (let i = 0; i < room; i++) {
      const id = this.#allocateId();
      const len = lens[i];
      if (this.#heldHead < 0) {
        // The first since the last kick: its flags, written by kickPrepare(), expose the whole burst.
        this.#writeDesc(pos, addrs[i], len, id, -1);
        this.#heldHead = pos;
        this.#heldFlags = segmentFlags | availFlags(wrap);
      } else {
        this.#writeDesc(pos, addrs[i], len, id, segmentFlags | availFlags(wrap));
      }
      buffers.place(id, tokens[i], 1, writable ? len : 0, i);
      if (++pos === size) {
        pos = 0;
        wrap ^= 1;
      }
    }
    buffers.added(room, room);
    this.#nextAvail = pos;
    this.#availWrap = wrap;
    this.#addedDescs += room;
    return room;
  }

  /** A Buffer ID for the next buffer: the next in sequence under IN_ORDER, else the oldest freed. */
  #allocateId(): number {
    if (this.#inOrder) {
      const id = this.#nextId;
      this.#nextId = id + 1 === this.size ? 0 : id + 1;
      return id;
    }
    const id = this.#freeIds[this.#freeAt];
    this.#freeAt = this.#freeAt + 1 === this.size ? 0 : this.#freeAt + 1;
    this.#freeCount--;
    return id;
  }

  kickPrepare(): boolean {
    if (this.#heldHead < 0 || this.error !== null) return false;
    // Release: every descriptor written since the last kick is visible before this flag exposes them.
    Atomics.store(this.#desc16, this.#heldHead * 8 + 7, this.#heldFlags);
    this.#heldHead = -1;
    const added = this.#addedDescs;
    this.#addedDescs = 0;
    // Store->load: exposing the descriptors is ordered before reading the device's suppression state.
    const need = eventWanted(this.#deviceEvent, this.#eventIdx, this.#nextAvail, added, this.#availWrap, this.size);
    if (need) this.stats.kicksWanted++;
    else this.stats.kicksSuppressed++;
    return need;
  }

  hasUsed(): boolean {
    if (this.error !== null) return false;
    if (this.#buffers.batchLeft > 0) return true;
    return this.#buffers.count > 0 && isUsed(Atomics.load(this.#desc16, this.#lastUsed * 8 + 7), this.#usedWrap);
  }

  takeUsed(): T | undefined {
    if (this.error !== null) return undefined;
    if (this.#buffers.batchLeft > 0) return this.#takeOldest();
    return this.#buffers.count > 0 ? this.#takeEntry() : undefined;
  }

  takeUsedBurst(tokens: T[], lens: Uint32Array, max: number): number {
    let n = 0;
    while (n < max) {
      if (this.#buffers.batchLeft > 0 && this.error === null) {
        n += this.#takeRun(tokens, lens, n, max - n);
        continue;
      }
      // Reads one used descriptor; under IN_ORDER it also starts the batch it completes.
      const token = this.takeUsed();
      if (token === undefined) break;
      tokens[n] = token;
      lens[n++] = this.usedLen;
    }
    return n;
  }

  /** Reads the used descriptor at lastUsed, if there is one, and hands out its buffer (IN_ORDER: its batch's oldest). */
  #takeEntry(): T | undefined {
    const buffers = this.#buffers;
    const pos = this.#lastUsed;
    // Acquire: the used descriptor's id and len were written before its flags.
    const flags = Atomics.load(this.#desc16, pos * 8 + 7);
    if (!isUsed(flags, this.#usedWrap)) return undefined;
    const id = this.#desc16[pos * 8 + 6];
    // "Element Length is reserved for used descriptors without VIRTQ_DESC_F_WRITE."
    const len = flags & VIRTQ_DESC_F_WRITE ? this.#desc32[pos * 4 + 2] : 0;
    this.#resync(pos);
    this.stats.usedEntriesRead++;
    const problem = buffers.check(id, len, this.#inOrder);
    if (problem !== null) return this.#fail(problem.code, pos, problem.value, problem.detail);
    if (this.#inOrder) {
      buffers.startBatch(buffers.batchSize(id), len);
      return this.#takeOldest();
    }
    this.usedLen = len;
    return this.#release(id);
  }

  /** IN_ORDER: up to `max` buffers of the current batch at once; the used position skips all their descriptors. */
  #takeRun(tokens: T[], lens: Uint32Array, at: number, max: number): number {
    const buffers = this.#buffers;
    const k = Math.min(max, buffers.batchLeft);
    let pos = this.#lastUsed + buffers.takeRun(this.#oldestId, k, false, tokens, lens, at);
    this.#oldestId = buffers.nextKey;
    if (pos >= this.size) {
      pos -= this.size;
      this.#usedWrap ^= 1;
    }
    this.#lastUsed = pos;
    return k;
  }

  /** IN_ORDER: hand out the oldest in-flight buffer of the current batch. */
  #takeOldest(): T | undefined {
    const id = this.#oldestId;
    this.#oldestId = id + 1 === this.size ? 0 : id + 1;
    this.usedLen = this.#buffers.nextInBatch(id);
    return this.#release(id);
  }

  /** Skips the buffer's descriptors (a used descriptor stands for all of them) and frees its Buffer ID. */
  #release(id: number): T | undefined {
    let pos = this.#lastUsed + this.#buffers.descs(id);
    if (pos >= this.size) {
      pos -= this.size;
      this.#usedWrap ^= 1;
    }
    this.#lastUsed = pos;
    if (!this.#inOrder) {
      this.#freeIds[wrapIndex(this.#freeAt + this.#freeCount, this.size)] = id;
      this.#freeCount++;
    }
    return this.#buffers.release(id);
  }

  /**
   * Stores a descriptor's addr, len and Buffer ID where they differ from what the ring holds, and its flags unless
   * `flags` is -1 (a head, whose flags are written last).
   */
  #writeDesc(d: number, addr: number, len: number, id: number, flags: number): void {
    const words = this.#desc32;
    const shadow = this.#shadow;
    const w = d * 4;
    const lo = addr >>> 0;
    const hi = highWord(addr);
    if (shadow[w] !== lo) words[w] = shadow[w] = lo;
    if (shadow[w + 1] !== hi) words[w + 1] = shadow[w + 1] = hi;
    if (shadow[w + 2] !== len) words[w + 2] = shadow[w + 2] = len;
    if (flags >= 0) {
      words[w + 3] = (id | (flags << 16)) >>> 0;
      shadow[w + 3] = id;
    } else if (shadow[w + 3] !== id) {
      this.#desc16[d * 8 + 6] = shadow[w + 3] = id;
    }
  }

  /** The device wrote the used descriptor at `d`: what the ring holds there now. */
  #resync(d: number): void {
    const w = d * 4;
    const words = this.#desc32;
    const shadow = this.#shadow;
    shadow[w] = words[w];
    shadow[w + 1] = words[w + 1];
    shadow[w + 2] = words[w + 2];
    shadow[w + 3] = this.#desc16[d * 8 + 6];
  }

  disableInterrupts(): void {
    disarmEvent(this.#driverEvent);
  }

  enableInterrupts(): boolean {
    // With EVENT_IDX: interrupt when the device marks used the descriptor we read next.
    armEvent(this.#driverEvent, this.#eventIdx, this.#lastUsed, this.#usedWrap);
    // Store->load: the request is ordered before re-reading the ring.
    return !this.hasUsed();
  }

  #fail(code: E, index: number, value: number, detail: string): undefined {
    this.error = new VirtqueueError(code, this.name, index, value, detail);
    return undefined;
  }
}

/** i mod size for 0 <= i < 2 * size, without a division (the queue size is not a power of two). */
const wrapIndex = (i: number, size: number): number => (i >= size ? i - size : i);

/**
 * Writes an indirect table entry (addr, len, flags; the id is unused). Tables are the driver's own memory, which the
 * device only reads, so comparing against them costs no shared line.
 */
const writeTableEntry = (words: Uint32Array, d: number, addr: number, len: number, flags: number): void =>
  storeChangedWords(words, d, addr, len, (flags << 16) >>> 0);
