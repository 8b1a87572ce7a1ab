import type { GuestMemory } from '../memory/guest-memory.js';
import { drainEventFd, waitReadableSync } from '../os/eventfd.js';
import { PVIRTQ_DESC_OFF_FLAGS, PVIRTQ_DESC_OFF_ID, PVIRTQ_DESC_SIZE, isUsed } from '../spec/packed.js';
import { VIRTQ_AVAIL_OFF_IDX, VIRTQ_AVAIL_OFF_RING, VIRTQ_USED_OFF_RING, VIRTQ_USED_ELEM_SIZE } from '../spec/split.js';
import { VirtqueueErrorCode as E, type VirtqueueError } from '../virtqueue/errors.js';
import { ringFeatures } from '../virtqueue/features.js';
import { ScatterList, checkBurst } from '../virtqueue/scatter-list.js';
import type {
  DriverQueueConfig,
  DriverStats,
  IndirectChoice,
  RingAddresses,
  VirtqueueDriver,
} from '../virtqueue/types.js';
import type { VerdictBoard } from './board.js';
import type { RuleId } from './rules.js';
import { FNV_OFFSET, fnv1a } from '../util/fnv.js';

/** A buffer the driver made available, as the ring shows it: where it sits. */
interface Published {
  /** Split: the head descriptor. Packed: the Buffer ID. */
  id: number;
  /** Split: the avail (and, in order, used) slot. Packed: the first descriptor's position. */
  slot: number;
  /** Packed: the wrap counter at `slot`. */
  wrap: number;
}

/**
 * Split IN_ORDER: what the judge writes into a buffer's used slot before publishing the buffer. A device writes used
 * slots and never reads them; a slot that still holds the marker when used idx covers it was not written (a batch
 * skips every slot but its first), and one that lost it was written.
 */
export const UNWRITTEN = 0xffffffff;

/** What the judge remembers of a buffer's device-readable bytes, to see that the device left them alone. */
interface Readable {
  addrs: number[];
  lens: number[];
  sum: number;
}

/** FNV-1a over the buffer's readable segments. */
function readableSum(memory: GuestMemory, addrs: readonly number[], lens: readonly number[]): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < addrs.length; i++) h = fnv1a(h, memory.translate(addrs[i], lens[i]));
  return h;
}

/**
 * The driver side of a queue that judges the device it talks to (`vq check device`). It drives the ring through the
 * engine it wraps, whose typed errors name what the device broke, and looks at the raw ring beside it for what the
 * engine takes on trust: bytes of device-readable buffers changed, a used entry written into a slot an IN_ORDER batch
 * skipped (a buffer used after the batch that claimed it), a packed batch's used descriptor at the wrong place.
 */
export class DeviceJudge<T> implements VirtqueueDriver<T> {
  readonly #inner: VirtqueueDriver<T>;
  readonly #board: VerdictBoard;
  readonly #queue: number;
  readonly #memory: GuestMemory;
  readonly #addresses: RingAddresses;
  readonly #inOrder: boolean;
  readonly #packed: boolean;
  readonly #eventIdx: boolean;
  readonly #readable = new Map<T, Readable>();
  readonly #burstList = new ScatterList();
  /** IN_ORDER: published buffers not yet taken back, oldest first (used order is available order). */
  readonly #published: Published[] = [];
  /** Split: the avail slot of the next buffer added. Packed: the next descriptor position and its wrap counter. */
  #availSeen = 0;
  #packedPos = 0;
  #packedWrap = 1;
  #errorJudged = false;
  /** enableInterrupts() calls since the driver last drained its call eventfd. */
  #enables = 0;
  /**
   * Until the first wake-up: a ring starts with notifications on and no event index armed (a packed ring's flags
   * ENABLE: every publication may notify), so what came before the driver first armed one is not counted.
   */
  #startInterval = true;

  constructor(inner: VirtqueueDriver<T>, config: DriverQueueConfig, board: VerdictBoard, queue: number) {
    this.#inner = inner;
    this.#board = board;
    this.#queue = queue;
    this.#memory = config.memory;
    this.#addresses = config.addresses;
    const rf = ringFeatures(config.features);
    this.#inOrder = rf.inOrder;
    this.#packed = rf.packed;
    this.#eventIdx = rf.eventIdx;
    this.#availSeen = this.#packed ? 0 : this.#u16(this.#addresses.driver + VIRTQ_AVAIL_OFF_IDX);
  }

