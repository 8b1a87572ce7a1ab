import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { adaptedSpin } from '../transport/local/control.js';
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
  /** A flag the pool sets with it, which a busy thread reads each round (a load, where the eventfd is a system call). */
  nudged: SharedArrayBuffer;
  /** A CPU to pin to, or -1. */
  cpu: number;
  /** Spin this long for work before sleeping (0: sleep at once). */
  busyPollUs: number;
}

const input = workerData as PoolThreadInput;
const nudged = new Int32Array(input.nudged);
const port = parentPort!;
const post = (m: FromPoolThread): void => port.postMessage(m);
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
      slots.set(m.id, {
        unit: mod.openUnit(m.data, (line) => post({ type: 'log', line })),
        sleepingOn: null,
        idleSince: 0,
        spinUs: input.busyPollUs,
        sleptAt: 0,
      });
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
  /** With --busy-poll: when (performance.now()) it last found nothing to do, or 0 while it finds work. */
  idleSince: number;
  /** --busy-poll: how long this unit spins before sleeping, adapted as AdaptiveSpin does (by how long it slept). */
  spinUs: number;
  /** When it last fell asleep (performance.now()). */
  sleptAt: number;
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
  adaptSpin(slot);
}

/** After a sleep: a short one means a longer spin would have caught the work (AdaptiveSpin's rule, per unit). */
function adaptSpin(slot: Slot): void {
  if (input.busyPollUs <= 0 || slot.sleptAt === 0) return;
  const sleptUs = (performance.now() - slot.sleptAt) * 1000;
  slot.spinUs = adaptedSpin(slot.spinUs, input.busyPollUs, sleptUs);
}

/**
 * One round over the awake units: true if any moved or is still busy-polling. A unit that throws is a bug of its
 * own: it ends, alone.
 */
function pollAwake(): boolean {
  let busy = false;
  for (const [id, slot] of slots) {
    if (slot.sleepingOn !== null) continue;
    const u = slot.unit;
    try {
      const progressed = !u.stopped() && u.poll();
      // Told to stop, or broken by what it just read: it ends now, not at the next wake-up.
      if (u.stopped()) finish(id);
      else if (progressed) {
        slot.idleSince = 0;
        busy = true;
      } else if (stillSpinning(slot)) busy = true;
      else fallAsleep(id, slot);
    } catch (e) {
      finish(id, `internal error: ${(e as Error).stack ?? String(e)}`);
    }
  }
  return busy;
}

/**
 * --busy-poll: a unit that found nothing keeps being polled, notifications still off, until it has been idle its
 * spin budget. Spinning *before* arming is the point: an armed queue makes its peer kick (a system call a batch) and
 * this side drain the kick, which is the cost busy-polling is there to save. The budget adapts by how long the unit
 * then slept (adaptSpin, AdaptiveSpin's rule): a short sleep doubles it, up to --busy-poll, a long one halves it.
 */
function stillSpinning(slot: Slot): boolean {
  if (input.busyPollUs <= 0) return false;
  const now = performance.now();
  if (slot.idleSince === 0) slot.idleSince = now;
  if (now - slot.idleSince < slot.spinUs / 1000) return true;
  slot.idleSince = 0;
  return false;
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
  slot.sleptAt = performance.now();
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

const fired = new Map<number, Set<number>>();

/**
 * Takes what the epoll set reports (waking the units whose fds fired), waiting for it only when no unit is awake.
 */
function collect(): void {
  const ready = epoll.waitSync(anyAwake() ? 0 : -1);
  fired.clear();
  for (const { token: fd } of ready) {
    if (fd === input.wakeFd) {
      // What it says, the nudged flag says too: the loop looks at that.
      drainEventFd(input.wakeFd);
      continue;
    }
    for (const id of fdOwners.get(fd) ?? []) {
      let set = fired.get(id);
      if (set === undefined) fired.set(id, (set = new Set()));
      set.add(fd);
    }
  }
  for (const [id, set] of fired) wake(id, set);
}

/**
 * The pool nudged: take its messages, and wake every unit, since a queue's kick or call fd may have been replaced
 * and arming again picks it up. The flag is cleared first, so a nudge that comes meanwhile is seen next round.
 */
async function answerNudge(): Promise<void> {
  Atomics.store(nudged, 0, 0);
  await takeMessages();
  for (const id of slots.keys()) wake(id, new Set());
}

/** While busy, the sleepers' fds are looked at (without waiting) once every this many rounds: a system call a round
 * would cost a busy queue more than the latency it saves a sleeping one. */
const BUSY_ROUNDS_PER_LOOK = 16;

async function run(): Promise<void> {
  let busyRounds = 0;
  await answerNudge();
  for (;;) {
    if (Atomics.load(nudged, 0) !== 0) await answerNudge();
    if (quitting) {
      for (const id of [...slots.keys()]) finish(id, 'the pool is shutting down');
      return;
    }
    if (pollAwake()) {
      // Busy: still look at the sleepers (if any) now and then, so a busy unit does not starve them.
      if (fdOwners.size > 0 && ++busyRounds % BUSY_ROUNDS_PER_LOOK === 0) collect();
      continue;
    }
    collect();
  }
}

void run();
