import { Worker } from 'node:worker_threads';
import type { RunOptions } from '../../harness/options.js';
import { closeFd } from '../../os/fd.js';
import { signalEventFd } from '../../os/eventfd.js';
import { listenUnix, unlinkPath } from '../../os/unix-socket.js';
import { acceptConnection } from '../../runtime/accept.js';
import { ReadinessLoop } from '../../runtime/readiness-loop.js';
import { compiledWorkerUrl } from '../../runtime/worker-url.js';
import { VIRTIO_F_RING_PACKED } from '../../spec/features.js';
import { VhostUserProtocolFeature as P } from '../../spec/vhost-user.js';
import { planLocal, type LocalPlan } from '../../transport/local/plan.js';
import { VhostUserConnection } from '../../transport/vhost-user/connection.js';
import {
  FrontendSetup,
  VhostUserFrontendError,
  backendGone,
  type Owned,
} from '../../transport/vhost-user/frontend-setup.js';
import { QueueControl } from '../../transport/vhost-user/queue-control.js';
import { featureMask, hasFeature, ringWants } from '../../virtqueue/features.js';
import type { DriverQueueInput, QueueResult } from './test-frontend-worker.js';

export interface ReconnectingRun {
  result: QueueResult;
  /** Back-end connections served, the first included. */
  connections: number;
  /** The avail idx handed to each back-end that reconnected (SET_VRING_BASE). */
  resumedAt: number[];
}

/**
 * vqkit's test front-end in server mode, as DPDK's virtio-user with server=1: it listens at `path`, and a back-end
 * (`vq serve test --client`) connects. When the back-end goes away (killed, restarted) the driver keeps its buffers
 * in the ring and waits; the next back-end that connects is given the same memory and eventfds and the ring from the
 * avail idx the driver published, and resumes it (at the used idx in memory). Split rings: a packed ring's resume
 * point is the driver's used position, which this front-end does not hand over yet.
 */
export async function runReconnectingFrontend(
  path: string,
  o: RunOptions,
  acceptTimeoutMs: number,
  onProgress?: (completed: number) => void,
): Promise<ReconnectingRun> {
  const listenFd = listenUnix(path);
  const owned: Owned[] = [];
  let conn: VhostUserConnection | null = null;
  const accept = async (): Promise<VhostUserConnection> => {
    const fd = await acceptConnection(listenFd, AbortSignal.timeout(acceptTimeoutMs));
    if (fd === null) throw new VhostUserFrontendError(`no back-end connected to ${path} within ${acceptTimeoutMs} ms`);
    return new VhostUserConnection(fd, false);
  };
  let worker: Worker | null = null;
  try {
    conn = await accept();
    const first = new FrontendSetup(conn, owned);
    const protocol = featureMask(P.MQ, P.CONFIGURE_MEM_SLOTS);
    await first.handshake(protocol);
    const negotiated = first.negotiate(ringWants(o));
    if (hasFeature(negotiated, VIRTIO_F_RING_PACKED)) {
      throw new VhostUserFrontendError('a reconnecting front-end runs split rings (ask for --ring split)');
    }
    first.setFeatures(negotiated);
    const plan: LocalPlan = { ...planLocal(o), features: negotiated };
    const memory = first.shareMemory('vqkit-guest', plan.guestBase, plan.memoryBytes);
    const control = new SharedArrayBuffer(QueueControl.LENGTH * 4);
    const ctl = new Int32Array(control);
    const fds = first.setUpVring(0, o.queueSize, false, plan.addresses, memory, control, true);
    first.enableVrings([0]);

    const input: DriverQueueInput = { role: 'driver', plan, memoryFd: memory.memfd.fd, control };
    worker = new Worker(compiledWorkerUrl(import.meta.url, './test-frontend-worker.js'), { workerData: input });
    const w = worker;
    const finished = new Promise<QueueResult>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    // A broken ring is told through the error eventfd: the run stops there.
    let ringBroken = false;
    const errWatch = new AbortController();
    void ReadinessLoop.shared()
      .readable(fds.err!.fd, errWatch.signal)
      .then((signalled) => {
        if (!signalled) return;
        ringBroken = true;
        Atomics.store(ctl, QueueControl.STOP, 1);
      });
    const timer = onProgress ? setInterval(() => onProgress(Atomics.load(ctl, QueueControl.PROGRESS)), 50) : null;
    // The avail idx the driver has published, read from the ring in shared memory.
    const availIdx = new Uint16Array(memory.mapping.buffer, plan.addresses.driver - plan.guestBase, 2);
    let connections = 1;
    const resumedAt: number[] = [];
    try {
      for (;;) {
        const gone = backendGone(conn).then(() => 'gone' as const);
        const outcome = await Promise.race([finished.then(() => 'finished' as const), gone]);
        if (outcome === 'finished') break;
        // The back-end went away: the driver waits on its call eventfd meanwhile, its buffers still in the ring.
        conn.close();
        conn = await accept();
        connections++;
        const setup = new FrontendSetup(conn, owned);
        await setup.handshake(protocol);
        if (setup.negotiate(ringWants(o)) !== negotiated) {
          throw new VhostUserFrontendError('the back-end that reconnected offers other features than the first');
        }
        setup.setFeatures(negotiated);
        setup.reshareMemory(memory, plan.guestBase);
        const base = Atomics.load(availIdx, 1);
        resumedAt.push(base);
        setup.resumeVring(0, o.queueSize, base, plan.addresses, memory, fds);
        setup.enableVrings([0]);
        // Buffers may already wait in the ring: have the new back-end look.
        signalEventFd(fds.kick.fd);
      }
    } finally {
      errWatch.abort();
      if (timer !== null) clearInterval(timer);
    }
    const result = await finished;
    if (ringBroken) {
      throw new VhostUserFrontendError(
        `the back-end at ${path} reported an error on queue 0 (${result.completed ?? 0} of ${o.buffers} buffers done)`,
      );
    }
    return { result, connections, resumedAt };
  } finally {
    if (worker !== null) await worker.terminate();
    conn?.close();
    closeFd(listenFd);
    unlinkPath(path);
    owned.reverse().forEach((x) => x.close());
  }
}
