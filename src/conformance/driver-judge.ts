import { Prng } from '../util/prng.js';
import type { BufferBurst } from '../virtqueue/buffer-burst.js';
import type { Chain } from '../virtqueue/chain.js';
import { VirtqueueErrorCode as E, VirtqueueUsageError, type VirtqueueError } from '../virtqueue/errors.js';
import { ringFeatures, type Features } from '../virtqueue/features.js';
import type { DeviceStats, UsedEntryPolicy, VirtqueueDevice } from '../virtqueue/types.js';
import { VerdictBoard } from './board.js';
import type { RuleId } from './rules.js';

/**
 * Legal ways for a device to complete buffers, which `vq check driver` plays against a driver in turn. Each is
 * allowed by the spec; a driver that breaks under one has an interoperability bug, whatever its usual peer does.
 */
export const BEHAVIOURS = {
  'per-buffer': 'one used entry per buffer on every queue (as QEMU writes them)',
  batched: 'IN_ORDER: one used entry per run of buffers completed together, on every queue (receive queues included)',
  'random-batches': 'IN_ORDER: batched used entries, published in groups of random size (1 to 64 buffers)',
  delayed:
    'one used entry per buffer, completions held back while the device keeps taking new buffers and published when it runs out of work',
  'spurious-interrupts':
    'one used entry per buffer, and a notification after every publication, asked for or not (the driver MUST handle them)',
  random: 'each publication picks at random among the above',
} as const;
/** The name of a legal device behaviour (a key of BEHAVIOURS). */
export type Behaviour = keyof typeof BEHAVIOURS;
/** Every behaviour, in the order `vq check driver` plays them. */
export const behaviourNames = Object.keys(BEHAVIOURS) as Behaviour[];
/** What `random` picks from, publication by publication. */
const RANDOM_MODES = behaviourNames.filter((b) => b !== 'random');

/**
 * What a device unit is given in `vq check driver`: where verdicts go, and a few shared counters through which the
 * checker picks the behaviour played now (it changes them phase by phase) and sees the device make progress.
 */
export interface DriverCheck {
  board: SharedArrayBuffer;
  /** Int32Array over CheckCounter slots. */
  counters: SharedArrayBuffer;
  seed: number;
}

/** Slots of DriverCheck.counters. */
export const CheckCounter = {
  /** The behaviour played now: an index into behaviourNames. */
  BEHAVIOUR: 0,
  /** Buffers completed (published used), every queue. */
  COMPLETED: 1,
  /** Device glue: frames delivered to the driver that a forwarding driver should send back (net --expect-echo). */
  DELIVERED: 2,
  /** Device glue: frames the driver sent that match nothing delivered to it (altered on the way through it). */
  ALTERED: 3,
  /** Device glue: the length of the first altered frame. */
  ALTERED_LENGTH: 4,
  LENGTH: 5,
} as const;

/** Fresh DriverCheck.counters (playing per-buffer, nothing counted). */
export const newCheckCounters = (): SharedArrayBuffer => new SharedArrayBuffer(CheckCounter.LENGTH * 4);

/**
 * The used-entry policy a queue is created with: under a check, batched (IN_ORDER), since the judge makes per-buffer
 * entries itself by publishing one buffer at a time.
 */
export function usedEntriesUnder(check: DriverCheck | undefined, fallback: UsedEntryPolicy): UsedEntryPolicy {
  return check === undefined ? fallback : 'batched';
}

/** Which rule a refusal of the device engine says the driver broke. */
function ruleFor(e: VirtqueueError): RuleId {
  switch (e.code) {
    case E.AVAIL_IDX_AHEAD:
      return 'driver.avail-idx';
    case E.TOO_MANY_IN_FLIGHT:
    case E.HEAD_IN_FLIGHT:
    case E.BUFFER_ID_IN_FLIGHT:
      return 'driver.no-reuse';
    case E.IN_ORDER_HEAD_UNEXPECTED:
      return 'driver.in-order-next';
    case E.IN_ORDER_NEXT_UNEXPECTED:
      return e.message.includes('indirect') ? 'driver.in-order-indirect' : 'driver.in-order-next';
    case E.READABLE_AFTER_WRITABLE:
      return 'driver.readable-first';
    default:
      return 'driver.descriptors';
  }
}

/**
 * The device side of a queue in `vq check driver`: it judges what the driver publishes (the engine it wraps refuses
 * every rule broken, with a typed error this names the rule of) and plays a legal device behaviour when it completes
 * buffers. Completions are held back and published in the behaviour's batches; whatever is held is published when
 * the device has nothing new to do, so no behaviour stalls a driver that keeps to the spec.
 */
export class DriverJudge implements VirtqueueDevice {
  readonly #inner: VirtqueueDevice;
  readonly #board: VerdictBoard;
  readonly #queue: number;
  readonly #counters: Int32Array;
  readonly #rng: Prng;
  readonly #inOrder: boolean;
  readonly #packed: boolean;
  /** Completions not published yet, and their written lengths. */
  readonly #held: Chain[] = [];
  readonly #written: number[] = [];
  #newSinceFlush = false;
  #holdUntil = 0;
  #tolerated = 0;
  #errorJudged = false;

