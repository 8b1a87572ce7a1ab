import { drainEventFd } from '../../os/eventfd.js';
import type { DataPlaneUnit } from '../../runtime/data-plane.js';
import type { VirtqueueDevice } from '../../virtqueue/types.js';

/** Slots of a queue's control array, shared by whatever serves the queue (a data-plane unit, a front-end's worker). */
export const QueueControl = {
  STOP: 0,
  CALL_FD: 1,
  KICK_FD: 2,
  PROGRESS: 3,
  /** Test hook: the driver asks its front-end to stop and restart the ring, and waits until this is 0 again. */
  PAUSE: 4,
  LENGTH: 8,
} as const;

/** How a data-plane unit of one device queue sleeps: on that queue's kick eventfd, asked for with the re-check. */
export function sleepOnKick(queue: VirtqueueDevice, ctl: Int32Array): Pick<DataPlaneUnit, 'arm' | 'disarm'> {
  return {
    arm: () => (queue.enableNotifications() ? [Atomics.load(ctl, QueueControl.KICK_FD)] : null),
    disarm: (fired) => {
      queue.disableNotifications();
      const kick = Atomics.load(ctl, QueueControl.KICK_FD);
      if (fired.has(kick)) drainEventFd(kick);
    },
  };
}

/** Says so when a split ring resumed from the used idx in memory instead of the base the front-end gave. */
export function logResume(queue: VirtqueueDevice, log: (line: string) => void): void {
  const r = queue.resumedFromUsed;
  if (r === null || r === undefined) return;
  log(
    `${queue.name}: resuming at used idx ${r.used}, not at the base ${r.given} the front-end gave (what the last ` +
      'device published is what was consumed; a reconnecting front-end may not know it)',
  );
}
