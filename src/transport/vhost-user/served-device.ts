import type { Features } from '../../virtqueue/features.js';
import type { RingAddresses } from '../../virtqueue/types.js';
import type { SharedRegion } from './memory-table.js';

/** One started queue, as a worker needs it. */
export interface QueueStart {
  index: number;
  size: number;
  addresses: RingAddresses;
  /** Split: the avail idx. Packed: the next descriptor with its wrap counter in bit 15. */
  availBase: number;
  /** The queue's QueueControl array (STOP, CALL_FD, KICK_FD), shared with the back-end's session. */
  control: SharedArrayBuffer;
}

/** What a unit's worker is given: the negotiated features, the memory table, and its queues. */
export interface UnitStart {
  features: Features;
  regions: SharedRegion[];
  queues: QueueStart[];
}

/** What a unit's worker posts when it stops. */
export interface UnitResult {
  failure: string | null;
  /** Per queue of the unit, in order: where reading resumes (GET_VRING_BASE). */
  lastAvailIdx: number[];
  stats: Record<string, unknown>;
}

/** The per-connection half of a served device: which queues run together, and the worker that runs them. */
export interface DeviceSession {
  /**
   * The queues served by one worker together with queue `index` (it among them), in the order the worker wants, under
   * the negotiated features (virtio-net's control queue moves with MQ).
   */
  unitOf(index: number, features: Features): number[];
  /**
   * Where a unit whose queues are all ready runs: a DataPlaneUnit module (runtime/data-plane.ts) and its data, run on
   * the daemon's data-plane threads; or, with `eventLoop`, an AsyncUnitModule (runtime/loop-thread-worker.ts) run on
   * the pool's one event-loop thread (a unit that needs node:net, such as vsock's host sockets). Either returns a
   * UnitResult when its queues' STOP flags are set.
   */
  unit(start: UnitStart): { url: URL; data: unknown; eventLoop?: boolean };
  /** A unit's worker stopped with this result. */
  stopped?(start: UnitStart, result: UnitResult): void;
  /**
   * A last unit, run once the connection has ended and every queue stopped, to release what the device keeps on its
   * units' thread from one start to the next (vsock's connections, which outlive a stopped ring).
   */
  release?(): { url: URL; data: unknown; eventLoop?: boolean };
  /** The connection ended: release what the session holds. */
  close?(): void;
}

/**
 * A device model as the vhost-user back-end serves it: what it offers, its config space, and how its queues map to
 * worker threads. The back-end owns the protocol; this owns the device.
 */
export interface ServedDevice {
  /** For logs: "test", "net". */
  readonly kind: string;
  /** Virtio features offered (VERSION_1, ring and device features; PROTOCOL_FEATURES is added by the back-end). */
  readonly features: Features;
  /** Protocol features the device needs beyond the back-end's own (CONFIG for a config space). */
  readonly protocolFeatures: Features;
  /** Virtqueues the device has. */
  readonly queues: number;
  /** What GET_QUEUE_NUM answers (net: queue pairs, as DPDK and QEMU expect). */
  readonly queueNum: number;
  readonly maxQueueSize: number;
  /** Negotiated features in words, device bits named. */
  describe(features: Features): string;
  /** The config space (GET_CONFIG), or null if the device has none. */
  config(): Uint8Array | null;
  /** A front-end connected: the device's half of that connection, logging to `log`. */
  openSession(log: (line: string) => void): DeviceSession;
}
