// The explainer's model: vqkit's real driver and device queues over one ArrayBuffer of guest memory, stepped one
// operation at a time. It knows no DOM: the page draws what snapshot() decodes from the bytes, and the tests run the
// same steps in Node.
import { GuestMemory } from '../memory/guest-memory.js';
import { createDeviceQueue, createDriverQueue } from '../virtqueue/index.js';
import { describeFeatures, negotiate, RING_FEATURES, ringWants, type Features } from '../virtqueue/features.js';
import { splitRingLayout } from '../virtqueue/split/layout.js';
import { packedRingLayout } from '../virtqueue/packed/layout.js';
import { ScatterList } from '../virtqueue/scatter-list.js';
import type { Chain } from '../virtqueue/chain.js';
import type { RingAddresses, VirtqueueDevice, VirtqueueDriver } from '../virtqueue/types.js';
import type { RuleId } from './rules.js';

export interface ExplainerConfig {
  ring: 'split' | 'packed';
  inOrder: boolean;
  /** With IN_ORDER: one used entry per flushed batch, or one per buffer (as QEMU writes them). */
  usedEntries: 'batched' | 'per-buffer';
  indirect: boolean;
  eventIdx: boolean;
  queueSize: number;
}

export const DEFAULT_CONFIG: ExplainerConfig = {
  ring: 'split',
  inOrder: true,
  usedEntries: 'batched',
  indirect: false,
  eventIdx: false,
  queueSize: 8,
};

/** Bytes of each data segment, and the most segments a buffer may have. */
export const SEGMENT_BYTES = 64;
export const MAX_SEGMENTS = 4;

/** What one step did, for the page's log and the rule it quotes. */
export interface StepResult {
  step: 'add' | 'kick' | 'take' | 'complete' | 'flush' | 'reclaim';
  ok: boolean;
  text: string;
  rules: RuleId[];
}

/** Counters of what each side did; exact, as the engine's own. */
export interface Counters {
  buffersAdded: number;
  /** Descriptors the driver wrote: ring or table descriptors, and indirect table entries. */
  driverDescriptorsWritten: number;
  /** Ring slots the driver wrote: split, avail ring entries; packed, descriptors in the ring. */
  driverRingSlotsWritten: number;
  kicksSent: number;
  kicksSuppressed: number;
  chainsTaken: number;
  buffersUsed: number;
  /** Used entries the device wrote: split, used ring entries; packed, used descriptors (ring slots either way). */
  usedEntriesWritten: number;
  interruptsSent: number;
  interruptsSuppressed: number;
  buffersReclaimed: number;
  usedEntriesRead: number;
}

/** One slot of a ring as its bytes read, and whether the last step changed them. */
export interface Slot {
  index: number;
  fields: Record<string, number>;
  changed: boolean;
}

/** The queue's memory decoded: every value comes from the bytes of guest memory. */
export interface Snapshot {
  config: ExplainerConfig;
  features: string;
  /** Split: descriptor table. Packed: descriptor ring. */
  descriptors: Slot[];
  /** Split: avail ring (flags, idx, used_event) and its entries. Packed: driver event suppression. */
  driverArea: { header: Slot; entries: Slot[] };
  /** Split: used ring (flags, idx, avail_event) and its entries. Packed: device event suppression. */
  deviceArea: { header: Slot; entries: Slot[] };
  /** Packed: the two sides' ring wrap counters and next positions. */
  wrap: { driver: number; driverNext: number; device: number; deviceNext: number } | null;
  counters: Counters;
  /** Buffers added and not yet taken back, taken by the device, completed and not yet published. */
  inFlight: number;
  taken: number;
  completedUnflushed: number;
}

const DATA_BASE = 0x4000;
const INDIRECT_MAX = MAX_SEGMENTS;

/** vqkit's driver and device on one queue, and the bookkeeping the page shows. */
export class QueueModel {
  readonly features: Features;
  readonly memory: GuestMemory;
  readonly addresses: RingAddresses;
  readonly driver: VirtqueueDriver<number>;
  readonly device: VirtqueueDevice;
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  readonly #ringBytes: number;
  /** The ring's bytes before the last step, to mark what it changed. */
  #before: Uint8Array;
  readonly #sg = new ScatterList();
  readonly #taken: Chain[] = [];
  #completedUnflushed = 0;
  /** Ring descriptors completed since the last flush (packed: the device's skip). */
  #completedRingDescs = 0;
  #nextBuffer = 0;
  #reclaimed = 0;
  #driverDescs = 0;
  #driverRingSlots = 0;
  /** Packed: ring descriptors made available and used, counted from the start (their positions and wraps). */
  #availRingDescs = 0;
  #usedRingDescs = 0;

