import { Worker } from 'node:worker_threads';
import { compiledWorkerUrl } from '../../runtime/worker-url.js';
import { openNetPort, type NetPort, type NetPortOptions } from './net-port.js';
import type { NetTrafficInput, NetTrafficResult, TrafficShape } from './net-traffic-worker.js';
import { VIRTIO_NET_HDR_SIZE, maxFrameSize } from '../../spec/net.js';
import type { Features } from '../../virtqueue/features.js';

/** How runNetTraffic() opens its port and what traffic it sends. */
export interface NetTrafficOptions extends NetPortOptions, TrafficShape {}

/** What runNetTraffic() measured and checked. */
export interface NetTrafficRun extends NetTrafficResult {
  negotiated: Features;
  /** The negotiated features in words, net bits named. */
  described: string;
  mac: string | null;
  mtu: number;
  /** Times the rings were stopped and resumed during the run (NetPortOptions.restartRingsEveryMs). */
  ringRestarts: number;
}

/** What a traffic worker is given for one open port. */
function trafficInput(port: NetPort, o: NetTrafficOptions): NetTrafficInput {
  const { plan } = port;
  const maxFrame = maxFrameSize(plan.mtu);
  return {
    ...plan,
    frames: o.frames,
    frameSize: o.frameSize,
    // No more frames in flight than the receive queue can hold at once: a device drops what finds no buffer.
    window: Math.max(
      1,
      Math.min(o.window, Math.floor(plan.queueSize / Math.ceil((VIRTIO_NET_HDR_SIZE + maxFrame) / plan.rxBufferBytes))),
    ),
    idleTimeoutMs: o.idleTimeoutMs,
    seed: o.seed,
    txOnly: o.txOnly,
    durationMs: o.durationMs,
    txFrames: o.txFrames,
    judge: o.judge,
  };
}

/** Runs a traffic worker over one port (its result) or several (one result each, in order). */
async function trafficWorker<T>(data: NetTrafficInput | NetTrafficInput[]): Promise<T> {
  const worker = new Worker(compiledWorkerUrl(import.meta.url, './net-traffic-worker.js'), { workerData: data });
  try {
    return await new Promise<T>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
  } finally {
    await worker.terminate();
  }
}

/** A run's result with what was negotiated on its port, and the back-end going away reported as a failure. */
function portRun(port: NetPort, path: string, result: NetTrafficResult, gone: boolean): NetTrafficRun {
  if (gone && result.failure === null) result.failure = `the back-end at ${path} went away during the run`;
  const { negotiated, described, mac, mtu } = port;
  return { ...result, negotiated, described, mac, mtu, ringRestarts: port.ringRestarts() };
}

/**
 * vqkit's virtio-net driver over vhost-user: opens a net port (see openNetPort) and sends `frames` numbered frames on
 * each pair from a worker, checking that every one comes back intact and in order (a loop or macswap back-end).
 */
export async function runNetTraffic(path: string, o: NetTrafficOptions): Promise<NetTrafficRun> {
  const port = await openNetPort(path, o);
  try {
    // The back-end closing the socket mid-run stops the worker (openNetPort raises its STOP flags).
    let gone = false;
    void port.gone.then(() => (gone = true));
    const result = await trafficWorker<NetTrafficResult>(trafficInput(port, o));
    return portRun(port, path, result, gone);
  } finally {
    port.close();
  }
}

/**
 * The same on many ports at once, driven by `threads` workers (each port to one of them, round robin): how a
 * benchmark loads many ports of one daemon without a thread per port on the driver side too.
 */
export async function runNetTrafficOnPorts(
  paths: readonly string[],
  o: NetTrafficOptions,
  threads: number,
): Promise<NetTrafficRun[]> {
  const ports: NetPort[] = [];
  try {
    for (const path of paths) ports.push(await openNetPort(path, o));
    const gone = ports.map(() => false);
    ports.forEach((p, i) => void p.gone.then(() => (gone[i] = true)));
    const groups = Array.from({ length: Math.min(threads, ports.length) }, (_, g) =>
      ports.map((_, i) => i).filter((i) => i % threads === g),
    );
    const results = await Promise.all(
      groups.map((g) => trafficWorker<NetTrafficResult[]>(g.map((i) => trafficInput(ports[i], o)))),
    );
    const byPort: NetTrafficRun[] = [];
    groups.forEach((g, k) => g.forEach((i, j) => (byPort[i] = portRun(ports[i], paths[i], results[k][j], gone[i]))));
    return byPort;
  } finally {
    ports.forEach((p) => p.close());
  }
}
