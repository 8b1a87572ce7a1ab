import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { blockSignalsInThisThread, pinCurrentThread } from '../os/affinity.js';
import { drainEventFd, waitAnyReadableSet } from '../os/eventfd.js';
import type { DataPlaneUnit, FromPoolThread, ToPoolThread, UnitModule } from './data-plane.js';

/** What a pool thread is given when it starts. */
export interface PoolThreadInput {
  /** The thread's number, for logs. */
  index: number;
  /** The eventfd the pool signals after posting a message (the thread sleeps in poll, not in its event loop). */
  wakeFd: number;
  /** A CPU to pin to, or -1. */
  cpu: number;
  /** Spin this long for work before sleeping (0: sleep at once). */
  busyPollUs: number;
}

const input = workerData as PoolThreadInput;
const port = parentPort!;
const post = (m: FromPoolThread): void => port.postMessage(m);
const units = new Map<number, DataPlaneUnit>();
const modules = new Map<string, UnitModule>();
let quitting = false;

// Signals are the main thread's to handle.
blockSignalsInThisThread();
if (input.cpu >= 0) post({ type: 'pinned', cpu: input.cpu, ok: pinCurrentThread(input.cpu) });

/** Takes every message the pool posted (synchronously: this thread spends its life outside its event loop). */
async function takeMessages(): Promise<void> {
  for (;;) {
    const got = receiveMessageOnPort(port);
    if (got === undefined) return;
    const m = got.message as ToPoolThread;
    if (m.type === 'quit') {
      quitting = true;
      continue;
    }
    if (m.type === 'stats') {
      const counts: Record<number, Record<string, unknown>> = {};
      for (const [id, u] of units) counts[id] = u.stats();
      post({ type: 'stats', request: m.request, units: counts });
      continue;
    }
    try {
      let mod = modules.get(m.module);
      if (mod === undefined) {
        mod = (await import(m.module)) as UnitModule;
        modules.set(m.module, mod);
      }
      units.set(
        m.id,
        mod.openUnit(m.data, (line) => post({ type: 'log', line })),
      );
    } catch (e) {
      post({ type: 'failed', id: m.id, failure: `could not start: ${(e as Error).stack ?? String(e)}` });
    }
  }
}

/** Ends a unit: what it returns (or why it could not) goes to the pool; the thread serves the others on. */
function finish(id: number, unit: DataPlaneUnit, failure?: string): void {
  units.delete(id);
  try {
    post({ type: 'done', id, result: unit.finish(failure) });
  } catch (e) {
    post({ type: 'failed', id, failure: `${failure ?? ''} finishing failed: ${(e as Error).stack ?? String(e)}` });
  }
}

/** One round over every unit: true if any moved. A unit that throws is a bug of its own: it ends, alone. */
function pollAll(): boolean {
  let moved = false;
  for (const [id, u] of units) {
    try {
      if (!u.stopped() && u.poll()) moved = true;
      // Told to stop, or broken by what it just read: it ends now, not at the next wake-up.
      if (u.stopped()) finish(id, u);
    } catch (e) {
      finish(id, u, `internal error: ${(e as Error).stack ?? String(e)}`);
    }
  }
  return moved;
}

function busyPoll(): boolean {
  if (input.busyPollUs <= 0) return false;
  const until = performance.now() + input.busyPollUs / 1000;
  while (performance.now() < until) {
    for (const u of units.values()) if (u.pending()) return true;
  }
  return false;
}

const fired = new Set<number>();

/** Sleeps on the wake eventfd and every unit's fds, unless a unit finds work while arming. */
function sleep(): void {
  const fds: number[] = [input.wakeFd];
  let armed = true;
  for (const u of units.values()) {
    const f = u.arm();
    if (f === null) {
      armed = false;
      break;
    }
    fds.push(...f);
  }
  fired.clear();
  if (armed) waitAnyReadableSet(fds, -1, fired);
  if (fired.has(input.wakeFd)) drainEventFd(input.wakeFd);
  for (const u of units.values()) u.disarm(fired);
}

async function run(): Promise<void> {
  for (;;) {
    await takeMessages();
    if (quitting) {
      for (const [id, u] of units) finish(id, u, 'the pool is shutting down');
      return;
    }
    if (pollAll() || busyPoll()) continue;
    sleep();
  }
}

void run();