  constructor(readonly config: ExplainerConfig) {
    const packed = config.ring === 'packed';
    this.features = negotiate(
      RING_FEATURES,
      ringWants({ ring: config.ring, inOrder: config.inOrder, indirect: config.indirect, eventIdx: config.eventIdx }),
    );
    const layout = (packed ? packedRingLayout : splitRingLayout)(0, config.queueSize);
    this.addresses = layout.addresses;
    this.#ringBytes = layout.bytes;
    const indirectArea = Math.ceil(layout.bytes / 16) * 16;
    const size = DATA_BASE + config.queueSize * MAX_SEGMENTS * SEGMENT_BYTES;
    if (indirectArea + config.queueSize * INDIRECT_MAX * 16 > DATA_BASE) throw new RangeError('queue too large');
    const buffer = new ArrayBuffer(size);
    this.#bytes = new Uint8Array(buffer);
    this.#view = new DataView(buffer);
    this.memory = new GuestMemory([{ guestAddr: 0, size, buffer }]);
    const queue = {
      name: `${config.ring}.0`,
      size: config.queueSize,
      features: this.features,
      memory: this.memory,
      addresses: this.addresses,
    };
    this.driver = createDriverQueue<number>({
      ...queue,
      indirectArea,
      indirectMax: INDIRECT_MAX,
      autoIndirectAbove: 1,
    });
    this.device = createDeviceQueue({ ...queue, usedEntries: config.usedEntries });
    this.#before = this.#bytes.slice(0, this.#ringBytes);
  }

