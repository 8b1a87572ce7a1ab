import { setImmediate as yieldToEvents } from 'node:timers/promises';
import { VerdictBoard } from '../../conformance/board.js';
import { DeviceJudge, judgeWake } from '../../conformance/device-judge.js';
import { VsockEndpoint } from '../../devices/vsock/endpoint.js';
import { VsockDriver } from './vsock-driver.js';
import { GuestMemory } from '../../memory/guest-memory.js';
import { EventFd, drainEventFd, signalEventFd } from '../../os/eventfd.js';
import { ReadinessLoop } from '../../runtime/readiness-loop.js';
import { VIRTIO_F_RING_PACKED } from '../../spec/features.js';
import { VhostUserProtocolFeature as P } from '../../spec/vhost-user.js';
import {
  VIRTIO_VSOCK_F_SEQPACKET,
  VMADDR_CID_HOST,
  VSOCK_CONFIG_GUEST_CID,
  VSOCK_CONFIG_SIZE,
  VSOCK_FEATURE_NAMES,
  VSOCK_HDR_SIZE,
} from '../../spec/vsock.js';
import {
  describeFeatures,
  featureMask,
  hasFeature,
  ringWants,
  type Features,
  type RingWants,
} from '../../virtqueue/features.js';
import { createDriverQueue } from '../../virtqueue/index.js';
import { VhostUserConnection } from '../../transport/vhost-user/connection.js';
import {
  FrontendSetup,
  VhostUserFrontendError,
  acceptBackend,
  backendGone,
  connectBackend,
  type Owned,
} from '../../transport/vhost-user/frontend-setup.js';
import { GUEST_BASE, planQueues } from '../../transport/vhost-user/guest-plan.js';
import { QueueControl } from '../../transport/vhost-user/queue-control.js';

export interface VsockPortOptions extends RingWants {
  queueSize: number;
  /** Listen on the path for a back-end that connects, instead of connecting. */
  listen?: boolean;
  idleTimeoutMs: number;
  /** Receive buffer per connection (buf_alloc). */
  bufAlloc?: number;
  /** Under `vq check device`: judge the device on every queue, posting verdicts to this VerdictBoard buffer. */
  judge?: SharedArrayBuffer;
}

/** Bytes of data per packet this driver sends and per receive buffer (as Linux: 4 KiB). */
const PACKET_DATA = 4096;
const SLOT = VSOCK_HDR_SIZE + PACKET_DATA;
const EVENT_SLOT = 8;

/**
 * vqkit's virtio-vsock driver on a vhost-user back-end, in this thread: the guest side of the link. Open streams
 * with connect() or listen(); run() moves packets until close() or until the back-end goes away.
 */
export class VsockPort {
  readonly endpoint: VsockEndpoint;
  readonly #driver: VsockDriver;
  readonly #wake = EventFd.create();
  readonly #ctls: Int32Array[];
  #closed = false;
  #running = false;
  #gone = false;

