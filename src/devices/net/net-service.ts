import { FrameRing } from './frame-ring.js';
import type { DriverCheck } from '../../conformance/driver-judge.js';
import { formatMac } from './frame.js';
import { NetState } from './net-state.js';
import { SwitchTable } from './switch-table.js';
import { EventFd } from '../../os/eventfd.js';
import { Tap } from '../../os/tap.js';
import {
  NET_CONFIG_MAC,
  NET_CONFIG_MAX_VIRTQUEUE_PAIRS,
  NET_CONFIG_MTU,
  NET_CONFIG_SIZE,
  NET_CONFIG_STATUS,
  NET_FEATURE_NAMES,
  VIRTIO_NET_F_CTRL_MAC_ADDR,
  VIRTIO_NET_F_CTRL_RX,
  VIRTIO_NET_F_CTRL_VQ,
  VIRTIO_NET_F_MAC,
  VIRTIO_NET_F_MQ,
  VIRTIO_NET_F_MRG_RXBUF,
  VIRTIO_NET_F_MTU,
  VIRTIO_NET_F_STATUS,
  VIRTIO_NET_S_LINK_UP,
  ctrlQueueIndex,
  maxFrameSize,
} from '../../spec/net.js';
import { VhostUserProtocolFeature as P } from '../../spec/vhost-user.js';
import { describeFeatures, featureMask, hasFeature, type Features } from '../../virtqueue/features.js';
import type { UsedEntryPolicy } from '../../virtqueue/types.js';
import { compiledWorkerUrl } from '../../runtime/worker-url.js';
import type { NetWorkerBackend, NetWorkerInput } from './net-unit.js';
import type { DeviceSession, ServedDevice, UnitResult, UnitStart } from '../../transport/vhost-user/served-device.js';

/**
 * How receive-queue completions are reported under IN_ORDER. 'auto' is one used entry per buffer: DPDK's in-order
 * receive paths (split and packed) read every used entry, so skipped ones lose frames (docs/net.md has the evidence).
 * Transmit queues always batch: their buffers are consumed whole, and every driver tested takes that.
 */
export type RxUsedEntries = UsedEntryPolicy | 'auto';

/** Where a port's frames go. */
export type NetBackend =
  | { kind: 'loop' }
  | { kind: 'sink' }
  /** Each frame copied out of guest memory into a buffer of a small pool, then dropped: DPDK's work per frame. */
  | { kind: 'copy' }
  | { kind: 'tap'; name: string }
  | { kind: 'switch'; switch: NetSwitch };

/** What the net device offers and where its frames go. */
export interface NetServiceOptions {
  /** Ring features offered with VERSION_1 (IN_ORDER, RING_PACKED, INDIRECT_DESC, EVENT_IDX as wanted). */
  ringFeatures: Features;
  mac: Uint8Array;
  mtu: number;
  pairs: number;
  /** Offer VIRTIO_NET_F_MRG_RXBUF. */
  mergeable: boolean;
  backend: NetBackend;
  pcapFd: number;
  maxQueueSize: number;
  rxUsedEntries: RxUsedEntries;
  /** Under `vq check driver`: judge the driver and play a device behaviour on every queue. */
  check?: DriverCheck;
  /** Under `vq check driver`: the driver forwards what it receives (testpmd io), so its frames are judged as echoes. */
  expectEcho?: boolean;
  /** For logs: "net0". */
  name: string;
}

/** Frames the loop backend holds between transmit and receive, per queue pair. */
const LOOP_SLOTS = 256;
/** Frames a switch port's inbox holds. */
const INBOX_SLOTS = 512;

/** A learning L2 switch joining the ports of one daemon: a shared forwarding table and one inbox per port. */
export class NetSwitch {
  /** @internal */
  readonly table = new SwitchTable();
  /** @internal */
  readonly inboxes: FrameRing[] = [];
  /** @internal */
  readonly wakeups: EventFd[] = [];

  constructor(readonly slotBytes: number) {}

  /** A new port's number. */
  addPort(): number {
    this.inboxes.push(FrameRing.create(INBOX_SLOTS, this.slotBytes, true));
    this.wakeups.push(EventFd.create());
    return this.inboxes.length - 1;
  }

  /** Releases the inboxes' wake-up eventfds (after every port using the switch has closed). */
  close(): void {
    this.wakeups.forEach((e) => e.close());
  }
}

/**
 * The virtio-net device (id 1) as a vhost-user back-end: N queue pairs, each pair's data path in its own worker, and
 * a control queue in another. Offers MAC, MTU, STATUS, MRG_RXBUF, CTRL_VQ (RX mode, MAC filter and address, MQ) and
 * MQ when N > 1; no offloads.
 */
export class NetService implements ServedDevice {
  readonly kind = 'net';
  readonly protocolFeatures = featureMask(P.CONFIG);
  readonly features: Features;
  /** @internal the device's state, shared with its units */
  readonly state: NetState;
  readonly #port: number;
  readonly #tap: Tap | null;

