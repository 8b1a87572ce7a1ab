import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { compiledWorkerUrl } from '../runtime/worker-url.js';
import { nextMessage } from '../transport/local/threads.js';

/** The floor's ring: what `vq bench ringtest` compares with ringtest's `ring` (ring 256, batches of 32, 64 bytes). */
export const FLOOR_RING = 256;
export const FLOOR_BATCH = 32;
export const FLOOR_LEN = 64;
/** Where the (never touched) buffers are said to be. */
export const FLOOR_ADDR = 0x100000;

export interface FloorInput {
  role: 'driver' | 'device';
  ring: SharedArrayBuffer;
  control: SharedArrayBuffer;
  cpu: number;
  buffers: number;
}

export type FloorMessage = { type: 'ready'; pinned: boolean } | { type: 'done'; elapsedMs: number };

export interface FloorResult {
  buffersPerSec: number;
  pinned: boolean;
}

/**
 * The packed IN_ORDER ring protocol alone, in JavaScript, on two pinned threads: a driver that makes batches of one-
 * descriptor buffers available (head flags last, a release store) and reaps one used descriptor per batch, and a
 * device that scans a run's flags, acquires the last, reads and bounds-checks each descriptor and writes one used
 * descriptor for the run. It is what ringtest's `ring` prototype does, in the language vqkit is written in: the
 * rate no checked engine in JavaScript can pass on this machine, so the part of a gap to ringtest that is the
 * language's, not vqkit's.
 */
export async function runProtocolFloor(buffers: number): Promise<FloorResult> {
  const count = Math.ceil(buffers / FLOOR_BATCH) * FLOOR_BATCH;
  const ring = new SharedArrayBuffer(FLOOR_RING * 16);
  const control = new SharedArrayBuffer(4);
  const ctl = new Int32Array(control);
  const cpus = availableParallelism();
  const url = compiledWorkerUrl(import.meta.url, './protocol-floor-worker.js');
  const start = (role: FloorInput['role'], cpu: number): Worker =>
    new Worker(url, { workerData: { role, ring, control, cpu: cpus >= 2 ? cpu : -1, buffers: count } });
  const workers = [start('driver', 0), start('device', 1)];
  try {
    const ready = await Promise.all(workers.map((w) => nextMessage<FloorMessage>(w)));
    const done = workers.map((w) => nextMessage<FloorMessage>(w));
    Atomics.store(ctl, 0, 1);
    Atomics.notify(ctl, 0);
    const [driver] = await Promise.all(done);
    if (driver.type !== 'done') throw new Error('the floor driver did not finish');
    return {
      buffersPerSec: (count * 1000) / driver.elapsedMs,
      pinned: ready.every((m) => m.type === 'ready' && m.pinned),
    };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
