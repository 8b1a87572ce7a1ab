/** Slots of the shared Int32Array through which the two threads of a local pair signal each other. */
export const Control = {
  /** Driver -> device notifications: incremented, then Atomics.notify. */
  KICKS: 0,
  /** Device -> driver notifications. */
  IRQS: 1,
  /** Set when the run is over (done, or a side failed): both sides leave their loops. */
  STOP: 2,
  /** Set by the main thread once both sides are built: start. */
  GO: 3,
  /** Buffers the driver has completed, for progress display. */
  PROGRESS: 4,
  LENGTH: 8,
} as const;

/** How long a sleeping side waits before it checks whether it missed a notification. Not a test timing. */
export const WATCHDOG_MS = 2000;

/**
 * Sleeps until `ctl[slot]` moves off `seen` (a notification) or STOP is set. A sleeper that has waited two watchdog
 * periods while work it was never told about is visibly pending has lost a notification: that returns false.
 */
export function sleepOn(ctl: Int32Array, slot: number, seen: number, workPending: () => boolean): boolean {
  let strikes = 0;
  for (;;) {
    if (Atomics.load(ctl, Control.STOP) !== 0) return true;
    const r = Atomics.wait(ctl, slot, seen, WATCHDOG_MS);
    if (r !== 'timed-out') return true;
    if (workPending() && Atomics.load(ctl, slot) === seen) {
      if (++strikes >= 2) return false;
    } else {
      strikes = 0;
    }
  }
}

export function signal(ctl: Int32Array, slot: number): void {
  Atomics.add(ctl, slot, 1);
  Atomics.notify(ctl, slot);
}

/**
 * Busy-polls for up to `budgetUs` microseconds for work to appear (as vhost-net's busyloop_timeout does) before the
 * caller arms notifications and sleeps: under load the work usually comes sooner than a thread wake-up would. True
 * if work appeared; false if the budget ran out or the run stopped. The clock is read every 32 polls.
 */
export function busyPoll(budgetUs: number, workPending: () => boolean, stopped: () => boolean): boolean {
  if (budgetUs <= 0) return false;
  const deadline = performance.now() + budgetUs / 1000;
  for (let i = 1; ; i++) {
    if (workPending()) return true;
    if ((i & 31) === 0 && (performance.now() > deadline || stopped())) return false;
  }
}

/** The shortest an adaptive spin shrinks to: still long enough to catch a peer that is mid-batch. */
export const MIN_SPIN_US = 0.5;
/** A sleep this many times the longest spin, or shorter, was cut short by an active peer. */
const SHORT_SLEEP = 4;

/**
 * An adaptive busy-poll before sleeping, steered as Linux's haltpoll cpuidle governor steers its poll window: spin up
 * to the current budget for work; when none came and the side slept, the sleep's length decides. A short one (the
 * peer was active: a longer spin would have caught its work without a wake-up) doubles the budget, up to `maxUs`; a
 * long one (the peer was idle: spinning only burned CPU) halves it. 0 never spins.
 */
export class AdaptiveSpin {
  #budgetUs: number;

  constructor(readonly maxUs: number) {
    this.#budgetUs = maxUs;
  }

  /** The budget the next spin will use. */
  get budgetUs(): number {
    return this.#budgetUs;
  }

  /** Spins for work; true if it came. */
  spin(workPending: () => boolean, stopped: () => boolean): boolean {
    return this.maxUs > 0 && busyPoll(this.#budgetUs, workPending, stopped);
  }

  /** The side slept `us` microseconds after a spin that found nothing. */
  slept(us: number): void {
    if (this.maxUs > 0) this.#budgetUs = adaptedSpin(this.#budgetUs, this.maxUs, us);
  }

  /** Runs `sleep` (the side's sleep after a spin that found nothing), timing it for slept(); returns its result. */
  timed<T>(sleep: () => T): T {
    const from = performance.now();
    const result = sleep();
    this.slept((performance.now() - from) * 1000);
    return result;
  }
}

/** A spin budget after a sleep of `sleptUs`: doubled (to `maxUs`) after a short sleep, halved after a long one. */
export function adaptedSpin(budgetUs: number, maxUs: number, sleptUs: number): number {
  return sleptUs <= maxUs * SHORT_SLEEP ? Math.min(maxUs, budgetUs * 2) : Math.max(MIN_SPIN_US, budgetUs / 2);
}
