import { Worker } from 'node:worker_threads';
import type { RunOptions } from '../../harness/options.js';
import { EventFd } from '../../os/eventfd.js';
import { Mapping } from '../../os/mapping.js';
import { MemFd } from '../../os/memfd.js';
import { connectUnix } from '../../os/unix-socket.js';
import { VIRTIO_F_RING_PACKED } from '../../spec/features.js';
import {
  VHOST_USER_F_PROTOCOL_FEATURES,
  VhostUserProtocolFeature as P,
  VhostUserRequest as R,
  requestName,
} from '../../spec/vhost-user.js';
import { bit, featureMask, hasFeature, negotiate, type Features } from '../../virtqueue/features.js';
import { driverWants, planLocal, type LocalPlan } from '../local/plan.js';
import { compiledWorkerUrl } from '../worker-url.js';
import { VhostUserConnection } from './connection.js';
import {
  decodeU64,
  decodeVringState,
  encodeMemTable,
  encodeSingleRegion,
  encodeU64,
  encodeVringAddr,
  encodeVringFile,
  encodeVringState,
  type VhostUserMessage,
} from './messages.js';
import { QueueControl, type DriverQueueInput, type QueueResult } from './queue-control.js';

/** The back-end misbehaved or went away: what happened, in words a user can act on. */
export class VhostUserFrontendError extends Error {
  override readonly name = 'VhostUserFrontendError';
}

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
): Promise<FrontendRun> {
  let fd: number;
  try {
    fd = connectUnix(path);
  } catch (e) {
    throw new VhostUserFrontendError(`cannot connect to a vhost-user back-end at ${path}: ${(e as Error).message}`);
  }
  const conn = new VhostUserConnection(fd, false);
  const owned: { close(): void }[] = [];
  try {
    const ask = async (request: number, payload?: Uint8Array): Promise<VhostUserMessage> => {
      conn.send(request, payload);
      const reply = await conn.receive();
      if (reply === null)
        throw new VhostUserFrontendError(`the back-end closed the connection after ${requestName(request)}`);
      if (reply.request !== request) {
        throw new VhostUserFrontendError(`asked ${requestName(request)}, got a reply to ${requestName(reply.request)}`);
      }
      return reply;
    };
    const offered = decodeU64(await ask(R.GET_FEATURES));
    const protocolOffered = hasFeature(offered, VHOST_USER_F_PROTOCOL_FEATURES);
    let memSlots = false;
    if (protocolOffered) {
      const pf = decodeU64(await ask(R.GET_PROTOCOL_FEATURES));
      const wanted = pf & featureMask(P.MQ, P.CONFIGURE_MEM_SLOTS);
      conn.send(R.SET_PROTOCOL_FEATURES, encodeU64(wanted));
      memSlots = hasFeature(wanted, P.CONFIGURE_MEM_SLOTS);
    }
    conn.send(R.SET_OWNER);
    const negotiated = negotiate(offered & ~bit(VHOST_USER_F_PROTOCOL_FEATURES), driverWants(o));
    if (o.ring === 'packed' && !hasFeature(negotiated, VIRTIO_F_RING_PACKED)) {
      throw new VhostUserFrontendError('the back-end does not offer RING_PACKED');
    }
    conn.send(R.SET_FEATURES, encodeU64(negotiated | (protocolOffered ? bit(VHOST_USER_F_PROTOCOL_FEATURES) : 0n)));

    const plan: LocalPlan = { ...planLocal(o), features: negotiated };
    const memfd = MemFd.create('vqkit-guest', plan.memoryBytes);
    owned.push(memfd);
    const mapping = Mapping.map(memfd.fd, plan.memoryBytes);
    owned.push(mapping);
    const userBase = Number(mapping.address);
    const user = (gpa: number): number => gpa - plan.guestBase + userBase;
    const region = { guestAddr: plan.guestBase, size: plan.memoryBytes, userAddr: userBase, mmapOffset: 0 };
    // With memory slots the table is built region by region, as QEMU does; otherwise in one message.
    if (memSlots) conn.send(R.ADD_MEM_REG, encodeSingleRegion(region), [memfd.fd]);
    else conn.send(R.SET_MEM_TABLE, encodeMemTable([region]), [memfd.fd]);
    const packed = hasFeature(negotiated, VIRTIO_F_RING_PACKED);
    conn.send(R.SET_VRING_NUM, encodeVringState({ index: 0, num: o.queueSize }));
    // Packed: next descriptor 0 with wrap counter 1, for avail (bits 0-15) and used (16-31).
    conn.send(R.SET_VRING_BASE, encodeVringState({ index: 0, num: packed ? 0x80008000 : 0 }));
    const a = plan.addresses;
    conn.send(
      R.SET_VRING_ADDR,
      encodeVringAddr({ index: 0, flags: 0, desc: user(a.desc), used: user(a.device), avail: user(a.driver), log: 0n }),
    );
    const call = EventFd.create();
    owned.push(call);
    const kick = EventFd.create();
    owned.push(kick);
    const err = EventFd.create();
    owned.push(err);
    conn.send(R.SET_VRING_CALL, encodeVringFile(0, true), [call.fd]);
    conn.send(R.SET_VRING_ERR, encodeVringFile(0, true), [err.fd]);
    conn.send(R.SET_VRING_KICK, encodeVringFile(0, true), [kick.fd]);
    if (protocolOffered) conn.send(R.SET_VRING_ENABLE, encodeVringState({ index: 0, num: 1 }));

    const control = new SharedArrayBuffer(QueueControl.LENGTH * 4);
    const ctl = new Int32Array(control);
    Atomics.store(ctl, QueueControl.KICK_FD, kick.fd);
    Atomics.store(ctl, QueueControl.CALL_FD, call.fd);
    const input: DriverQueueInput = { role: 'driver', plan, memoryFd: memfd.fd, control, pauseEvery: restartRingEvery };
    const worker = new Worker(compiledWorkerUrl(import.meta.url, './queue-worker.js'), { workerData: input });
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
    const watchErr = async (): Promise<void> => {
      while (!conn.closed && Atomics.load(ctl, QueueControl.STOP) === 0) {
        if (await err.whenReadable(200)) {
          ringBroken = true;
          Atomics.store(ctl, QueueControl.STOP, 1);
          return;
        }
      }
    };
    void watchErr();
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
