import { parentPort } from 'node:worker_threads';
import { blockSignalsInThisThread } from '../os/affinity.js';
import { ReadinessLoop } from './readiness-loop.js';

/** What the loop thread and its owner say to each other. */
export type ToLoopThread =
  { type: 'start'; id: number; module: string; data: unknown } | { type: 'stop'; id: number } | { type: 'quit' };

export type FromLoopThread =
  | { type: 'done'; id: number; result: unknown }
  | { type: 'failed'; id: number; failure: string }
  | { type: 'log'; id: number; line: string };

/**
 * A unit that needs an event loop (host sockets through node:net): it runs until `stop` aborts (or it ends by
 * itself), sleeping on the thread's readiness loop, and returns what its owner is told.
 */
export interface AsyncUnitModule {
  /** Runs a unit until `stop` is aborted (its queues' STOP flags were set) or it breaks, and resolves with its UnitResult. */
  runUnit(data: unknown, log: (line: string) => void, stop: AbortSignal): Promise<unknown>;
}

const port = parentPort!;
const post = (m: FromLoopThread): void => port.postMessage(m);
const running = new Map<number, AbortController>();
let quitting = false;

/**
 * Once told to quit and every unit has returned, the thread ends (a host socket left open must not keep it), after
 * its readiness loop's last wait has come back.
 */
function exitIfDone(): void {
  if (quitting && running.size === 0)
    void ReadinessLoop.shared()
      .quiesce()
      .then(() => process.exit(0));
}
blockSignalsInThisThread();
// A unit's stray callback that throws (a host socket event after it ended, say) is its own bug: it must not end the
// thread that serves every other unit.
process.on('uncaughtException', (e) =>
  post({ type: 'log', id: -1, line: `event-loop thread: ${(e as Error).stack ?? String(e)}` }),
);

port.on('message', (m: ToLoopThread) => {
  if (m.type === 'quit') {
    quitting = true;
    for (const c of running.values()) c.abort();
    return exitIfDone();
  }
  if (m.type === 'stop') return running.get(m.id)?.abort();
  const stop = new AbortController();
  running.set(m.id, stop);
  void (async () => {
    try {
      const mod = (await import(m.module)) as AsyncUnitModule;
      post({
        type: 'done',
        id: m.id,
        result: await mod.runUnit(m.data, (line) => post({ type: 'log', id: m.id, line }), stop.signal),
      });
    } catch (e) {
      post({ type: 'failed', id: m.id, failure: (e as Error).stack ?? String(e) });
    } finally {
      running.delete(m.id);
      exitIfDone();
    }
  })();
});
