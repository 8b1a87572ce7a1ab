/**
 * A unit of the data plane: the queues that are served together (one test queue; a net queue pair), run by one
 * thread of the pool among that thread's other units. A unit never blocks: the thread does the sleeping, on the fds
 * of every unit it runs, so one thread serves many queues and an idle one wakes for nothing.
 */
export interface DataPlaneUnit {
  /** Does the work there is now, bounded (other units wait meanwhile); true if anything moved. */
  poll(): boolean;
  /**
   * Nothing moved: asks for notifications (with the re-check) and returns the fds that bring work, to sleep on; or
   * null if work came in meanwhile (the thread polls again instead of sleeping).
   */
  arm(): readonly number[] | null;
  /** Awake again (or not sleeping after all): notifications off, and the fds of `fired` that were its own drained. */
  disarm(fired: ReadonlySet<number>): void;
  /** The unit is told to stop (its queues' STOP flags) or broke: the thread finishes it. */
  stopped(): boolean;
  /** Its counters now (asked for by `vq status`; structured-cloneable). */
  stats(): Record<string, unknown>;
  /** Publishes what is left, releases what the unit holds, and returns what the back-end is told (structured-cloneable). */
  finish(failure?: string): unknown;
}

/** A module that units are opened from: the pool thread imports it by URL and calls openUnit with the unit's data. */
export interface UnitModule {
  /** Opens a unit from the data its session gave (in the pool thread that will run it); may throw if it cannot start. */
  openUnit(data: unknown, log: (line: string) => void): DataPlaneUnit;
}

/** Messages between the pool and its threads. */
export type ToPoolThread =
  { type: 'start'; id: number; module: string; data: unknown } | { type: 'stats'; request: number } | { type: 'quit' };

export type FromPoolThread =
  | { type: 'done'; id: number; result: unknown }
  | { type: 'failed'; id: number; failure: string }
  | { type: 'log'; line: string }
  | { type: 'stats'; request: number; units: Record<number, Record<string, unknown>> }
  | { type: 'pinned'; cpu: number; ok: boolean };
