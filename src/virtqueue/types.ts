import type { GuestMemory } from '../memory/guest-memory.js';
import type { BufferBurst } from './buffer-burst.js';
import type { Chain } from './chain.js';
import type { VirtqueueError } from './errors.js';
import type { Features } from './features.js';
import type { ScatterList } from './scatter-list.js';

/**
 * The three areas of a virtqueue (VIRTIO 1.2 section 2.6), as guest addresses. Split rings call them descriptor
 * table, available ring and used ring; packed rings call them descriptor ring, driver and device event suppression.
 */
export interface RingAddresses {
  desc: number;
  driver: number;
  device: number;
}

/** What every queue, either side and either layout, is created with. */
export interface QueueConfig {
  /** For errors and logs, e.g. "test.0". */
  name: string;
  size: number;
  /** The negotiated feature set: the only source of ring behaviour. */
  features: Features;
  memory: GuestMemory;
  addresses: RingAddresses;
}

/** What the driver side of a queue is created with. */
export interface DriverQueueConfig extends QueueConfig {
  /**
   * Guest memory the driver may use for indirect tables: `size` tables of `indirectMax` descriptors each, at
   * `indirectArea`. Without it, add() never uses indirect descriptors.
   */
  indirectArea?: number;
  indirectMax?: number;
  /** add(..., 'auto') uses an indirect table for buffers of more than this many segments (default 1). */
  autoIndirectAbove?: number;
}

/** Whether add() uses an indirect table: always, never, or by segment count (DriverQueueConfig.autoIndirectAbove). */
export type IndirectChoice = boolean | 'auto';

/** How a device writes used entries under IN_ORDER: one per flushed run of buffers, or one per buffer. */
export type UsedEntryPolicy = 'batched' | 'per-buffer';

/** What the device side of a queue is created with. */
export interface DeviceQueueConfig extends QueueConfig {
  /**
   * With IN_ORDER: 'batched' (default) writes one used entry per run of completions flushed together, as the spec
   * allows; 'per-buffer' writes one per buffer, as QEMU does. Ignored without IN_ORDER.
   */
  usedEntries?: UsedEntryPolicy;
  /**
   * A queue whose buffers the device only reads (a net transmit queue) may tolerate one known driver mistake: WRITE
   * flags left set in the entries of an indirect table (DPDK 22.11's packed virtio-user leaves them on the net header
   * and on other entries; docs/net.md). The table is then read as device-readable throughout, and counted in
   * `stats.writeFlagsTolerated`. Off by default: anywhere else "writable, then readable" breaks the queue.
   */
  readOnlyIndirectTables?: boolean;
}

/** Exact counts of what the driver side did; counters are exact where clocks are noisy. */
export interface DriverStats {
  buffersAdded: number;
  buffersUsed: number;
  indirectAdded: number;
  /** Used entries read from the ring (less than buffersUsed when the device batches under IN_ORDER). */
  usedEntriesRead: number;
  /** kickPrepare() calls that published new buffers and asked for a notification... */
  kicksWanted: number;
  /** ...and those that published new buffers but were told not to notify. */
  kicksSuppressed: number;
}

/** Exact counts of what the device side did. */
export interface DeviceStats {
  chainsPopped: number;
  buffersUsed: number;
  usedEntriesWritten: number;
  /** flush() calls that published at least one buffer. */
  flushes: number;
  interruptsWanted: number;
  interruptsSuppressed: number;
  /** Indirect tables with WRITE flags read as device-readable (DeviceQueueConfig.readOnlyIndirectTables). */
  writeFlagsTolerated: number;
}

/**
 * The driver side of one virtqueue, whatever its layout. Peer input never throws: a bad used ring marks the queue
 * broken, sets `error`, and every later call returns nothing.
 */
export interface VirtqueueDriver<T> {
  readonly name: string;
  readonly size: number;
  readonly features: Features;
  /** Free descriptors. */
  readonly numFree: number;
  /** Buffers added and not yet taken back. */
  readonly inFlight: number;
  readonly error: VirtqueueError | null;
  readonly stats: DriverStats;