  constructor(inner: VirtqueueDevice, check: DriverCheck, queue: number, ring: { inOrder: boolean; packed: boolean }) {
    this.#inner = inner;
    this.#board = new VerdictBoard(check.board);
    this.#queue = queue;
    this.#counters = new Int32Array(check.counters);
    this.#rng = new Prng(check.seed + queue);
    this.#inOrder = ring.inOrder;
    this.#packed = ring.packed;
  }

  get name(): string {
    return this.#inner.name;
  }
  get size(): number {
    return this.#inner.size;
  }
  get features(): Features {
    return this.#inner.features;
  }
  get error(): VirtqueueError | null {
    return this.#inner.error;
  }
  get stats(): DeviceStats {
    return this.#inner.stats;
  }
  get inFlight(): number {
    return this.#inner.inFlight;
  }
  get resumedFromUsed(): { given: number; used: number } | null | undefined {
    return this.#inner.resumedFromUsed;
  }
  get lastAvailIdx(): number {
    return this.#inner.lastAvailIdx;
  }

  pop(): Chain | null {
    const chain = this.#inner.pop();
    if (chain === null) {
      this.#judgeError();
      return null;
    }
    this.#board.checked('driver.avail-idx');
    this.#board.checked('driver.no-reuse');
    this.#board.checked('driver.descriptors');
    if (this.#inOrder && !this.#packed) {
      this.#board.checked(
        chain.descCount === 1 && chain.segCount > 1 ? 'driver.in-order-indirect' : 'driver.in-order-next',
      );
    }
    const tolerated = this.#inner.stats.writeFlagsTolerated;
    if (tolerated === this.#tolerated) {
      this.#board.checked('driver.readable-first');
    } else {
      // A transmit queue read an indirect table whose entries say WRITE before readable ones (net tolerates it).
      this.#tolerated = tolerated;
      this.#board.broken('driver.readable-first', {
        queue: this.#queue,
        index: chain.seq,
        value: chain.id,
        expected: -1,
        detail: `buffer ${chain.seq} (id ${chain.id}): an indirect table with device-writable entries before device-readable ones (read as readable: the queue only reads)`,
      });
    }
    return chain;
  }

  /** None: every buffer is popped as a chain, so it is judged and held like any other. */
  popBurst(_out: BufferBurst, _max: number): number {
    return 0;
  }

  completeBurst(_burst: BufferBurst, _from: number, count: number, _written: ArrayLike<number>): void {
    if (count !== 0) throw new VirtqueueUsageError(`${this.name}: the judge pops no bursts, so none can be completed`);
  }

  complete(chain: Chain, written: number): void {
    // Held until flush(), which publishes as the behaviour says.
    this.#newSinceFlush = true;
    this.#held.push(chain);
    this.#written.push(written);
  }

  /**
   * Publishes what is held, or holds it longer. What the device completed between two of its flush() calls is never
   * split across two publications (a net frame's receive buffers are used together, as virtio-net requires); a
   * publication may join several of them.
   */
  flush(): boolean {
    const idle = !this.#newSinceFlush;
    this.#newSinceFlush = false;
    const behaviour = behaviourNames[Atomics.load(this.#counters, CheckCounter.BEHAVIOUR)] ?? 'per-buffer';
    const mode = behaviour === 'random' ? this.#pickMode() : behaviour;
    const holding = mode === 'delayed' || mode === 'random-batches';
    if (holding && !idle && this.#held.length < this.#holdUntil) return false;
    if (holding) this.#holdUntil = this.#rng.int(1, mode === 'delayed' ? Math.max(1, this.size >> 1) : 64);
    // Only the batching behaviours batch: the others change one thing against per-buffer entries.
    this.#inner.setUsedEntries(mode === 'batched' || mode === 'random-batches' ? 'batched' : 'per-buffer');
    for (let i = 0; i < this.#held.length; i++) this.#inner.complete(this.#held[i], this.#written[i]);
    if (this.#held.length > 0) Atomics.add(this.#counters, CheckCounter.COMPLETED, this.#held.length);
    this.#held.length = 0;
    this.#written.length = 0;
    const interrupt = this.#inner.flush();
    if (mode === 'spurious-interrupts' || (behaviour === 'random' && this.#rng.chance(0.25))) return true;
    return interrupt;
  }

  setUsedEntries(): void {
    // The behaviour played decides.
  }

  hasAvailable(): boolean {
    const r = this.#inner.hasAvailable();
    this.#judgeError();
    return r;
  }

  disableNotifications(): void {
    this.#inner.disableNotifications();
  }

  enableNotifications(): boolean {
    return this.#inner.enableNotifications();
  }

  #pickMode(): Behaviour {
    return RANDOM_MODES[this.#rng.int(0, RANDOM_MODES.length - 1)];
  }

  #judgeError(): void {
    const e = this.#inner.error;
    if (e === null || this.#errorJudged) return;
    this.#errorJudged = true;
    this.#board.refused(ruleFor(e), this.#queue, e);
  }
}

/** The queue as a unit serves it: judged and played when the device runs under `vq check driver`. */
export function judgeDriverOn(queue: VirtqueueDevice, check: DriverCheck | undefined, index: number): VirtqueueDevice {
  return check === undefined ? queue : new DriverJudge(queue, check, index, ringFeatures(queue.features));
}
