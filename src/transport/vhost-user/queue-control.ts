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
