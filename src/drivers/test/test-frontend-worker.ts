import { parentPort, workerData } from 'node:worker_threads';
import { GuestMemory } from '../../memory/guest-memory.js';
import { drainEventFd, signalEventFd, waitReadableSync } from '../../os/eventfd.js';
import { Mapping } from '../../os/mapping.js';
import { VerdictBoard } from '../../conformance/board.js';
import { DeviceJudge, judgeWake } from '../../conformance/device-judge.js';
import type { BufferSlot } from './test-driver.js';
import { buildDriverSide } from '../../transport/local/plan.js';
import { copyStats, driverFailure } from '../../transport/local/report.js';
import { driveDriver, type Notifier } from '../../transport/service-loops.js';
import { AdaptiveSpin } from '../../transport/local/control.js';
import { QueueControl } from '../../transport/vhost-user/queue-control.js';
import type { LocalPlan } from '../../transport/local/plan.js';
import type { MeasuredWindow } from '../../transport/service-loops.js';

/** How long a sleeping queue waits on its eventfd before looking at STOP again. */
const WAIT_SLICE_MS = 100;

export interface DriverQueueInput {
  role: 'driver';
  /** Test hook: pause (see QueueControl.PAUSE) after every this many completed buffers. */
  pauseEvery?: number;
  plan: LocalPlan;
  memoryFd: number;
  control: SharedArrayBuffer;
  /** Under `vq check device`: judge the device, posting verdicts to this VerdictBoard buffer... */
  judge?: SharedArrayBuffer;
  /** ...and stop when nothing moved for this long (a device that stalls the ring). */
  stallMs?: number;
}

export interface QueueResult {
  failure: string | null;
  stats: Record<string, unknown>;
  completed?: number;
  elapsedMs?: number;
  /** The driver's run after its warm-up (RunOptions.warmupMs). */
  measured?: MeasuredWindow | null;
  kicks?: number;
}

/** The front-end's side of a vhost-user test queue (the back-end's runs on its pool: test-unit.ts). */
const input = workerData as DriverQueueInput;
const ctl = new Int32Array(input.control);
const stoppedQueue = (): boolean => Atomics.load(ctl, QueueControl.STOP) !== 0;

/** Across processes: signal by writing the other side's eventfd, sleep on our own (its counter keeps any signal). */
function notifier(signalSlot: number, waitSlot: number, busyPollUs: number): Notifier {
  const spin = new AdaptiveSpin(busyPollUs);
  const stopped = stoppedQueue;
  return {
    signal: () => {
      const fd = Atomics.load(ctl, signalSlot);
      if (fd >= 0) signalEventFd(fd);
    },
    arm: () => 0,
    sleep: () => {
      const fd = Atomics.load(ctl, waitSlot);
      spin.timed(() => {
        if (fd >= 0 && waitReadableSync(fd, WAIT_SLICE_MS)) drainEventFd(fd);
      });
      return true;
    },
    stopped,
    poll: false,
    busyPoll: (pending) => spin.spin(pending, stopped),
  };
}

/**
 * The notifier of a judged run: each wake-up is told to the judge (notifications counted, or found missing), and a
 * ring on which nothing moved for `stallMs` is diagnosed and stopped.
 */
function judgedNotifier(
  n: Notifier,
  judge: DeviceJudge<BufferSlot>,
  completed: () => number,
  stallMs: number,
): Notifier {
  let last = completed();
  let stillSince = performance.now();
  let stalled = false;
  return {
    ...n,
    busyPoll: undefined,
    stopped: () => stalled || n.stopped(),
    sleep: () => {
      const fd = Atomics.load(ctl, QueueControl.CALL_FD);
      judgeWake([judge as DeviceJudge<unknown>], [fd], fd >= 0 && waitReadableSync(fd, WAIT_SLICE_MS));
      const now = performance.now();
      if (completed() !== last) {
        last = completed();
        stillSince = now;
      } else if (now - stillSince > stallMs) {
        judge.diagnoseStall();
        stalled = true;
      }
      return true;
    },
  };
}

parentPort!.postMessage(runDriver(input));

/** The vhost-user front-end's driver: the test driver over the memfd it shares, kicking through the kick eventfd. */
function runDriver(o: DriverQueueInput): QueueResult {
  const plan = o.plan;
  const mapping = Mapping.map(o.memoryFd, plan.memoryBytes);
  try {
    const memory = new GuestMemory([{ guestAddr: plan.guestBase, size: plan.memoryBytes, buffer: mapping.buffer }]);
    const board = o.judge === undefined ? null : new VerdictBoard(o.judge);
    const driver = buildDriverSide(
      plan,
      memory,
      board === null ? undefined : (q, config) => new DeviceJudge(q, config, board, 0),
    );
    const judge = driver.queue instanceof DeviceJudge ? (driver.queue as DeviceJudge<BufferSlot>) : null;
    let nextPause = o.pauseEvery ?? Infinity;
    const plain = notifier(QueueControl.KICK_FD, QueueControl.CALL_FD, plan.options.busyPollUs);
    const r = driveDriver(
      driver,
      judge === null ? plain : judgedNotifier(plain, judge, () => driver.completed, o.stallMs ?? 5000),
      (completed) => {
        Atomics.store(ctl, QueueControl.PROGRESS, completed);
        if (completed < nextPause) return;
        nextPause = completed + o.pauseEvery!;
        // The front-end stops and restarts the ring meanwhile; buffers in flight stay in it.
        Atomics.store(ctl, QueueControl.PAUSE, 1);
        while (Atomics.load(ctl, QueueControl.PAUSE) !== 0 && !stoppedQueue())
          Atomics.wait(ctl, QueueControl.PAUSE, 1, 100);
      },
      plan.options.durationMs,
      plan.options.warmupMs,
    );
    return {
      failure: driverFailure(driver) ?? (driver.done ? null : 'stopped before all buffers completed'),
      stats: { queue: copyStats(driver.queue.stats), test: copyStats(driver.stats) },
      completed: driver.completed,
      elapsedMs: r.elapsedMs,
      measured: r.measured,
      kicks: r.kicks,
    };
  } finally {
    mapping.close();
  }
}
