import { VhostUserProtocolFeature as P } from '../../spec/vhost-user.js';
import type { DriverCheck } from '../../conformance/driver-judge.js';
import {
  VSOCK_CONFIG_GUEST_CID,
  VSOCK_CONFIG_SIZE,
  VSOCK_EVENT_QUEUE,
  VSOCK_FEATURE_NAMES,
  VSOCK_QUEUES,
  VSOCK_RX_QUEUE,
  VSOCK_TX_QUEUE,
  VIRTIO_VSOCK_F_SEQPACKET,
} from '../../spec/vsock.js';
import { describeFeatures, featureMask, type Features } from '../../virtqueue/features.js';
import { compiledWorkerUrl } from '../../runtime/worker-url.js';
import type { DeviceSession, ServedDevice, UnitResult, UnitStart } from '../../transport/vhost-user/served-device.js';
import type { VsockWorkerInput } from './vsock-worker.js';

/** One VM's vsock device: its CID, and where its host connections go. */
export interface VsockServiceOptions {
  /** VERSION_1 and the ring features offered. Stream sockets need no feature bit. */
  ringFeatures: Features;
  guestCid: number;
  /** Groups the VM is in: it reaches the daemon's other VMs that share one (vhost-device-vsock's groups=). */
  groups?: string[];
  /** Offer VIRTIO_VSOCK_F_SEQPACKET: seqpacket sockets (to the host: SOCK_SEQPACKET unix sockets at <udsPath>_P). */
  seqpacket?: boolean;
  udsPath: string;
  maxQueueSize: number;
  /** Under `vq check driver`: judge the driver and play a device behaviour on rx and tx. */
  check?: DriverCheck;
}

/**
 * The virtio-vsock device (id 19) over vhost-user: the guest CID in its config space; rx, tx and the host side (a
 * unix-socket bridge) as one unit, the event queue as another, both on the pool's event-loop thread (which serves
 * every VM of the daemon) once the front-end hands them over. A front-end after the first is told its connections
 * are gone (TRANSPORT_RESET), as after a device restart.
 */
export class VsockService implements ServedDevice {
  readonly kind = 'vsock';
  readonly protocolFeatures = featureMask(P.CONFIG);
  readonly queues = VSOCK_QUEUES;
  readonly queueNum = VSOCK_QUEUES;
  #sessions = 0;
  /** Tells this daemon's sessions apart on the event-loop thread (a session child has its own process). */
  static #nextSession = 0;

  constructor(readonly o: VsockServiceOptions) {}

  get features(): Features {
    return this.o.seqpacket === true
      ? this.o.ringFeatures | featureMask(VIRTIO_VSOCK_F_SEQPACKET)
      : this.o.ringFeatures;
  }
  get maxQueueSize(): number {
    return this.o.maxQueueSize;
  }

  describe(features: Features): string {
    return describeFeatures(features, VSOCK_FEATURE_NAMES);
  }

  config(): Uint8Array {
    const c = new Uint8Array(VSOCK_CONFIG_SIZE);
    new DataView(c.buffer).setBigUint64(VSOCK_CONFIG_GUEST_CID, BigInt(this.o.guestCid), true);
    return c;
  }

  /** A VM connected: its three queues run together as one unit on the event-loop thread. */
  openSession(log: (line: string) => void): DeviceSession {
    const o = this.o;
    const resetOnStart = this.#sessions++ > 0;
    const session = `${process.pid}.${VsockService.#nextSession++}`;
    const input = (start: UnitStart | null, role: VsockWorkerInput['role']): VsockWorkerInput => ({
      role,
      session,
      name: 'vsock',
      features: start?.features ?? 0n,
      regions: start?.regions ?? [],
      queues: start?.queues ?? [],
      guestCid: o.guestCid,
      groups: o.groups ?? [],
      udsPath: o.udsPath,
      resetOnStart,
      check: o.check,
    });
    const url = compiledWorkerUrl(import.meta.url, './vsock-worker.js');
    return {
      // rx and tx run together; the event queue apart (QEMU never hands it over).
      unitOf: (index) => (index === VSOCK_EVENT_QUEUE ? [index] : [VSOCK_RX_QUEUE, VSOCK_TX_QUEUE]),
      unit: (start: UnitStart) => {
        const role = start.queues[0].index === VSOCK_EVENT_QUEUE ? 'event' : 'data';
        // Its host sockets need an event loop: the pool's event-loop thread, which serves every VM's.
        return { url, data: input(start, role), eventLoop: true };
      },
      // The host side outlives ring stops (see vsock-worker.ts); it goes with the session.
      release: () => ({ url, data: input(null, 'release'), eventLoop: true }),
      stopped: (_start: UnitStart, r: UnitResult) => {
        if (r.failure !== null) log(`vsock stopped: ${r.failure}`);
      },
    };
  }
}
