import { formatMac } from '../../devices/net/frame.js';
import { VIRTIO_F_RING_PACKED } from '../../spec/features.js';
import {
  NET_CONFIG_MAX_VIRTQUEUE_PAIRS,
  NET_CONFIG_MTU,
  NET_CONFIG_SIZE,
  NET_FEATURE_NAMES,
  VIRTIO_NET_F_CTRL_RX,
  VIRTIO_NET_F_CTRL_VQ,
  VIRTIO_NET_F_MAC,
  VIRTIO_NET_F_MQ,
  VIRTIO_NET_F_MRG_RXBUF,
  VIRTIO_NET_F_MTU,
  VIRTIO_NET_F_STATUS,
  VIRTIO_NET_HDR_SIZE,
  maxFrameSize,
} from '../../spec/net.js';
import { VhostUserProtocolFeature as P, VhostUserRequest as R } from '../../spec/vhost-user.js';
import { encodeVringState } from '../../transport/vhost-user/messages.js';
import {
  describeFeatures,
  featureMask,
  hasFeature,
  ringWants,
  type Features,
  type RingWants,
} from '../../virtqueue/features.js';
import { VhostUserConnection } from '../../transport/vhost-user/connection.js';
import {
  FrontendSetup,
  VhostUserFrontendError,
  acceptBackend,
  backendGone,
  connectBackend,
  type SharedGuestMemory,
  type Owned,
} from '../../transport/vhost-user/frontend-setup.js';
import { GUEST_BASE, PAGE, planQueues, type QueuePlan } from '../../transport/vhost-user/guest-plan.js';
import { QueueControl } from '../../transport/vhost-user/queue-control.js';

export interface NetPortOptions extends RingWants {
  mergeable: boolean;
  /** Use the control queue (if offered): set the queue pairs, turn promiscuous mode on. DPDK's vhost has none. */
  control: boolean;
  /** Share guest memory the back-end cannot seal against shrinking, as DPDK's virtio-user does (tests a back-end's defence). */
  unsealedMemory?: boolean;
  queueSize: number;
  pairs: number;
  /** Bytes per receive buffer, header included (default: 1536 with MRG_RXBUF, else a maximal frame). */
  rxBufferBytes?: number;
  /** Listen on the path for a back-end that connects (DPDK's vhost PMD with client=1) instead of connecting. */
  listen?: boolean;
  /** How long to wait for a back-end to connect when listening. */
  idleTimeoutMs: number;
  /**
   * Test hook: disable and re-enable every ring this often (SET_VRING_ENABLE 0, then 1), as a VM stop and resume
   * does; the back-end must resume each ring where it stopped.
   */
  restartRingsEveryMs?: number;
}

export type NetQueuePlan = QueuePlan;

/** Where everything of a net port lives in guest memory, and what was negotiated: all a driver thread needs. */
export interface NetPortPlan {
  features: Features;
  guestBase: number;
  memoryBytes: number;
  memoryFd: number;
  queueSize: number;
  pairs: number;
  /** rx0, tx0, rx1, tx1, ..., then the control queue if negotiated. */
  queues: NetQueuePlan[];
  mergeable: boolean;
  rxBufferBytes: number;
  /** Bytes per transmit slot; each transmit queue's area holds its slots, then TX_STAGING_BYTES of staging. */
  txSlotBytes: number;
  mtu: number;
}

/** Guest memory per transmit queue for frames composed in place (NetDriverPair.sendStaged). */
const TX_STAGING_BYTES = 64 * 1024;

/** A vhost-user net back-end set up for vqkit's driver: rings live, memory shared. */
export interface NetPort {
  plan: NetPortPlan;
  negotiated: Features;
  /** The negotiated features in words, net bits named. */
  described: string;
  mac: string | null;
  mtu: number;
  memory: SharedGuestMemory;
  /** Resolves when the back-end closes the socket (or the port is closed). */
  gone: Promise<void>;
  /** Times the rings were stopped and resumed (NetPortOptions.restartRingsEveryMs). */
  ringRestarts(): number;
  /** Closes the connection and releases the memory, eventfds and worker. */
  close(): void;
}

/** What the net driver asks for. */
function netWants(o: NetPortOptions): Features {
  const bits = [VIRTIO_NET_F_MAC, VIRTIO_NET_F_MTU, VIRTIO_NET_F_STATUS];
  if (o.mergeable) bits.push(VIRTIO_NET_F_MRG_RXBUF);
  if (o.control) bits.push(VIRTIO_NET_F_CTRL_VQ, VIRTIO_NET_F_CTRL_RX);
  if (o.control && o.pairs > 1) bits.push(VIRTIO_NET_F_MQ);
  return ringWants(o) | featureMask(...bits);
}

/**
 * Connects vqkit's virtio-net driver to a net back-end (vqkit's, or DPDK's vhost PMD): negotiates, reads the config
 * space, shares memory and sets up `pairs` queue pairs (and the control queue if negotiated). The rings are then
 * driven by a NetPortDriver, in this thread or a worker.
 */
