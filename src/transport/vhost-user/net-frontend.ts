import { Worker } from 'node:worker_threads';
import { formatMac } from '../../devices/net/frame.js';
import {
  VIRTIO_F_EVENT_IDX,
  VIRTIO_F_INDIRECT_DESC,
  VIRTIO_F_IN_ORDER,
  VIRTIO_F_RING_PACKED,
  VIRTIO_F_VERSION_1,
} from '../../spec/features.js';
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
import { describeFeatures, featureMask, hasFeature, type Features } from '../../virtqueue/features.js';
import { packedRingLayout } from '../../virtqueue/packed/layout.js';
import { splitRingLayout } from '../../virtqueue/split/layout.js';
import { compiledWorkerUrl } from '../worker-url.js';
import { VhostUserConnection } from './connection.js';
import { FrontendSetup, VhostUserFrontendError, acceptBackend, connectBackend } from './frontend-setup.js';
import { decodeConfig, encodeConfig } from './messages.js';
import { QueueControl } from './queue-control.js';
import type { NetQueuePlan, NetTrafficInput, NetTrafficResult } from './net-traffic-worker.js';

export interface NetTrafficOptions {
  ring: 'split' | 'packed';
  inOrder: boolean;
  mergeable: boolean;
  indirect: boolean;
  eventIdx: boolean;
  /** Use the control queue (if offered): set the queue pairs, turn promiscuous mode on. DPDK's vhost has none. */
  control: boolean;
  queueSize: number;
  pairs: number;
  /** Frames sent on each pair. */
  frames: number;
  /** Frame length (Ethernet header and payload), or random in 60..MTU + 14 for each frame. */
  frameSize: number | 'random';
  /** Frames in flight (sent, not yet back) per pair. */
  window: number;
  /** Bytes per receive buffer, header included (default: 1536 with MRG_RXBUF, else a maximal frame). */
  rxBufferBytes?: number;
  /** Give up when nothing came back for this long (and, listening, when no back-end connects). */
  idleTimeoutMs: number;
  seed: number;
  /** Listen on the path for a back-end that connects (DPDK's vhost PMD with client=1) instead of connecting. */
  listen?: boolean;
}

export interface NetTrafficRun extends NetTrafficResult {
  negotiated: Features;
  /** The negotiated features in words, net bits named. */
  described: string;
  mac: string | null;
  mtu: number;
}

const GUEST_BASE = 0x10_0000;
const PAGE = 4096;
const alignPage = (n: number): number => Math.ceil(n / PAGE) * PAGE;

/** What the net driver asks for. */
function netWants(o: NetTrafficOptions): Features {
  const bits = [VIRTIO_F_VERSION_1, VIRTIO_NET_F_MAC, VIRTIO_NET_F_MTU, VIRTIO_NET_F_STATUS];
  if (o.inOrder) bits.push(VIRTIO_F_IN_ORDER);
  if (o.ring === 'packed') bits.push(VIRTIO_F_RING_PACKED);
  if (o.indirect) bits.push(VIRTIO_F_INDIRECT_DESC);
  if (o.eventIdx) bits.push(VIRTIO_F_EVENT_IDX);
  if (o.mergeable) bits.push(VIRTIO_NET_F_MRG_RXBUF);
  if (o.control) bits.push(VIRTIO_NET_F_CTRL_VQ, VIRTIO_NET_F_CTRL_RX);
  if (o.control && o.pairs > 1) bits.push(VIRTIO_NET_F_MQ);
  return featureMask(...bits);
}

/**
 * vqkit's virtio-net driver over vhost-user: connects to a net back-end (vqkit's, or DPDK's vhost PMD), negotiates,
 * shares memory, sets up `pairs` queue pairs (and the control queue if negotiated), and sends `frames` numbered frames
 * on each pair, checking that every one comes back intact and in order (a loop or macswap back-end).
 */
export async function runNetTraffic(path: string, o: NetTrafficOptions): Promise<NetTrafficRun> {
  const fd = o.listen ? await acceptBackend(path, o.idleTimeoutMs) : connectBackend(path);
  const conn = new VhostUserConnection(fd, false);
  const owned: { close(): void }[] = [];
  try {
    const setup = new FrontendSetup(conn, owned);
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
      const c = decodeConfig(
        await setup.ask(R.GET_CONFIG, encodeConfig({ offset: 0, flags: 0, bytes: new Uint8Array(NET_CONFIG_SIZE) })),
      );
      if (c.size !== NET_CONFIG_SIZE) throw new VhostUserFrontendError(`GET_CONFIG returned ${c.size} bytes`);
      const v = new DataView(c.bytes.buffer, c.bytes.byteOffset, c.bytes.byteLength);
      if (hasFeature(negotiated, VIRTIO_NET_F_MAC)) mac = formatMac(c.bytes);
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
    const txSlotBytes = VIRTIO_NET_HDR_SIZE + maxFrame;
    const queueCount = 2 * o.pairs + (control ? 1 : 0);
    let at = GUEST_BASE;
    const queues: NetQueuePlan[] = [];
    for (let q = 0; q < queueCount; q++) {
      const layout = (packed ? packedRingLayout : splitRingLayout)(at, size);
      at = alignPage(at + layout.bytes);
      const isCtrl = q === 2 * o.pairs;
      const bytes = isCtrl ? PAGE : q % 2 === 0 ? size * rxBufferBytes : size * txSlotBytes;
      queues.push({
        index: q,
        addresses: layout.addresses,
        bufferAddr: at,
        bufferBytes: bytes,
        control: new SharedArrayBuffer(QueueControl.LENGTH * 4),
      });
      at = alignPage(at + bytes);
    }
    const memoryBytes = at - GUEST_BASE;
    const memory = setup.shareMemory('vqkit-net', GUEST_BASE, memoryBytes);
    for (const q of queues) setup.setUpVring(q.index, size, packed, q.addresses, memory, q.control);
    setup.enableVrings(queues.map((q) => q.index));
    const input: NetTrafficInput = {
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
      frames: o.frames,
      frameSize: o.frameSize,
      // No more frames in flight than the receive queue can hold at once: a device drops what finds no buffer.
      window: Math.max(
        1,
        Math.min(o.window, Math.floor(size / Math.ceil((VIRTIO_NET_HDR_SIZE + maxFrame) / rxBufferBytes))),
      ),
      idleTimeoutMs: o.idleTimeoutMs,
      seed: o.seed,
    };
    const worker = new Worker(compiledWorkerUrl(import.meta.url, './net-traffic-worker.js'), { workerData: input });
    // The back-end closing the socket mid-run stops the worker: it would wait for frames that cannot come.
    let backendGone = false;
    const gone = (): void => {
      backendGone = true;
      for (const q of queues) Atomics.store(new Int32Array(q.control), QueueControl.STOP, 1);
    };
    void conn.receive().then((m) => m === null && gone(), gone);
    const result = await new Promise<NetTrafficResult>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    if (backendGone && result.failure === null) result.failure = `the back-end at ${path} went away during the run`;
    return { ...result, negotiated, described: describeFeatures(negotiated, NET_FEATURE_NAMES), mac, mtu };
  } finally {
    conn.close();
    owned.reverse().forEach((x) => x.close());
  }
}