  /** The driver adds a buffer of `segments` segments (the first device-readable, the rest device-writable). */
  add(segments: number): StepResult {
    this.#mark();
    const n = Math.max(1, Math.min(MAX_SEGMENTS, Math.round(segments)));
    const seq = this.#nextBuffer;
    const slot = seq % this.config.queueSize;
    const sg = this.#sg.reset();
    for (let j = 0; j < n; j++) {
      const addr = DATA_BASE + (slot * MAX_SEGMENTS + j) * SEGMENT_BYTES;
      if (j === 0 && n > 1) sg.addReadable(addr, SEGMENT_BYTES);
      else sg.addWritable(addr, SEGMENT_BYTES);
    }
    const indirect = this.config.indirect && n > 1;
    if (!this.driver.canAdd(sg, indirect ? 'auto' : false)) {
      return { step: 'add', ok: false, text: `driver: no room for buffer #${seq} (${n} descriptors)`, rules: [] };
    }
    const before = this.driver.stats.indirectAdded;
    this.driver.add(sg, seq, indirect ? 'auto' : false);
    const wentIndirect = this.driver.stats.indirectAdded > before;
    const ringDescs = wentIndirect ? 1 : n;
    this.#nextBuffer++;
    this.#driverDescs += wentIndirect ? 1 + n : n;
    this.#driverRingSlots += this.config.ring === 'split' ? 1 : ringDescs;
    const wrapped =
      this.config.ring === 'packed' &&
      Math.floor((this.#availRingDescs + ringDescs) / this.config.queueSize) >
        Math.floor(this.#availRingDescs / this.config.queueSize);
    this.#availRingDescs += ringDescs;
    const rules: RuleId[] = [];
    if (this.config.inOrder && this.config.ring === 'split') rules.push('split-sequential', 'split-next');
    if (this.config.inOrder && wentIndirect) rules.push('indirect-sequential');
    if (wrapped) rules.push('packed-wrap');
    const how = wentIndirect ? `an indirect table of ${n}` : `${n} descriptor${n > 1 ? 's' : ''}`;
    return { step: 'add', ok: true, text: `driver: buffer #${seq} added, ${how} (not yet visible)`, rules };
  }

  /** The driver publishes what it added and notifies the device if the device asked for it. */
  kick(): StepResult {
    this.#mark();
    const notify = this.driver.kickPrepare();
    const rules: RuleId[] = [];
    const text = notify
      ? 'driver: published the new buffers and kicked the device'
      : 'driver: published the new buffers; no kick (the device did not ask for one)';
    return { step: 'kick', ok: true, text, rules };
  }

  /** The device takes the next available chain (or, finding none, asks to be kicked next time). */
  take(): StepResult {
    this.#mark();
    const chain = this.device.pop();
    if (chain === null) {
      const error = this.device.error;
      if (error !== null) return { step: 'take', ok: false, text: `device: ${error.message}`, rules: [] };
      this.device.enableNotifications();
      return { step: 'take', ok: false, text: 'device: nothing available; it asks to be kicked', rules: [] };
    }
    this.device.disableNotifications();
    this.#taken.push(chain);
    const what = this.config.ring === 'split' ? `head ${chain.id}` : `Buffer ID ${chain.id}`;
    return {
      step: 'take',
      ok: true,
      text: `device: took buffer #${chain.seq} (${what}, ${chain.segCount} segment${chain.segCount > 1 ? 's' : ''})`,
      rules: [],
    };
  }

  /** The device completes the oldest chain it took, writing its writable bytes in full. */
  complete(): StepResult {
    this.#mark();
    const chain = this.#taken.shift();
    if (chain === undefined) return { step: 'complete', ok: false, text: 'device: no chain taken', rules: [] };
    const seq = chain.seq;
    const fill = new Uint8Array(chain.writableLength).fill(0xa0 + (seq & 0x1f));
    const written = chain.write(fill);
    this.#completedRingDescs += chain.descCount;
    this.device.complete(chain, written);
    this.#completedUnflushed++;
    const rules: RuleId[] = this.config.inOrder ? ['device-in-order'] : [];
    return { step: 'complete', ok: true, text: `device: completed buffer #${seq}, ${written} bytes written`, rules };
  }

  /** The device publishes its completions (used entries) and interrupts the driver if it asked for it. */
  flush(): StepResult {
    this.#mark();
    const buffers = this.#completedUnflushed;
    const entriesBefore = this.device.stats.usedEntriesWritten;
    const interrupt = this.device.flush();
    const entries = this.device.stats.usedEntriesWritten - entriesBefore;
    this.#completedUnflushed = 0;
    const wrapped =
      this.config.ring === 'packed' &&
      Math.floor((this.#usedRingDescs + this.#completedRingDescs) / this.config.queueSize) >
        Math.floor(this.#usedRingDescs / this.config.queueSize);
    this.#usedRingDescs += this.#completedRingDescs;
    this.#completedRingDescs = 0;
    if (buffers === 0) return { step: 'flush', ok: false, text: 'device: nothing completed to publish', rules: [] };
    const rules: RuleId[] = [];
    if (this.config.inOrder && this.config.usedEntries === 'batched') {
      rules.push(this.config.ring === 'split' ? 'split-batch' : 'packed-batch');
    }
    if (this.config.ring === 'split') rules.push('device-no-desc-write');
    if (wrapped) rules.push('packed-wrap');
    if (this.config.eventIdx) rules.push('event-idx');
    const entryWord = this.config.ring === 'split' ? 'used ring entr' : 'used descriptor';
    const plural =
      entries === 1 ? (this.config.ring === 'split' ? 'y' : '') : this.config.ring === 'split' ? 'ies' : 's';
    const told = interrupt ? 'and interrupted the driver' : 'no interrupt (the driver did not ask for one)';
    return {
      step: 'flush',
      ok: true,
      text: `device: published ${buffers} buffer${buffers > 1 ? 's' : ''} with ${entries} ${entryWord}${plural}, ${told}`,
      rules,
    };
  }

  /** The driver takes back every used buffer, then asks to be interrupted for the next. */
  reclaim(): StepResult {
    this.#mark();
    const entriesBefore = this.driver.stats.usedEntriesRead;
    const got: number[] = [];
    for (let t = this.driver.takeUsed(); t !== undefined; t = this.driver.takeUsed()) got.push(t);
    this.#reclaimed += got.length;
    this.driver.enableInterrupts();
    const entries = this.driver.stats.usedEntriesRead - entriesBefore;
    if (this.driver.error !== null) {
      return { step: 'reclaim', ok: false, text: `driver: ${this.driver.error.message}`, rules: [] };
    }
    if (got.length === 0) return { step: 'reclaim', ok: false, text: 'driver: nothing used yet', rules: [] };
    const rules: RuleId[] = got.length > entries ? ['skipped-in-full'] : [];
    return {
      step: 'reclaim',
      ok: true,
      text: `driver: took back buffers #${got.join(', #')} from ${entries} used entr${entries === 1 ? 'y' : 'ies'}`,
      rules,
    };
  }

  /** A whole round: add `n` buffers (as many as fit), kick, take and complete them all, flush, reclaim. */
  run(n: number, segments: number): StepResult[] {
    const steps: StepResult[] = [];
    for (let i = 0; i < n; i++) {
      const r = this.add(segments);
      steps.push(r);
      if (!r.ok) break;
    }
    steps.push(this.kick());
    for (;;) {
      const r = this.take();
      steps.push(r);
      if (!r.ok) break;
    }
    while (this.#taken.length > 0) steps.push(this.complete());
    steps.push(this.flush());
    steps.push(this.reclaim());
    return steps;
  }

  /** The queue's state, decoded from guest memory. */
  snapshot(): Snapshot {
    const c = this.config;
    const d = this.driver.stats;
    const v = this.device.stats;
    const counters: Counters = {
      buffersAdded: d.buffersAdded,
      driverDescriptorsWritten: this.#driverDescs,
      driverRingSlotsWritten: this.#driverRingSlots,
      kicksSent: d.kicksWanted,
      kicksSuppressed: d.kicksSuppressed,
      chainsTaken: v.chainsPopped,
      buffersUsed: v.buffersUsed,
      usedEntriesWritten: v.usedEntriesWritten,
      interruptsSent: v.interruptsWanted,
      interruptsSuppressed: v.interruptsSuppressed,
      buffersReclaimed: this.#reclaimed,
      usedEntriesRead: d.usedEntriesRead,
    };
    const common = {
      config: { ...c },
      features: describeFeatures(this.features),
      counters,
      inFlight: this.driver.inFlight,
      taken: this.#taken.length,
      completedUnflushed: this.#completedUnflushed,
    };
    return c.ring === 'split' ? { ...common, ...this.#splitAreas() } : { ...common, ...this.#packedAreas() };
  }

  /** The ring's bytes as they are now: what a step compares against to mark changed slots. */
  ringBytes(): Uint8Array {
    return this.#bytes.slice(0, this.#ringBytes);
  }

  #mark(): void {
    this.#before = this.ringBytes();
  }

  #changed(at: number, len: number): boolean {
    for (let i = at; i < at + len; i++) if (this.#bytes[i] !== this.#before[i]) return true;
    return false;
  }

  #slot(index: number, at: number, len: number, fields: Record<string, number>): Slot {
    return { index, fields, changed: this.#changed(at, len) };
  }

  #u64(at: number): number {
    return this.#view.getUint32(at, true) + this.#view.getUint32(at + 4, true) * 2 ** 32;
  }

  /** Every descriptor of the table or ring: 16 bytes, addr and len, then two 16-bit fields named as the layout does. */
  #descriptors(at12: string, at14: string): Slot[] {
    const v = this.#view;
    return Array.from({ length: this.config.queueSize }, (_, i) => {
      const at = this.addresses.desc + 16 * i;
      return this.#slot(i, at, 16, {
        addr: this.#u64(at),
        len: v.getUint32(at + 8, true),
        [at12]: v.getUint16(at + 12, true),
        [at14]: v.getUint16(at + 14, true),
      });
    });
  }

  #splitAreas(): Pick<Snapshot, 'descriptors' | 'driverArea' | 'deviceArea' | 'wrap'> {
    const n = this.config.queueSize;
    const { driver, device } = this.addresses;
    const v = this.#view;
    const descriptors = this.#descriptors('flags', 'next');
    const availHeader = this.#slot(-1, driver, 4, {
      flags: v.getUint16(driver, true),
      idx: v.getUint16(driver + 2, true),
      used_event: v.getUint16(driver + 4 + 2 * n, true),
    });
    const avail = Array.from({ length: n }, (_, i) =>
      this.#slot(i, driver + 4 + 2 * i, 2, { id: v.getUint16(driver + 4 + 2 * i, true) }),
    );
    const usedHeader = this.#slot(-1, device, 4, {
      flags: v.getUint16(device, true),
      idx: v.getUint16(device + 2, true),
      avail_event: v.getUint16(device + 4 + 8 * n, true),
    });
    const used = Array.from({ length: n }, (_, i) => {
      const at = device + 4 + 8 * i;
      return this.#slot(i, at, 8, { id: v.getUint32(at, true), len: v.getUint32(at + 4, true) });
    });
    return {
      descriptors,
      driverArea: { header: availHeader, entries: avail },
      deviceArea: { header: usedHeader, entries: used },
      wrap: null,
    };
  }

  #packedAreas(): Pick<Snapshot, 'descriptors' | 'driverArea' | 'deviceArea' | 'wrap'> {
    const n = this.config.queueSize;
    const { driver, device } = this.addresses;
    const v = this.#view;
    const descriptors = this.#descriptors('id', 'flags');
    const event = (at: number): Slot =>
      this.#slot(-1, at, 4, { off_wrap: v.getUint16(at, true), flags: v.getUint16(at + 2, true) });
    const lap = (count: number): number => Math.floor(count / n);
    return {
      descriptors,
      driverArea: { header: event(driver), entries: [] },
      deviceArea: { header: event(device), entries: [] },
      wrap: {
        driver: 1 ^ (lap(this.#availRingDescs) & 1),
        driverNext: this.#availRingDescs % n,
        device: 1 ^ (lap(this.#usedRingDescs) & 1),
        deviceNext: this.#usedRingDescs % n,
      },
    };
  }
}