  /** Whether `sg` fits now, directly or (if `indirect` and possible) through an indirect table. */
  canAdd(sg: ScatterList, indirect: IndirectChoice): boolean;
  /**
   * Make a buffer available to the device (not yet visible: see kickPrepare). With `indirect` (or 'auto' and more
   * segments than the threshold) and INDIRECT_DESC negotiated, it goes through an indirect table. `token` (not
   * undefined) comes back from takeUsed(). Returns false if the queue is broken; throws VirtqueueUsageError if the
   * buffer does not fit (check canAdd).
   */
  add(sg: ScatterList, token: T, indirect: IndirectChoice): boolean;
  /**
   * Makes up to `count` buffers of one segment each available at once: buffer i is `lens[i]` bytes at guest address
   * `addrs[i]`, device-writable if `writable` (else device-readable), with token `tokens[i]`. Returns how many were
   * added: fewer when the ring fills, 0 when the queue is broken. Cheaper per buffer than add(): no scatter list, and
   * room is checked once. Not visible until kickPrepare(); throws VirtqueueUsageError, adding none, on a bad segment
   * or an undefined token.
   */
  addBurst(
    addrs: ArrayLike<number>,
    lens: ArrayLike<number>,
    tokens: ArrayLike<T>,
    count: number,
    writable: boolean,
  ): number;
  /** Publish the buffers added since the last call; true if the device asked to be notified of them. */
  kickPrepare(): boolean;
  /** The next used buffer's token, oldest first under IN_ORDER, or undefined. Its written length is `usedLen`. */
  takeUsed(): T | undefined;
  /** Bytes the device wrote into the buffer last returned by takeUsed(). */
  readonly usedLen: number;
  /**
   * Takes back up to `max` used buffers in one call: their tokens into `tokens` and written lengths into `lens`,
   * from index 0; returns how many (0 when none, or when the queue is broken). Under IN_ORDER a batch the device
   * reported with one used entry comes back without a ring read or a call per buffer.
   */
  takeUsedBurst(tokens: T[], lens: Uint32Array, max: number): number;
  /** Whether takeUsed() would return a buffer now. */
  hasUsed(): boolean;
  /** Ask the device not to interrupt (a hint: one more interrupt may still come). */
  disableInterrupts(): void;
  /**
   * Ask the device to interrupt on the next used buffer. Returns true if it is safe to wait for that interrupt, false
   * if used buffers are already pending (the re-check that prevents a lost wake-up).
   */
  enableInterrupts(): boolean;
}

/**
 * The device side of one virtqueue, whatever its layout. Peer input never throws: a bad available ring or descriptor
 * marks the queue broken, sets `error`, and pop() returns null from then on.
 */
export interface VirtqueueDevice {
  readonly name: string;
  readonly size: number;
  readonly features: Features;
  readonly error: VirtqueueError | null;
  readonly stats: DeviceStats;
  /** Chains popped and not yet completed. */
  readonly inFlight: number;
  /**
   * Split only: set when the resume point given was not the used idx in guest memory, which the ring resumed from
   * (a front-end reconnecting after a back-end restart gives a base it never tracked).
   */
  readonly resumedFromUsed?: { given: number; used: number } | null;
  /** Where reading resumes (vhost-user GET_VRING_BASE): split, the avail idx; packed, the position | wrap << 15. */
  readonly lastAvailIdx: number;

  /** The next available chain, or null (none available, or broken: see `error`). */
  pop(): Chain | null;
  /**
   * Mark a chain used with `written` bytes. Under IN_ORDER chains must be completed in the order they were popped
   * (VirtqueueUsageError otherwise). The chain returns to the pool: do not touch it afterwards.
   */
  complete(chain: Chain, written: number): void;
  /**
   * Pops up to `max` available buffers that are one direct descriptor each into `out` (from its entry 0, at most its
   * capacity), checked as pop() checks them; stops before a buffer that is a chain or an indirect table, which pop()
   * then takes. Returns how many (also `out.count`): 0 if none is available, the next needs pop(), or the queue is
   * broken. A bad descriptor breaks the queue as in pop(); the buffers before it are still returned.
   */
  popBurst(out: BufferBurst, max: number): number;
  /**
   * Marks buffers `from` .. `from + count - 1` of `burst` used, buffer i with `written[i]` bytes, as complete() does
   * one chain (under IN_ORDER in popped order, mixed with chains by their place in it). Misuse throws
   * VirtqueueUsageError before any is completed.
   */
  completeBurst(burst: BufferBurst, from: number, count: number, written: ArrayLike<number>): void;
  /** Publish completed buffers; true if the driver asked to be interrupted for them. */
  flush(): boolean;
  /**
   * With IN_ORDER: from the next completion on, write used entries batched or one per buffer (DeviceQueueConfig.
   * usedEntries). Only between flushes: VirtqueueUsageError while completions are pending.
   */
  setUsedEntries(policy: UsedEntryPolicy): void;
  /** Whether pop() would return a chain now. */
  hasAvailable(): boolean;
  /** Ask the driver not to kick (a hint). */
  disableNotifications(): void;
  /** Ask for a kick on the next available buffer. True if safe to wait for it; false if buffers are already there. */
  enableNotifications(): boolean;
}
