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
import { VirtqueueError, VirtqueueErrorCode as E, VirtqueueUsageError } from '../errors.js';
import { storeChangedWords } from '../descriptor-words.js';
import { InFlightBuffers } from '../in-flight.js';
import { ringFeatures, type Features } from '../features.js';
import { checkQueueSize, ringView } from '../ring-views.js';
import { newDriverStats } from '../stats.js';
import { checkBurst, type ScatterList } from '../scatter-list.js';
import type { DriverQueueConfig, DriverStats, IndirectChoice, VirtqueueDriver } from '../types.js';

/**
 * The driver side of a split virtqueue (VIRTIO 1.2 section 2.7).
 *
 * Everything the driver needs to take a buffer back (its descriptors, writable length, token) lives in shadow arrays
 * here, never re-read from shared memory: the device may scribble on the descriptor table. With IN_ORDER, descriptors
 * are allocated in ring order (next = x + 1, wrapping), so no free list is kept, and one used entry may complete a
 * whole batch: every in-flight buffer up to and including the one it names.
 */
export class SplitDriver<T> implements VirtqueueDriver<T> {
  readonly name: string;
  readonly size: number;
  readonly features: Features;
  readonly stats: DriverStats = newDriverStats();
  error: VirtqueueError | null = null;
  usedLen = 0;

  readonly #mask: number;
  readonly #inOrder: boolean;
  readonly #eventIdx: boolean;
  /** Descriptor table, 4 words per descriptor: addr lo, addr hi, len, flags | next << 16. */
  readonly #desc: Uint32Array;
  /** avail: [flags, idx, ring[size], used_event]. */
  readonly #avail: Uint16Array;
  /** used as 16-bit words: [flags, idx, ..., avail_event at 2 + 4 * size]. */
  readonly #used16: Uint16Array;
  /** used as 32-bit words: element i is id at 1 + 2i, len at 2 + 2i. */
  readonly #used32: Uint32Array;
  readonly #usedEventAt: number;
  readonly #availEventAt: number;

  /** The driver's own record of each in-flight buffer, by head descriptor. */
  readonly #buffers: InFlightBuffers<T>;
  /** Free-list links and each chain's last descriptor (without IN_ORDER). */
  readonly #next: Uint16Array;
  readonly #last: Uint16Array;

  #freeHead = 0;
  /** Shadow of avail idx, and its value at the last kickPrepare(). */
  #availIdx = 0;
  #kickedIdx = 0;
  /** Next used ring index to read, and the device's used idx as last loaded. */
  #lastUsed = 0;
  #usedIdx = 0;
  #interruptsEnabled = true;

  // IN_ORDER: allocation cursor and oldest in-flight buffer.
  #nextDesc = 0;
  #oldestHead = 0;

  /** Indirect tables, `indirectMax` descriptors for each head, as 32-bit words. */
  readonly #indirect: Uint32Array | null;
  readonly #indirectArea: number;
  readonly #indirectMax: number;
  readonly #autoIndirectAbove: number;