  get name(): string {
    return this.#inner.name;
  }
  get size(): number {
    return this.#inner.size;
  }
  get features(): bigint {
    return this.#inner.features;
  }
  get numFree(): number {
    return this.#inner.numFree;
  }
  get inFlight(): number {
    return this.#inner.inFlight;
  }
  get error(): VirtqueueError | null {
    return this.#inner.error;
  }
  get stats(): DriverStats {
    return this.#inner.stats;
  }
  get usedLen(): number {
    return this.#inner.usedLen;
  }

  canAdd(sg: ScatterList, indirect: IndirectChoice): boolean {
    return this.#inner.canAdd(sg, indirect);
  }

  add(sg: ScatterList, token: T, indirect: IndirectChoice): boolean {
    const addrs = sg.addrs.slice(0, sg.readableCount);
    const lens = sg.lens.slice(0, sg.readableCount);
    const free = this.#inner.numFree;
    const added = this.#inner.add(sg, token, indirect);
    if (!added) return false;
    if (addrs.length > 0) this.#readable.set(token, { addrs, lens, sum: readableSum(this.#memory, addrs, lens) });
    if (this.#inOrder) this.#notePublished(free - this.#inner.numFree);
    return true;
  }

  kickPrepare(): boolean {
    return this.#inner.kickPrepare();
  }

  hasUsed(): boolean {
    const r = this.#inner.hasUsed();
    this.#judgeError();
    return r;
  }

  /** One buffer at a time through add(), so every buffer is recorded as add() records it. */
  addBurst(
    addrs: ArrayLike<number>,
    lens: ArrayLike<number>,
    tokens: ArrayLike<T>,
    count: number,
    writable: boolean,
  ): number {
    checkBurst(this.#inner.name, addrs, lens, tokens, count);
    const sg = this.#burstList;
    let n = 0;
    for (; n < count; n++) {
      sg.reset();
      if (writable) sg.addWritable(addrs[n], lens[n]);
      else sg.addReadable(addrs[n], lens[n]);
      if (!this.canAdd(sg, false) || !this.add(sg, tokens[n], false)) break;
    }
    return n;
  }

  /** One buffer at a time, so every completion is judged as takeUsed() judges it. */
  takeUsedBurst(tokens: T[], lens: Uint32Array, max: number): number {
    let n = 0;
    while (n < max) {
      const token = this.takeUsed();
      if (token === undefined) break;
      tokens[n] = token;
      lens[n++] = this.usedLen;
    }
    return n;
  }

  takeUsed(): T | undefined {
    const entries = this.#inner.stats.usedEntriesRead;
    const token = this.#inner.takeUsed();
    this.#judgeError();
    if (token === undefined) return undefined;
    const newEntry = this.#inner.stats.usedEntriesRead !== entries;
    this.#board.checked('device.used-len');
    this.#board.checked('device.used-available-only');
    if (this.#inOrder) this.#takePublished(newEntry);
    const r = this.#readable.get(token);
    if (r !== undefined) {
      this.#readable.delete(token);
      const sum = readableSum(this.#memory, r.addrs, r.lens);
      this.#board.checked('device.no-write-readable');
      if (sum !== r.sum) {
        const index = this.#inner.stats.buffersUsed - 1;
        this.#broken(
          'device.no-write-readable',
          index,
          sum,
          r.sum,
          `the device-readable bytes of used buffer ${index} changed while it was in flight (checksum)`,
        );
      }
    }
    return token;
  }

  disableInterrupts(): void {
    this.#inner.disableInterrupts();
  }

  enableInterrupts(): boolean {
    this.#enables++;
    return this.#inner.enableInterrupts();
  }

  /**
   * The driver drained `count` notifications from its call eventfd. With EVENT_IDX, each used_event the driver set
   * (one per enableInterrupts) is passed once at most, so more notifications than that (and one late one for the
   * used_event before) were not asked for.
   */
  notified(count: number): void {
    if (count > 0) this.#board.checked('device.notify');
    if (this.#startInterval) {
      this.#startInterval = false;
      this.#enables = 0;
      return;
    }
    if (this.#eventIdx) {
      this.#board.checked('device.notify-suppressed');
      // One more may be for a used_event the driver set before its last wake-up (the device read it, then notified).
      const allowed = this.#enables + 1;
      if (count > allowed) {
        this.#broken(
          'device.notify-suppressed',
          this.#inner.stats.buffersUsed,
          count,
          allowed,
          `${count} notifications where at most ${allowed} were due (used_event set ${this.#enables} time(s) since the last wake-up, and one late)`,
        );
      }
    }
    this.#enables = 0;
  }

  /**
   * The driver slept with interrupts enabled and woke without a notification after `waitedMs`: if the device
   * published used buffers meanwhile, it did not notify as the driver asked.
   */
  wokeWithoutNotification(waitedMs: number): void {
    this.#board.checked('device.notify');
    if (!this.#inner.hasUsed()) return;
    this.#broken(
      'device.notify',
      this.#inner.stats.buffersUsed,
      0,
      1,
      `used buffers were published while the driver slept with notifications ${this.#eventIdx ? 'asked for by used_event' : 'enabled (flags 0)'}, and none came in ${waitedMs} ms`,
    );
  }

  /**
   * The run stalled: look at the ring for why the engine sees nothing. Packed IN_ORDER: a used descriptor written
   * at a buffer's place other than the next one the driver reads means the batch was not put at its first place.
   */
  diagnoseStall(): void {
    if (!this.#packed || !this.#inOrder) return;
    for (let k = 1; k < this.#published.length; k++) {
      const p = this.#published[k];
      if (!isUsed(this.#descWord(p.slot, PVIRTQ_DESC_OFF_FLAGS), p.wrap)) continue;
      this.#broken(
        'device.packed-batch',
        p.slot,
        this.#descWord(p.slot, PVIRTQ_DESC_OFF_ID),
        this.#published[0].slot,
        `a used descriptor was written at position ${p.slot} (buffer ${k} of those in flight); the next used descriptor belongs at position ${this.#published[0].slot}, the first of the batch`,
      );
      return;
    }
  }

  /**
   * Notes where the buffer just added sits; split, marks its used slot UNWRITTEN (the buffer is not published yet,
   * so the device cannot be writing that slot).
   */
  #notePublished(descs: number): void {
    const size = this.#inner.size;
    if (this.#packed) {
      const slot = this.#packedPos;
      const last = (slot + descs - 1) % size;
      const id = this.#descWord(last, PVIRTQ_DESC_OFF_ID);
      this.#published.push({ id, slot, wrap: this.#packedWrap });
      this.#packedPos = slot + descs;
      if (this.#packedPos >= size) {
        this.#packedPos -= size;
        this.#packedWrap ^= 1;
      }
      return;
    }
    const slot = this.#availSeen;
    this.#availSeen = (slot + 1) & 0xffff;
    const id = this.#u16(this.#addresses.driver + VIRTQ_AVAIL_OFF_RING + 2 * (slot % size));
    const v = this.#usedView(slot % size);
    v.setUint32(0, UNWRITTEN, true);
    v.setUint32(4, UNWRITTEN, true);
    this.#published.push({ id, slot, wrap: 0 });
  }

  /** IN_ORDER: a buffer came back. A buffer covered by a batch entry must have had its own slot left alone. */
  #takePublished(newEntry: boolean): void {
    const p = this.#published.shift();
    if (p === undefined) return;
    this.#board.checked('device.in-order');
    if (newEntry) return;
    this.#board.checked(this.#packed ? 'device.packed-batch' : 'device.split-batch');
    if (this.#packed) {
      if (!isUsed(this.#descWord(p.slot, PVIRTQ_DESC_OFF_FLAGS), p.wrap)) return;
      this.#broken(
        'device.in-order',
        p.slot,
        this.#descWord(p.slot, PVIRTQ_DESC_OFF_ID),
        p.id,
        `position ${p.slot} was skipped by a batch, yet a used descriptor was written there: buffer ${p.id} was used after the later buffer that ended the batch`,
      );
      return;
    }
    const [id, len] = this.#usedEntry(p.slot % this.#inner.size);
    if (id === UNWRITTEN) return;
    this.#broken(
      'device.in-order',
      p.slot,
      id,
      UNWRITTEN,
      `used slot ${p.slot % this.#inner.size} was skipped by a batch, yet an entry (id ${id}, len ${len}) was written there: a buffer was used after the later buffer that ended the batch`,
    );
  }

  /** Names the rule the device broke when the engine refused what it published (once: the queue is broken now). */
  #judgeError(): void {
    const e = this.#inner.error;
    if (e === null || this.#errorJudged) return;
    this.#errorJudged = true;
    const rule = this.#ruleFor(e);
    if (rule !== null) this.#board.refused(rule, this.#queue, e);
  }

  #ruleFor(e: VirtqueueError): RuleId | null {
    switch (e.code) {
      case E.USED_LEN_TOO_LARGE:
        return 'device.used-len';
      case E.IN_ORDER_BATCH_OVERRUN:
        return 'device.in-order';
      case E.IN_ORDER_BATCH_UNKNOWN_ID:
      case E.USED_ID_OUT_OF_RANGE:
      case E.USED_ID_NOT_IN_FLIGHT:
        if (!this.#inOrder) return 'device.used-available-only';
        if (this.#packed) return 'device.packed-batch';
        // Split: a slot used idx covers but the device never wrote, or an in-flight id further on, means the
        // batch's entry was not put at its first slot.
        return e.value === UNWRITTEN || this.#idFurtherOn(e.index)
          ? 'device.split-batch'
          : 'device.used-available-only';
      case E.USED_IDX_AHEAD:
        return 'device.used-available-only';
      default:
        return null;
    }
  }

  /** Split IN_ORDER: whether a published used slot after `slot` names a buffer still in flight. */
  #idFurtherOn(slot: number): boolean {
    const size = this.#inner.size;
    const usedIdx = this.#u16(this.#addresses.device + 2);
    const inFlight = new Set(this.#published.map((p) => p.id));
    for (let s = (slot + 1) & 0xffff; s !== usedIdx; s = (s + 1) & 0xffff) {
      if (inFlight.has(this.#usedEntry(s % size)[0])) return true;
    }
    return false;
  }

  #broken(rule: RuleId, index: number, value: number, expected: number, detail: string): void {
    this.#board.broken(rule, { queue: this.#queue, index, value, expected, detail });
  }

  #usedView(slot: number): DataView {
    return this.#memory.dataView(this.#addresses.device + VIRTQ_USED_OFF_RING + slot * VIRTQ_USED_ELEM_SIZE, 8);
  }

  #usedEntry(slot: number): [number, number] {
    const v = this.#usedView(slot);
    return [v.getUint32(0, true), v.getUint32(4, true)];
  }

  /** Packed: a 16-bit field (id or flags) of the descriptor at `slot`. */
  #descWord(slot: number, offset: number): number {
    return this.#u16(this.#addresses.desc + slot * PVIRTQ_DESC_SIZE + offset);
  }

  #u16(addr: number): number {
    return this.#memory.dataView(addr, 2).getUint16(0, true);
  }
}

/** How long a judge gives a device to notify after the driver woke to find used buffers and no notification. */
export const NOTIFY_GRACE_MS = 250;

/**
 * After a driver slept on its queues' call eventfds (with interrupts enabled on each): tells each queue's judge how
 * many notifications came, or, for a queue with used buffers and no notification, waits a grace period for one and
 * then judges it missing.
 */
export function judgeWake(
  judges: readonly (DeviceJudge<unknown> | null)[],
  callFds: readonly number[],
  woke: boolean,
): void {
  judges.forEach((judge, i) => {
    const fd = callFds[i];
    if (fd < 0) return;
    if (judge === null) {
      if (woke) drainEventFd(fd);
      return;
    }
    if (woke) {
      judge.notified(drainEventFd(fd));
    } else if (judge.hasUsed()) {
      if (waitReadableSync(fd, NOTIFY_GRACE_MS)) judge.notified(drainEventFd(fd));
      else judge.wokeWithoutNotification(NOTIFY_GRACE_MS);
    }
  });
}
