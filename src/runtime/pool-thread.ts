import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { blockSignalsInThisThread, pinCurrentThread } from '../os/affinity.js';
import { Epoll, EPOLLIN } from '../os/epoll.js';
import { drainEventFd } from '../os/eventfd.js';
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
const modules = new Map<string, UnitModule>();
let quitting = false;
/** The pool signalled the wake-up eventfd: messages wait (the thread looks only then, not every round). */
let messagesWaiting = true;

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
      for (const [id, slot] of slots) counts[id] = slot.unit.stats();
      post({ type: 'stats', request: m.request, units: counts });
      continue;
    }
    try {
      let mod = modules.get(m.module);
      if (mod === undefined) {
        mod = (await import(m.module)) as UnitModule;
        modules.set(m.module, mod);
      }
      slots.set(m.id, { unit: mod.openUnit(m.data, (line) => post({ type: 'log', line })), sleepingOn: null });
    } catch (e) {
      post({ type: 'failed', id: m.id, failure: `could not start: ${(e as Error).stack ?? String(e)}` });
    }
  }
}

/**
 * A unit's place on its thread. Awake units are polled every round; a unit that found nothing to do asks for
 * notifications (arm) and sleeps, its fds in the thread's epoll set, until one of them fires. So a round costs what
 * the busy units cost, however many idle ones the thread holds.
 */
interface Slot {
  unit: DataPlaneUnit;
  /** The fds it sleeps on (registered in the epoll set), or null while awake. */
  sleepingOn: readonly number[] | null;
}

const slots = new Map<number, Slot>();
/** Which units a registered fd wakes (one, unless two units share a backend fd). */
const fdOwners = new Map<number, Set<number>>();
const epoll = Epoll.create(256);
epoll.add(input.wakeFd, EPOLLIN, input.wakeFd);

/** Ends a unit: what it returns (or why it could not) goes to the pool; the thread serves the others on. */
function finish(id: number, failure?: string): void {
  const slot = slots.get(id)!;
  unregister(id, slot);
  slots.delete(id);
  try {
    post({ type: 'done', id, result: slot.unit.finish(failure) });
  } catch (e) {
    post({ type: 'failed', id, failure: `${failure ?? ''} finishing failed: ${(e as Error).stack ?? String(e)}` });
  }
}

function unregister(id: number, slot: Slot): void {
  for (const fd of slot.sleepingOn ?? []) {
    const owners = fdOwners.get(fd);
    if (owners === undefined || !owners.delete(id) || owners.size > 0) continue;
    fdOwners.delete(fd);
    epoll.remove(fd);
  }
  slot.sleepingOn = null;
}

/** Wakes a sleeping unit: notifications off, its fired fds drained; it is polled from the next round on. */
function wake(id: number, fired: ReadonlySet<number>): void {
  const slot = slots.get(id);
  if (slot === undefined || slot.sleepingOn === null) return;
  unregister(id, slot);
  slot.unit.disarm(fired);
}

/** One round over the awake units: true if any moved. A unit that throws is a bug of its own: it ends, alone. */
function pollAwake(): boolean {
  let moved = false;
  for (const [id, slot] of slots) {
    if (slot.sleepingOn !== null) continue;
    const u = slot.unit;
    try {
      const progressed = !u.stopped() && u.poll();
      // Told to stop, or broken by what it just read: it ends now, not at the next wake-up.
      if (u.stopped()) finish(id);
      else if (progressed) moved = true;
      else fallAsleep(id, slot);
    } catch (e) {
      finish(id, `internal error: ${(e as Error).stack ?? String(e)}`);
    }
  }
  return moved;
}

/** A unit with nothing to do asks for notifications; if none came in meanwhile it sleeps on its fds. */
function fallAsleep(id: number, slot: Slot): void {
  const fds = slot.unit.arm();
  if (fds === null) {
    // Work arrived while arming: stay awake.
    slot.unit.disarm(new Set());
    return;
  }
  slot.sleepingOn = fds;
  for (const fd of fds) {
    let owners = fdOwners.get(fd);
    if (owners === undefined) {
      epoll.add(fd, EPOLLIN, fd);
      fdOwners.set(fd, (owners = new Set()));
    }
    owners.add(id);
  }
}

function anyAwake(): boolean {
  for (const slot of slots.values()) if (slot.sleepingOn === null) return true;
  return false;
}

function busyPoll(): boolean {
  if (input.busyPollUs <= 0) return false;
  const until = performance.now() + input.busyPollUs / 1000;
  while (performance.now() < until) {
    for (const [id, slot] of slots) {
      if (!slot.unit.pending()) continue;
      wake(id, new Set());
      return true;
    }
  }
  return false;
}

const fired = new Map<number, Set<number>>();

/**
 * Takes what the epoll set reports, waiting for it only when no unit is awake. The wake-up eventfd (the pool posted
 * a message) wakes every unit: a queue's kick or call fd may have been replaced, and arming again picks it up.
 */
function collect(): void {
  const ready = epoll.waitSync(anyAwake() ? 0 : -1);
  fired.clear();
  let all = false;
  for (const { token: fd } of ready) {
    if (fd === input.wakeFd) {
      drainEventFd(input.wakeFd);
      messagesWaiting = true;
      all = true;
      continue;
    }
    for (const id of fdOwners.get(fd) ?? []) {
      let set = fired.get(id);
      if (set === undefined) fired.set(id, (set = new Set()));
      set.add(fd);
    }
  }
  for (const [id, set] of fired) wake(id, set);
  if (all) for (const id of slots.keys()) wake(id, new Set());
}

/** While busy, the sleepers' fds are looked at (without waiting) once every this many rounds: a system call a round
 * would cost a busy queue more than the latency it saves a sleeping one. */
const BUSY_ROUNDS_PER_LOOK = 16;

async function run(): Promise<void> {
  let busyRounds = 0;
  for (;;) {
    if (messagesWaiting) {
      messagesWaiting = false;
      await takeMessages();
    }
    if (quitting) {
      for (const id of [...slots.keys()]) finish(id, 'the pool is shutting down');
      return;
    }
    if (pollAwake() || busyPoll()) {
      // Busy: still look at the sleepers now and then, so a busy unit does not starve them.
      if (++busyRounds % BUSY_ROUNDS_PER_LOOK === 0) collect();
      continue;
    }
    collect();
  }
}

void run();
