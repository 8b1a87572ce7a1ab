import { Worker } from 'node:worker_threads';
import type { RunOptions } from '../../harness/options.js';
import { VIRTIO_F_RING_PACKED } from '../../spec/features.js';
import { VhostUserProtocolFeature as P, VhostUserRequest as R } from '../../spec/vhost-user.js';
import { featureMask, hasFeature, ringWants, type Features } from '../../virtqueue/features.js';
import { planLocal, type LocalPlan } from '../../transport/local/plan.js';
import { compiledWorkerUrl } from '../../runtime/worker-url.js';
import { ReadinessLoop } from '../../runtime/readiness-loop.js';
import { VhostUserConnection } from '../../transport/vhost-user/connection.js';
import {
  FrontendSetup,
  VhostUserFrontendError,
  connectBackend,
  type Owned,
} from '../../transport/vhost-user/frontend-setup.js';
import { decodeVringState, encodeVringState } from '../../transport/vhost-user/messages.js';
import { QueueControl } from '../../transport/vhost-user/queue-control.js';
import type { DriverQueueInput, QueueResult } from './test-frontend-worker.js';

export { VhostUserFrontendError };

export interface FrontendRun {
  plan: LocalPlan;
  negotiated: Features;
  result: QueueResult;
  /** What the back-end's GET_VRING_BASE reply said: where it stopped reading the ring. */
  stoppedAt: number;
  /** Times the ring was disabled and re-enabled mid-run (the restartRingEvery test hook). */
  restarts: number;
}

/**
 * vqkit's vhost-user front-end (what DPDK's virtio-user is): connects to a back-end at `path`, negotiates features
 * and protocol features, shares guest memory as a memfd, sets up queue 0 (split or packed, as negotiated) and runs
 * the test driver on it in a worker thread, kicking and being called through eventfds.
 */
export async function runFrontend(
  path: string,
  o: RunOptions,
  onProgress?: (completed: number) => void,
  /** Test hook: after every this many completed buffers, disable and re-enable the ring (the back-end resumes it). */
  restartRingEvery?: number,
  /** `vq check device`: judge the device (verdicts to this VerdictBoard buffer), stopping a ring stalled this long. */
  judge?: { board: SharedArrayBuffer; stallMs: number },
): Promise<FrontendRun> {
  const conn = new VhostUserConnection(connectBackend(path), false);
  const owned: Owned[] = [];
  try {
    const setup = new FrontendSetup(conn, owned);
    await setup.handshake(featureMask(P.MQ, P.CONFIGURE_MEM_SLOTS));
    const negotiated = setup.negotiate(ringWants(o));
    setup.setFeatures(negotiated);

    const plan: LocalPlan = { ...planLocal(o), features: negotiated };
    const memory = setup.shareMemory('vqkit-guest', plan.guestBase, plan.memoryBytes);
    const packed = hasFeature(negotiated, VIRTIO_F_RING_PACKED);
    const control = new SharedArrayBuffer(QueueControl.LENGTH * 4);
    const ctl = new Int32Array(control);
    const err = setup.setUpVring(0, o.queueSize, packed, plan.addresses, memory, control, true).err!;
    setup.enableVrings([0]);

    const input: DriverQueueInput = {
      role: 'driver',
      plan,
      memoryFd: memory.memfd.fd,
      control,
      pauseEvery: restartRingEvery,
      judge: judge?.board,
      stallMs: judge?.stallMs,
    };
    const worker = new Worker(compiledWorkerUrl(import.meta.url, './test-frontend-worker.js'), { workerData: input });
    const finished = new Promise<QueueResult>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    // While the driver runs the socket stays quiet: the next message is the reply to GET_VRING_BASE below. If it
    // closes first, the back-end has gone away, and the driver is told to stop.
    let backendGone = false;
    const nextMessage = conn.receive().then(
      (m) => {
        if (m === null) {
          backendGone = true;
          Atomics.store(ctl, QueueControl.STOP, 1);
        }
        return m;
      },
      (e: unknown) => {
        backendGone = true;
        Atomics.store(ctl, QueueControl.STOP, 1);
        throw e;
      },
    );
    // The back-end signals the error eventfd when the ring breaks: stop waiting for buffers that will not come.
    let ringBroken = false;
    const errWatch = new AbortController();
    void ReadinessLoop.shared()
      .readable(err.fd, errWatch.signal)
      .then((signalled) => {
        if (!signalled) return;
        ringBroken = true;
        Atomics.store(ctl, QueueControl.STOP, 1);
      });
    const timer = onProgress ? setInterval(() => onProgress(Atomics.load(ctl, QueueControl.PROGRESS)), 250) : null;
    let restarts = 0;
    const restarter =
      restartRingEvery === undefined
        ? null
        : setInterval(() => {
            if (Atomics.load(ctl, QueueControl.PAUSE) === 0 || conn.closed) return;
            conn.send(R.SET_VRING_ENABLE, encodeVringState({ index: 0, num: 0 }));
            conn.send(R.SET_VRING_ENABLE, encodeVringState({ index: 0, num: 1 }));
            restarts++;
            Atomics.store(ctl, QueueControl.PAUSE, 0);
            Atomics.notify(ctl, QueueControl.PAUSE);
          }, 5);
    const result = await finished.finally(() => {
      errWatch.abort();
      if (timer !== null) clearInterval(timer);
      if (restarter !== null) clearInterval(restarter);
    });
    await worker.terminate();
    Atomics.store(ctl, QueueControl.STOP, 1);
    if (ringBroken) {
      throw new VhostUserFrontendError(
        `the back-end at ${path} reported an error on queue 0 (${result.completed ?? 0} of ${o.buffers} buffers done); its log says which`,
      );
    }
    if (backendGone) {
      throw new VhostUserFrontendError(
        `the back-end at ${path} went away during the run (${result.completed ?? 0} of ${o.buffers} buffers done)`,
      );
    }
    // Stop the ring as QEMU does before it disconnects: the back-end reports where it stopped.
    conn.send(R.GET_VRING_BASE, encodeVringState({ index: 0, num: 0 }));
    const reply = await nextMessage;
    if (reply === null || reply.request !== R.GET_VRING_BASE) {
      throw new VhostUserFrontendError(`no reply to GET_VRING_BASE from the back-end at ${path}`);
    }
    const stoppedAt = decodeVringState(reply, 1).num;
    return { plan, negotiated, result, stoppedAt, restarts };
  } finally {
    conn.close();
    owned.reverse().forEach((x) => x.close());
  }
}