  constructor(config: DriverQueueConfig) {
    const { name, size, memory, addresses, features } = config;
    checkQueueSize(name, size, VIRTQ_SPLIT_MAX_SIZE, true);
    const rf = ringFeatures(features);
    if (rf.packed) throw new VirtqueueUsageError(`${name}: RING_PACKED negotiated; use the packed driver`);
    this.name = name;
    this.size = size;
    this.features = features;
    this.#mask = size - 1;
    this.#inOrder = rf.inOrder;
    this.#eventIdx = rf.eventIdx;
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

    this.#buffers = new InFlightBuffers<T>(size, this.stats);
    this.#next = new Uint16Array(size);
    this.#last = new Uint16Array(size);
    for (let i = 0; i < size - 1; i++) this.#next[i] = i + 1;

    this.#autoIndirectAbove = config.autoIndirectAbove ?? 1;
    const indirectMax = Math.min(config.indirectMax ?? 0, size);
    if (rf.indirect && config.indirectArea !== undefined && indirectMax > 0) {
      const bytes = size * indirectMax * VIRTQ_DESC_SIZE;
      this.#indirect = ringView(
        name,
        memory,
        'indirect tables',
        config.indirectArea,
        bytes,
        VIRTQ_DESC_ALIGN,
        Uint32Array,
      );
      this.#indirectArea = config.indirectArea;
      this.#indirectMax = indirectMax;
    } else {
      this.#indirect = null;
      this.#indirectArea = 0;
      this.#indirectMax = 0;
    }
    // A fresh ring: nothing available, interrupts wanted.
    Atomics.store(this.#avail, 0, 0);
    Atomics.store(this.#avail, this.#usedEventAt, 0);
    Atomics.store(this.#avail, 1, 0);
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
    return sg.count > 0 && this.#buffers.numFree >= (this.#usesIndirect(sg, indirect) ? 1 : sg.count);
  }

  add(sg: ScatterList, token: T, indirect: IndirectChoice): boolean {
    if (this.error !== null) return false;
    if (token === undefined) throw new VirtqueueUsageError(`${this.name}: a buffer's token must not be undefined`);
    const n = sg.count;
    const viaTable = this.#usesIndirect(sg, indirect);
    const ringDescs = viaTable ? 1 : n;
    if (n === 0) throw new VirtqueueUsageError(`${this.name}: a buffer needs at least one segment`);
    if (ringDescs > this.#buffers.numFree) {
      throw new VirtqueueUsageError(`${this.name}: ${ringDescs} descriptors needed, ${this.#buffers.numFree} free`);
    }
    const desc = this.#desc;
    const head = this.#inOrder ? this.#nextDesc : this.#freeHead;
    let last: number;
    if (viaTable) {
      const table = this.#indirect!;
      const base = head * this.#indirectMax;
      for (let i = 0; i < n; i++) {
        let flags = i >= sg.readableCount ? VIRTQ_DESC_F_WRITE : 0;
        if (i < n - 1) flags |= VIRTQ_DESC_F_NEXT;
        // Table entries chain sequentially (1, 2, ...), which IN_ORDER requires and costs nothing otherwise.
        writeDesc(table, base + i, sg.addrs[i], sg.lens[i], flags, i + 1);
      }
      const tableAddr = this.#indirectArea + base * VIRTQ_DESC_SIZE;
      writeDesc(desc, head, tableAddr, n * VIRTQ_DESC_SIZE, VIRTQ_DESC_F_INDIRECT, 0);
      last = head;
      if (this.#inOrder) this.#nextDesc = (head + 1) & this.#mask;
      else this.#freeHead = this.#next[head];
      this.stats.indirectAdded++;
    } else {
      let d = head;
      last = head;
      for (let i = 0; i < n; i++) {
        const following = this.#inOrder ? (d + 1) & this.#mask : this.#next[d];
        let flags = i >= sg.readableCount ? VIRTQ_DESC_F_WRITE : 0;
        if (i < n - 1) flags |= VIRTQ_DESC_F_NEXT;
        writeDesc(desc, d, sg.addrs[i], sg.lens[i], flags, following);
        last = d;
        d = following;
      }
      if (this.#inOrder) this.#nextDesc = d;
      else this.#freeHead = d;
    }
    this.#buffers.add(head, token, ringDescs, sg.writableLength);
    this.#last[head] = last;
    const slot = 2 + (this.#availIdx & this.#mask);
    // Under IN_ORDER a driver that recycles buffers in order republishes the same heads and descriptors each lap:
    // skipping a store of an unchanged value keeps that cache line shared with the device instead of stealing it.
    if (this.#avail[slot] !== head) this.#avail[slot] = head;
    this.#availIdx = (this.#availIdx + 1) & 0xffff;
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
    const room = Math.min(count, buffers.numFree);
    checkBurst(this.name, addrs, lens, tokens, room);
    const desc = this.#desc;
    const avail = this.#avail;
    const flags = writable ? VIRTQ_DESC_F_WRITE : 0;
    let idx = this.#availIdx;
    for (let i = 0; i < room; i++) {
      const head = this.#inOrder ? this.#nextDesc : this.#freeHead;
      const following = this.#inOrder ? (head + 1) & this.#mask : this.#next[head];
      writeDesc(desc, head, addrs[i], lens[i], flags, following);
      if (this.#inOrder) this.#nextDesc = following;
      else this.#freeHead = following;
      buffers.place(head, tokens[i], 1, writable ? lens[i] : 0, i);
      this.#last[head] = head;
      // Unchanged heads are not stored again (see add()).
      const slot = 2 + (idx & this.#mask);
      if (avail[slot] !== head) avail[slot] = head;
      idx = (idx + 1) & 0xffff;
    }
    buffers.added(room, room);
    this.#availIdx = idx;
    return room;
  }

  kickPrepare(): boolean {
    const newIdx = this.#availIdx;
    const oldIdx = this.#kickedIdx;
    if (newIdx === oldIdx || this.error !== null) return false;
    this.#kickedIdx = newIdx;
    // Release: the descriptors and ring entries written by add() are visible before the idx that publishes them
    // (Linux: virtio_wmb before avail->idx).
    Atomics.store(this.#avail, 1, newIdx);
    // Store->load: publishing idx is ordered before reading the device's suppression state (Linux: virtio_mb), so
    // either the device's re-check sees the new buffers or we see that it wants a kick.
    const need = this.#eventIdx
      ? needEvent(Atomics.load(this.#used16, this.#availEventAt), newIdx, oldIdx)
      : (Atomics.load(this.#used16, 0) & VIRTQ_USED_F_NO_NOTIFY) === 0;
    if (need) this.stats.kicksWanted++;
    else this.stats.kicksSuppressed++;
    return need;
  }

  hasUsed(): boolean {
    if (this.error !== null) return false;
    if (this.#buffers.batchLeft > 0 || this.#lastUsed !== this.#usedIdx) return true;
    return this.#lastUsed !== Atomics.load(this.#used16, 1);
  }

  takeUsed(): T | undefined {
    if (this.error !== null) return undefined;
    if (this.#buffers.batchLeft > 0) return this.#takeOldest();
    return this.#usedPublished() ? this.#takeEntry() : undefined;
  }

  takeUsedBurst(tokens: T[], lens: Uint32Array, max: number): number {
    const buffers = this.#buffers;
    let n = 0;
    while (n < max) {
      if (buffers.batchLeft > 0 && this.error === null) {
        // IN_ORDER: the rest of the batch at once; their used slots were skipped when its entry was read.
        const k = Math.min(max - n, buffers.batchLeft);
        buffers.takeRun(this.#oldestHead, k, true, tokens, lens, n);
        this.#oldestHead = buffers.nextKey;
        n += k;
        continue;
      }
      const token = this.takeUsed();
      if (token === undefined) break;
      tokens[n] = token;
      lens[n++] = this.usedLen;
    }
    return n;
  }

  /** Whether the device has published a used entry not read yet; loads used idx only when all loaded ones are read. */
  #usedPublished(): boolean {
    const lastUsed = this.#lastUsed;
    if (lastUsed !== this.#usedIdx) return true;
    // Acquire: used entries below the idx were written before it.
    const usedIdx = Atomics.load(this.#used16, 1);
    if (usedIdx === lastUsed) return false;
    const ahead = (usedIdx - lastUsed) & 0xffff;
    if (ahead > this.#buffers.count) {
      this.#fail(E.USED_IDX_AHEAD, lastUsed, usedIdx, `used idx is ${ahead} ahead, ${this.#buffers.count} in flight`);
      return false;
    }
    this.#usedIdx = usedIdx;
    return true;
  }

  /** Reads the published used entry at lastUsed and hands out its buffer (under IN_ORDER, its batch's oldest). */
  #takeEntry(): T | undefined {
    const buffers = this.#buffers;
    const lastUsed = this.#lastUsed;
    const slot = lastUsed & this.#mask;
    const id = this.#used32[1 + 2 * slot];
    const len = this.#used32[2 + 2 * slot];
    this.stats.usedEntriesRead++;
    const problem = buffers.check(id, len, this.#inOrder);
    if (problem !== null) return this.#fail(problem.code, lastUsed, problem.value, problem.detail);
    if (this.#inOrder) {
      // One entry completes every older in-flight buffer too; they all occupy used ring slots.
      const batch = buffers.batchSize(id);
      const published = (this.#usedIdx - lastUsed) & 0xffff;
      if (batch > published) {
        return this.#fail(E.IN_ORDER_BATCH_OVERRUN, lastUsed, id, `batch of ${batch} but only ${published} published`);
      }
      this.#lastUsed = (lastUsed + batch) & 0xffff;
      buffers.startBatch(batch, len);
      return this.#takeOldest();
    }
    this.#lastUsed = (lastUsed + 1) & 0xffff;
    this.#next[this.#last[id]] = this.#freeHead;
    this.#freeHead = id;
    this.usedLen = len;
    return buffers.release(id);
  }

  /** IN_ORDER: hand out the oldest in-flight buffer of the current batch (its descriptors follow in ring order). */
  #takeOldest(): T | undefined {
    const head = this.#oldestHead;
    this.usedLen = this.#buffers.nextInBatch(head);
    this.#oldestHead = (head + this.#buffers.descs(head)) & this.#mask;
    return this.#buffers.release(head);
  }

  disableInterrupts(): void {
    if (!this.#interruptsEnabled) return;
    this.#interruptsEnabled = false;
    // With EVENT_IDX the device ignores avail.flags; used_event is left where it was, so at most one more interrupt.
    if (!this.#eventIdx) Atomics.store(this.#avail, 0, VIRTQ_AVAIL_F_NO_INTERRUPT);
  }

  enableInterrupts(): boolean {
    this.#interruptsEnabled = true;
    if (this.#eventIdx) Atomics.store(this.#avail, this.#usedEventAt, this.#lastUsed);
    else Atomics.store(this.#avail, 0, 0);
    // Store->load: the request above is ordered before re-reading used idx, so either the device sees it or we see
    // the entries it published meanwhile.
    return !this.hasUsed();
  }

  #fail(code: E, index: number, value: number, detail: string): undefined {
    this.error = new VirtqueueError(code, this.name, index, value, detail);
    return undefined;
  }
}

/** Writes a split descriptor (flags and next in its last word), storing only the words that changed (see add()). */
const writeDesc = (words: Uint32Array, d: number, addr: number, len: number, flags: number, next: number): void =>
  storeChangedWords(words, d, addr, len, (flags | (next << 16)) >>> 0);
