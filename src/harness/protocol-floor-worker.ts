import { parentPort, workerData } from 'node:worker_threads';
import { pinCurrentThread } from '../os/affinity.js';
import {
  FLOOR_ADDR,
  FLOOR_BATCH,
  FLOOR_LEN,
  FLOOR_RING,
  type FloorInput,
  type FloorMessage,
} from './protocol-floor.js';

/*
 * One side of the protocol floor (see protocol-floor.ts): a packed IN_ORDER ring of one-descriptor buffers, each side
 * doing only what the ring protocol needs, in the memory order vqkit uses. No engine, no checks beyond the device's
 * bounds check, no bookkeeping.
 */

const AVAIL = 1 << 7;
const USED = 1 << 15;
const WRITE = 1 << 1;
const GO = 0;

const input = workerData as FloorInput;
const ctl = new Int32Array(input.control);
const d32 = new Uint32Array(input.ring);
const d16 = new Uint16Array(input.ring);
const pinned = pinCurrentThread(input.cpu);
const post = (m: FloorMessage): void => parentPort!.postMessage(m);
post({ type: 'ready', pinned });
Atomics.wait(ctl, GO, 0);
if (input.role === 'driver') {
  const start = performance.now();
  drive(input.buffers);
  post({ type: 'done', elapsedMs: performance.now() - start });
} else {
  serve(input.buffers);
  post({ type: 'done', elapsedMs: 0 });
}

/** Batches of FLOOR_BATCH buffers whenever that many are free (their head's flags last), reaping one used per batch. */
function drive(buffers: number): void {
  let pos = 0;
  let wrap = 1;
  let usedPos = 0;
  let usedWrap = 1;
  let inFlight = 0;
  let added = 0;
  let back = 0;
  while (back < buffers) {
    if (inFlight + FLOOR_BATCH <= FLOOR_RING && added < buffers) {
      const head = pos;
      let headFlags = 0;
      for (let i = 0; i < FLOOR_BATCH; i++) {
        const w = pos * 4;
        const addr = FLOOR_ADDR + pos * FLOOR_LEN;
        if (d32[w] !== addr) d32[w] = addr;
        if (d32[w + 2] !== FLOOR_LEN) d32[w + 2] = FLOOR_LEN;
        const flags = (wrap ? AVAIL : USED) | WRITE;
        if (i === 0) {
          headFlags = flags;
          d16[pos * 8 + 6] = pos;
        } else {
          d32[w + 3] = (pos | (flags << 16)) >>> 0;
        }
        if (++pos === FLOOR_RING) {
          pos = 0;
          wrap ^= 1;
        }
      }
      Atomics.store(d16, head * 8 + 7, headFlags);
      inFlight += FLOOR_BATCH;
      added += FLOOR_BATCH;
    }
    const flags = Atomics.load(d16, usedPos * 8 + 7);
    if (((flags >> 7) & 1) === usedWrap && ((flags >> 15) & 1) === usedWrap) {
      const n = ((d16[usedPos * 8 + 6] - usedPos + FLOOR_RING) % FLOOR_RING) + 1;
      usedPos += n;
      if (usedPos >= FLOOR_RING) {
        usedPos -= FLOOR_RING;
        usedWrap ^= 1;
      }
      inFlight -= n;
      back += n;
    }
  }
}

/** Runs of available descriptors: flags scanned, the last acquired, then each read and bounds-checked; one used each. */
function serve(buffers: number): void {
  let pos = 0;
  let wrap = 1;
  let usedPos = 0;
  let usedWrap = 1;
  let served = 0;
  let sink = 0;
  while (served < buffers) {
    if (((Atomics.load(d16, pos * 8 + 7) >> 7) & 1) !== wrap) continue;
    let n = 1;
    let last = pos;
    let lastWrap = wrap;
    for (;;) {
      const next = last + 1 === FLOOR_RING ? 0 : last + 1;
      const nextWrap = next === 0 ? lastWrap ^ 1 : lastWrap;
      if (n === FLOOR_RING || ((d16[next * 8 + 7] >> 7) & 1) !== nextWrap) break;
      last = next;
      lastWrap = nextWrap;
      n++;
    }
    if (n > 1) Atomics.load(d16, last * 8 + 7);
    for (let i = 0; i < n; i++) {
      const w = pos * 4;
      const lo = d32[w];
      const len = d32[w + 2];
      if (d32[w + 1] !== 0 || lo < FLOOR_ADDR || lo + len > FLOOR_ADDR + FLOOR_RING * FLOOR_LEN) {
        throw new Error(`descriptor ${pos} out of range`);
      }
      sink += len;
      if (++pos === FLOOR_RING) {
        pos = 0;
        wrap ^= 1;
      }
    }
    d32[usedPos * 4 + 2] = FLOOR_LEN;
    d16[usedPos * 8 + 6] = d16[last * 8 + 6];
    Atomics.store(d16, usedPos * 8 + 7, (usedWrap ? AVAIL | USED : 0) | WRITE);
    usedPos += n;
    if (usedPos >= FLOOR_RING) {
      usedPos -= FLOOR_RING;
      usedWrap ^= 1;
    }
    served += n;
  }
  if (sink !== served * FLOOR_LEN) throw new Error(`served ${served} buffers of ${sink} bytes`);
}