  private constructor(
    readonly guestCid: number,
    readonly negotiated: Features,
    readonly conn: VhostUserConnection,
    readonly owned: Owned[],
    build: (endpoint: VsockEndpoint) => { driver: VsockDriver; ctls: Int32Array[] },
    bufAlloc: number | undefined,
  ) {
    this.endpoint = new VsockEndpoint({
      name: 'vsock-driver.rx',
      localCid: guestCid,
      peerCid: VMADDR_CID_HOST,
      // As a Linux guest: a device that forwards between VMs brings other guests' packets too.
      siblings: true,
      seqpacket: hasFeature(negotiated, VIRTIO_VSOCK_F_SEQPACKET),
      bufAlloc,
      onWork: () => this.#wake.signal(),
    });
    const b = build(this.endpoint);
    this.#driver = b.driver;
    this.#ctls = b.ctls;
    void backendGone(conn).then(() => {
      this.#gone = true;
      if (!this.#wake.closed) this.#wake.signal();
    });
  }

  get described(): string {
    return describeFeatures(this.negotiated, VSOCK_FEATURE_NAMES);
  }

  /** @internal */
  get driver(): VsockDriver {
    return this.#driver;
  }

  /** Connects to a vsock back-end at `path`, negotiates, and sets up the rx, tx and event queues. */
  static async open(path: string, o: VsockPortOptions): Promise<VsockPort> {
    const fd = o.listen ? await acceptBackend(path, o.idleTimeoutMs) : connectBackend(path);
    const conn = new VhostUserConnection(fd, false);
    const owned: Owned[] = [];
    try {
      const setup = new FrontendSetup(conn, owned);
      await setup.handshake(featureMask(P.CONFIGURE_MEM_SLOTS, P.CONFIG));
      // Seqpacket sockets where the device offers them, as Linux's driver does.
      const negotiated = setup.negotiate(ringWants(o) | featureMask(VIRTIO_VSOCK_F_SEQPACKET));
      if (!hasFeature(setup.protocol, P.CONFIG)) throw new VhostUserFrontendError('the back-end has no config space');
      const config = await setup.readConfig(VSOCK_CONFIG_SIZE);
      const guestCid = Number(
        new DataView(config.buffer, config.byteOffset).getBigUint64(VSOCK_CONFIG_GUEST_CID, true),
      );
      setup.setFeatures(negotiated);
      const size = o.queueSize;
      const packed = hasFeature(negotiated, VIRTIO_F_RING_PACKED);
      const slotBytes = [SLOT, SLOT, EVENT_SLOT];
      const { queues, memoryBytes } = planQueues(
        GUEST_BASE,
        packed,
        size,
        slotBytes.map((b) => b * size),
      );
      const shared = setup.startQueues('vqkit-vsock', GUEST_BASE, memoryBytes, size, packed, queues);
      const memory = new GuestMemory([{ guestAddr: GUEST_BASE, size: memoryBytes, buffer: shared.mapping.buffer }]);
      const names = ['rx', 'tx', 'event'];
      return new VsockPort(
        guestCid,
        negotiated,
        conn,
        owned,
        (endpoint) => {
          const board = o.judge === undefined ? null : new VerdictBoard(o.judge);
          const [rx, tx, event] = queues.map((q) => {
            const config = {
              name: `vsock-driver.${names[q.index]}`,
              size,
              features: negotiated,
              memory,
              addresses: q.addresses,
            };
            const queue = createDriverQueue<number>(config);
            return board === null ? queue : new DeviceJudge(queue, config, board, q.index);
          });
          const area = (i: number) => ({
            addr: queues[i].bufferAddr,
            area: memory.translate(queues[i].bufferAddr, queues[i].bufferBytes),
            slotBytes: slotBytes[i],
          });
          const driver = new VsockDriver(rx, tx, event, endpoint, { rx: area(0), tx: area(1), event: area(2) });
          return { driver, ctls: queues.map((q) => new Int32Array(q.control)) };
        },
        o.bufAlloc,
      );
    } catch (e) {
      conn.close();
      owned.reverse().forEach((x) => x.close());
      throw e;
    }
  }

  /** Moves packets until close() (null) or until the back-end goes away or a ring breaks (what happened). */
  async run(): Promise<string | null> {
    this.#running = true;
    try {
      return await this.#loop();
    } finally {
      this.#running = false;
      if (this.#closed) this.#release();
    }
  }

  async #loop(): Promise<string | null> {
    const calls = this.#ctls.map((c) => Atomics.load(c, QueueControl.CALL_FD));
    while (!this.#closed) {
      if (this.#gone) return 'the back-end went away';
      const d = this.#driver;
      const broken = d.rx.error ?? d.tx.error ?? d.event.error;
      if (broken !== null) return broken.message;
      const { kicks, moved } = d.pump();
      for (let q = 0; q < 3; q++)
        if (kicks & (1 << q)) signalEventFd(Atomics.load(this.#ctls[q], QueueControl.KICK_FD));
      if (moved > 0) {
        await yieldToEvents();
        continue;
      }
      // Ask for interrupts (with the re-check: a completion may have come meanwhile), sleep, then stop asking.
      const queues = [d.rx, d.tx, d.event];
      if (!queues.every((q) => q.enableInterrupts())) {
        queues.forEach((q) => q.disableInterrupts());
        continue;
      }
      // Asleep on the readiness loop until a completion, a back-end hang-up (#gone) or close() wakes us.
      await ReadinessLoop.shared().readable([...calls, this.#wake.fd]);
      queues.forEach((q) => q.disableInterrupts());
      if (this.#closed) break;
      const judges = [d.rx, d.tx, d.event].map((q) => (q instanceof DeviceJudge ? (q as DeviceJudge<unknown>) : null));
      if (judges.some((j) => j !== null)) judgeWake(judges, calls, true);
      else calls.forEach(drainEventFd);
      this.#wake.take();
    }
    return null;
  }

  /** Stops run() and releases the connection, memory and eventfds (once run() has returned, if it is running). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#running) this.#wake.signal();
    else this.#release();
  }

  #release(): void {
    this.conn.close();
    this.owned.reverse().forEach((x) => x.close());
    this.#wake.close();
  }
}
