import { Worker } from 'node:worker_threads';
import { compiledWorkerUrl } from '../../runtime/worker-url.js';
import { openNetPort, type NetPortOptions } from './net-port.js';
import type { NetTrafficInput, NetTrafficResult } from './net-traffic-worker.js';
import { VIRTIO_NET_HDR_SIZE, maxFrameSize } from '../../spec/net.js';
import type { Features } from '../../virtqueue/features.js';

export interface NetTrafficOptions extends NetPortOptions {
  /** Frames sent on each pair. */
  frames: number;
  /** Frame length (Ethernet header and payload), or random in 60..MTU + 14 for each frame. */
  frameSize: number | 'random';
  /** Frames in flight (sent, not yet back) per pair. */
  window: number;
  /** Give up when nothing came back for this long (and, listening, when no back-end connects). */
  idleTimeoutMs: number;
  seed: number;
  /** Transmit only, for durationMs: nothing is expected back (see NetTrafficInput). */
  txOnly?: boolean;
  durationMs?: number;
}

export interface NetTrafficRun extends NetTrafficResult {
  negotiated: Features;
  /** The negotiated features in words, net bits named. */
  described: string;
  mac: string | null;
  mtu: number;
}

/**
 * vqkit's virtio-net driver over vhost-user: opens a net port (see openNetPort) and sends `frames` numbered frames on
 * each pair from a worker, checking that every one comes back intact and in order (a loop or macswap back-end).
 */
export async function runNetTraffic(path: string, o: NetTrafficOptions): Promise<NetTrafficRun> {
  const port = await openNetPort(path, o);
  try {
    const { plan } = port;
    const size = plan.queueSize;
    const maxFrame = maxFrameSize(plan.mtu);
    const input: NetTrafficInput = {
      ...plan,
      frames: o.frames,
      frameSize: o.frameSize,
      // No more frames in flight than the receive queue can hold at once: a device drops what finds no buffer.
      window: Math.max(
        1,
        Math.min(o.window, Math.floor(size / Math.ceil((VIRTIO_NET_HDR_SIZE + maxFrame) / plan.rxBufferBytes))),
      ),
      idleTimeoutMs: o.idleTimeoutMs,
      seed: o.seed,
      txOnly: o.txOnly,
      durationMs: o.durationMs,
    };
    const worker = new Worker(compiledWorkerUrl(import.meta.url, './net-traffic-worker.js'), { workerData: input });
    // The back-end closing the socket mid-run stops the worker (openNetPort raises its STOP flags).
    let backendGone = false;
    void port.gone.then(() => (backendGone = true));
    const result = await new Promise<NetTrafficResult>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    if (backendGone && result.failure === null) result.failure = `the back-end at ${path} went away during the run`;
    return { ...result, negotiated: port.negotiated, described: port.described, mac: port.mac, mtu: port.mtu };
  } finally {
    port.close();
  }
}