  constructor(readonly o: NetServiceOptions) {
    const bits = [
      VIRTIO_NET_F_MAC,
      VIRTIO_NET_F_MTU,
      VIRTIO_NET_F_STATUS,
      VIRTIO_NET_F_CTRL_VQ,
      VIRTIO_NET_F_CTRL_RX,
      VIRTIO_NET_F_CTRL_MAC_ADDR,
    ];
    if (o.mergeable) bits.push(VIRTIO_NET_F_MRG_RXBUF);
    if (o.pairs > 1) bits.push(VIRTIO_NET_F_MQ);
    this.features = o.ringFeatures | featureMask(...bits);
    this.state = NetState.create(o.mac, o.pairs);
    this.#port = o.backend.kind === 'switch' ? o.backend.switch.addPort() : -1;
    this.#tap = o.backend.kind === 'tap' ? Tap.open(o.backend.name) : null;
  }

  get queues(): number {
    return 2 * this.o.pairs + 1;
  }
  get queueNum(): number {
    return this.o.pairs;
  }
  get maxQueueSize(): number {
    return this.o.maxQueueSize;
  }

  describe(features: Features): string {
    return describeFeatures(features, NET_FEATURE_NAMES);
  }

  config(): Uint8Array {
    const c = new Uint8Array(NET_CONFIG_SIZE);
    const v = new DataView(c.buffer);
    c.set(this.o.mac, NET_CONFIG_MAC);
    v.setUint16(NET_CONFIG_STATUS, VIRTIO_NET_S_LINK_UP, true);
    v.setUint16(NET_CONFIG_MAX_VIRTQUEUE_PAIRS, this.o.pairs, true);
    v.setUint16(NET_CONFIG_MTU, this.o.mtu, true);
    return c;
  }

  /** `loopRings`: the session's loop queues by pair (made on first use, kept across ring stops). */
  #workerBackend(pair: number, loopRings: Map<number, SharedArrayBuffer>): NetWorkerBackend {
    const b = this.o.backend;
    if (b.kind === 'loop') {
      let ring = loopRings.get(pair);
      if (ring === undefined) {
        ring = FrameRing.create(LOOP_SLOTS, maxFrameSize(this.o.mtu), true).buffer as SharedArrayBuffer;
        loopRings.set(pair, ring);
      }
      return { kind: 'loop', ring, slots: LOOP_SLOTS };
    }
    if (b.kind === 'tap') return { kind: 'tap', fd: this.#tap!.fd };
    if (b.kind === 'switch') {
      const sw = b.switch;
      return {
        kind: 'switch',
        port: this.#port,
        inboxes: sw.inboxes.map((r) => r.buffer as SharedArrayBuffer),
        inboxFds: sw.wakeups.map((e) => e.fd),
        table: sw.table.buffer,
        inboxSlots: INBOX_SLOTS,
        slotBytes: sw.slotBytes,
      };
    }
    return b;
  }

  /** A front-end connected: its queue pairs and control queue, as units on the data plane. */
  openSession(log: (line: string) => void): DeviceSession {
    const o = this.o;
    // Without MQ the driver uses one pair, and the control queue follows it.
    const ctrlOf = (features: Features): number => ctrlQueueIndex(hasFeature(features, VIRTIO_NET_F_MQ) ? o.pairs : 1);
    // A new driver starts from the device's defaults.
    this.state.reset(o.mac, o.pairs);
    log(`${o.name}: mac ${formatMac(o.mac)}, mtu ${o.mtu}, ${o.pairs} queue pair(s), backend ${o.backend.kind}`);
    const loopRings = new Map<number, SharedArrayBuffer>();
    return {
      unitOf: (index, features) => (index === ctrlOf(features) ? [index] : [index & ~1, index | 1]),
      unit: (start: UnitStart) => {
        const isCtrl = start.queues[0].index === ctrlOf(start.features);
        const pair = start.queues[0].index >> 1;
        const data: NetWorkerInput = {
          role: isCtrl ? 'ctrl' : 'pair',
          name: isCtrl ? o.name : `${o.name}.pair${pair}`,
          pair,
          maxPairs: o.pairs,
          features: start.features,
          regions: start.regions,
          queues: start.queues,
          mtu: o.mtu,
          rxUsedEntries: o.rxUsedEntries === 'auto' ? 'per-buffer' : o.rxUsedEntries,
          state: this.state.buffer,
          backend: this.#workerBackend(pair, loopRings),
          pcapFd: o.pcapFd,
          check: o.check,
          expectEcho: o.expectEcho,
        };
        return { url: compiledWorkerUrl(import.meta.url, './net-unit.js'), data };
      },
      stopped: (start: UnitStart, r: UnitResult) => {
        const net = r.stats.net as Record<string, number> | undefined;
        if (net === undefined) return;
        const rx = r.stats.rx as Record<string, number>;
        const tx = r.stats.tx as Record<string, number>;
        log(
          `${o.name}.pair${start.queues[0].index >> 1} stopped: tx ${net.txFrames} frames (${net.txErrors} refused), ` +
            `rx ${net.rxFrames} frames in ${net.rxBuffers} buffers (${net.rxErrors} refused, ${net.dropped} dropped); ` +
            `used entries written rx ${rx.usedEntriesWritten}, tx ${tx.usedEntriesWritten}`,
        );
      },
    };
  }

  /** Closes the tap device, if the back-end is one. */
  close(): void {
    this.#tap?.close();
  }
}

/** The slot size a switch needs for ports of this MTU. */
export const switchSlotBytes = (mtu: number): number => maxFrameSize(mtu);