export async function openNetPort(path: string, o: NetPortOptions): Promise<NetPort> {
  const fd = o.listen ? await acceptBackend(path, o.idleTimeoutMs) : connectBackend(path);
  const conn = new VhostUserConnection(fd, false);
  const owned: Owned[] = [];
  let restarter: NodeJS.Timeout | null = null;
  let restarts = 0;
  const close = (): void => {
    if (restarter !== null) clearInterval(restarter);
    conn.close();
    owned.reverse().forEach((x) => x.close());
    owned.length = 0;
  };
  try {
    const setup = new FrontendSetup(conn, owned);
    setup.sealableMemory = o.unsealedMemory !== true;
    await setup.handshake(featureMask(P.MQ, P.CONFIGURE_MEM_SLOTS, P.CONFIG));
    const negotiated = setup.negotiate(netWants(o));
    const offered = setup.offered;
    if (o.pairs > 1 && !hasFeature(negotiated, VIRTIO_NET_F_MQ) && hasFeature(offered, VIRTIO_NET_F_CTRL_VQ)) {
      throw new VhostUserFrontendError(`${o.pairs} queue pairs need VIRTIO_NET_F_MQ, which was not negotiated`);
    }
    // The config space (MAC, MTU, pairs), where the back-end has one.
    let mac: string | null = null;
    let mtu = 1500;
    let maxPairs = Infinity;
    if (hasFeature(setup.protocol, P.CONFIG)) {
      const config = await setup.readConfig(NET_CONFIG_SIZE);
      const v = new DataView(config.buffer, config.byteOffset, config.byteLength);
      if (hasFeature(negotiated, VIRTIO_NET_F_MAC)) mac = formatMac(config);
      if (hasFeature(negotiated, VIRTIO_NET_F_MTU)) mtu = v.getUint16(NET_CONFIG_MTU, true);
      if (hasFeature(negotiated, VIRTIO_NET_F_MQ)) maxPairs = v.getUint16(NET_CONFIG_MAX_VIRTQUEUE_PAIRS, true);
    }
    if (o.pairs > maxPairs)
      throw new VhostUserFrontendError(`the device has ${maxPairs} queue pairs, ${o.pairs} asked`);
    setup.setFeatures(negotiated);

    // Guest memory: every ring, then each pair's receive buffers and transmit slots, then the control buffer.
    const packed = hasFeature(negotiated, VIRTIO_F_RING_PACKED);
    const mergeable = hasFeature(negotiated, VIRTIO_NET_F_MRG_RXBUF);
    const control = hasFeature(negotiated, VIRTIO_NET_F_CTRL_VQ);
    const size = o.queueSize;
    const maxFrame = maxFrameSize(mtu);
    const rxBufferBytes = o.rxBufferBytes ?? (mergeable ? 1536 : VIRTIO_NET_HDR_SIZE + maxFrame);
    // Each slot starts a cache line (as an mbuf's data does): a small frame and its header then take two lines, which
    // go to the device's core and back for every frame, instead of two or three shared with the next slot.
    const txSlotBytes = (VIRTIO_NET_HDR_SIZE + maxFrame + 63) & ~63;
    const queueCount = 2 * o.pairs + (control ? 1 : 0);
    const areas = Array.from({ length: queueCount }, (_, q) =>
      q === 2 * o.pairs ? PAGE : q % 2 === 0 ? size * rxBufferBytes : size * txSlotBytes + TX_STAGING_BYTES,
    );
    const { queues, memoryBytes } = planQueues(GUEST_BASE, packed, size, areas);
    const memory = setup.startQueues('vqkit-net', GUEST_BASE, memoryBytes, size, packed, queues);
    const plan: NetPortPlan = {
      features: negotiated,
      guestBase: GUEST_BASE,
      memoryBytes,
      memoryFd: memory.memfd.fd,
      queueSize: size,
      pairs: o.pairs,
      queues,
      mergeable,
      rxBufferBytes,
      txSlotBytes,
      mtu,
    };
    // The back-end closing the socket stops whoever drives the rings: frames can no longer come.
    const gone = backendGone(conn).then(() =>
      queues.forEach((q) => Atomics.store(new Int32Array(q.control), QueueControl.STOP, 1)),
    );
    const described = describeFeatures(negotiated, NET_FEATURE_NAMES);
    if (o.restartRingsEveryMs !== undefined) {
      restarter = setInterval(() => {
        if (conn.closed) return;
        for (const q of queues) conn.send(R.SET_VRING_ENABLE, encodeVringState({ index: q.index, num: 0 }));
        for (const q of queues) conn.send(R.SET_VRING_ENABLE, encodeVringState({ index: q.index, num: 1 }));
        restarts++;
      }, o.restartRingsEveryMs);
    }
    return { plan, negotiated, described, mac, mtu, memory, gone, close, ringRestarts: () => restarts };
  } catch (e) {
    close();
    throw e;
  }
}
