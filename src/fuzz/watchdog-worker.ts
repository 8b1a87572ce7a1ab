import { writeFileSync, writeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';

/**
 * The per-input time limit. The fuzz loop runs on the main thread and cannot be interrupted, so this thread watches
 * the run counter it bumps before each input (with a copy of the input beside it). If the counter stands still for
 * longer than the limit, the input is saved as a hang and the process is killed: its parent reports the hang.
 */
interface WatchdogData {
  beat: SharedArrayBuffer;
  input: SharedArrayBuffer;
  limitMs: number;
  hangFile: string;
}

const { beat, input, limitMs, hangFile } = workerData as WatchdogData;
const counter = new Int32Array(beat);
const bytes = new Uint8Array(input);
const sleeper = new Int32Array(new SharedArrayBuffer(4));

// Watching from here on: the fuzz loop may start (it never yields to let this thread start later).
parentPort?.postMessage('watching');
let last = Atomics.load(counter, 0);
let still = 0;
const step = Math.max(50, Math.min(500, limitMs / 4));
for (;;) {
  Atomics.wait(sleeper, 0, 0, step);
  if (Atomics.load(counter, 2) === 1) break;
  const now = Atomics.load(counter, 0);
  if (now !== last) {
    last = now;
    still = 0;
    continue;
  }
  still += step;
  if (still < limitMs) continue;
  const len = Atomics.load(counter, 1);
  writeFileSync(hangFile, bytes.slice(0, len));
  // Straight to fd 2: a worker's process.stderr goes through the main thread, which is the one stuck.
  writeSync(2, `fuzz: input ${now} ran longer than ${limitMs} ms; saved to ${hangFile}\n`);
  process.kill(process.pid, 'SIGKILL');
}
