/**
 * The rules `vq check` judges a peer by, each with the spec text it comes from (VIRTIO 1.2, oasis-tcs/virtio-spec:
 * content.tex, split-ring.tex, packed-ring.tex). A device under test is judged by vqkit's driver; a driver under test
 * by vqkit's device. MUST rules decide the exit status; SHOULD rules are reported as warnings.
 */

/** Which side of the ring a rule binds. */
export type RuleRole = 'device' | 'driver';
/** MUST rules decide `vq check`'s exit status; a SHOULD rule broken is a warning. */
export type RuleLevel = 'MUST' | 'SHOULD';

/** One rule a peer is judged by, with where it comes from in the spec. */
export interface Rule {
  /** Stable name, used in reports and in --json. */
  readonly id: string;
  readonly role: RuleRole;
  readonly level: RuleLevel;
  /** Where in the spec: the section as the spec's own label names it. */
  readonly section: string;
  /** What the spec says, shortened without changing its sense. */
  readonly text: string;
  /** Only judged when IN_ORDER is negotiated. */
  readonly inOrderOnly?: boolean;
  readonly ring?: 'split' | 'packed';
}

const DESC_TABLE = 'Split Virtqueues / The Virtqueue Descriptor Table';

/** Every rule `vq check` judges, device rules first: its report has one row per rule of the role judged. */
export const RULES = [
  // What a device under test must do (judged by `vq check device`).
  {
    id: 'device.in-order',
    role: 'device',
    level: 'MUST',
    section: 'Reserved Feature Bits (device requirements)',
    text: 'If VIRTIO_F_IN_ORDER has been negotiated, a device MUST use buffers in the same order in which they have been available.',
    inOrderOnly: true,
  },
  {
    id: 'device.split-batch',
    role: 'device',
    level: 'MUST',
    section: 'Split Virtqueues / In-order use of descriptors',
    text: 'A batch is one used entry with the id of the head of the last buffer, at the offset of the first buffer of the batch; used idx advances by the batch size.',
    inOrderOnly: true,
    ring: 'split',
  },
  {
    id: 'device.packed-batch',
    role: 'device',
    level: 'MUST',
    section: 'Packed Virtqueues / In-order use of descriptors',
    text: 'A batch is one used descriptor with the Buffer ID of the last buffer, overwriting the first available descriptor of the batch; the device then skips forward by the batch (wrap counter flipped at the end).',
    inOrderOnly: true,
    ring: 'packed',
  },
  {
    id: 'device.used-available-only',
    role: 'device',
    level: 'MUST',
    section: 'Packed Virtqueues / The Virtqueue Descriptor Table (device); Split Virtqueues / The Virtqueue Used Ring',
    text: 'A device MUST NOT use a descriptor unless it observes it available: every used id names a buffer the driver made available and the device has not used yet.',
  },
  {
    id: 'device.used-len',
    role: 'device',
    level: 'MUST',
    section: 'Split Virtqueues / The Virtqueue Used Ring (device)',
    text: 'The device MUST write at least len bytes to descriptor, beginning at the first device-writable buffer: len cannot exceed the writable bytes.',
  },
  {
    id: 'device.no-write-readable',
    role: 'device',
    level: 'MUST',
    section: `${DESC_TABLE} (device)`,
    text: 'A device MUST NOT write to a device-readable buffer.',
  },
  {
    id: 'device.notify',
    role: 'device',
    level: 'MUST',
    section: 'Split Virtqueues / Used Buffer Notification Suppression (device)',
    text: 'Without EVENT_IDX: if flags is 0, the device MUST send a notification. With EVENT_IDX: if used idx passes used_event, the device MUST send a notification.',
  },
  {
    id: 'device.notify-suppressed',
    role: 'device',
    level: 'SHOULD',
    section: 'Split Virtqueues / Used Buffer Notification Suppression (device)',
    text: 'With EVENT_IDX, the device SHOULD NOT send a notification unless used idx passed used_event.',
  },
  {
    id: 'device.payload',
    role: 'device',
    level: 'MUST',
    section: 'Device Types (the device type under test)',
    text: 'What the device writes is what its device type defines: the test pattern, the frames sent, the stream written.',
  },
  // What a driver under test must do (judged by `vq check driver`).
  {
    id: 'driver.in-order-next',
    role: 'driver',
    level: 'MUST',
    section: `${DESC_TABLE} (driver)`,
    text: 'If VIRTIO_F_IN_ORDER has been negotiated, a descriptor with NEXT at offset x MUST have next x + 1 (0 for the last in the table); the driver uses descriptors in ring order from offset 0, wrapping.',
    inOrderOnly: true,
    ring: 'split',
  },
  {
    id: 'driver.in-order-indirect',
    role: 'driver',
    level: 'MUST',
    section: `${DESC_TABLE} / Indirect Descriptors (driver)`,
    text: 'If VIRTIO_F_IN_ORDER has been negotiated, indirect descriptors MUST appear sequentially, with next 1 for the 1st descriptor, 2 for the 2nd, etc.',
    inOrderOnly: true,
    ring: 'split',
  },
  {
    id: 'driver.avail-idx',
    role: 'driver',
    level: 'MUST',
    section: 'Split Virtqueues / The Virtqueue Available Ring (driver)',
    text: 'A driver MUST NOT decrement the available idx, and cannot make more buffers available than the queue holds.',
  },
  {
    id: 'driver.no-reuse',
    role: 'driver',
    level: 'MUST',
    section: 'Packed Virtqueues / The Virtqueue Descriptor Table (driver); Split Virtqueues / Supplying Buffers',
    text: 'A driver MUST NOT change a descriptor (or reuse a Buffer ID) the device has not used yet.',
  },
  {
    id: 'driver.readable-first',
    role: 'driver',
    level: 'MUST',
    section: 'Split Virtqueues / Message Framing (driver); Packed Virtqueues / Scatter-Gather Support (driver)',
    text: 'The driver MUST place any device-writable descriptor elements after any device-readable descriptor elements.',
  },
  {
    id: 'driver.descriptors',
    role: 'driver',
    level: 'MUST',
    section: `${DESC_TABLE} and Indirect Descriptors (driver)`,
    text: 'Descriptors stay inside the table and guest memory; chains no longer than the queue, no loops; INDIRECT only if negotiated, never with NEXT, never nested.',
  },
] as const satisfies readonly Rule[];

/** A rule's name, as reports print it (`device.in-order`, `driver.readable-first`, ...). */
export type RuleId = (typeof RULES)[number]['id'];

/** A rule's place in RULES (its slot on a verdict board). */
export const ruleIndex = (id: RuleId): number => RULES.findIndex((r) => r.id === id);

/** One entry of RULES, with its id typed. */
export type KnownRule = (typeof RULES)[number];

/** The rules of one role, in report order. */
export const rulesFor = (role: RuleRole): KnownRule[] => RULES.filter((r) => r.role === role);
