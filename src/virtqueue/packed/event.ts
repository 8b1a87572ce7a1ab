import {
  RING_EVENT_FLAGS_DESC,
  RING_EVENT_FLAGS_DISABLE,
  RING_EVENT_FLAGS_ENABLE,
  packedNeedEvent,
} from '../../spec/packed.js';

/**
 * A packed ring's event suppression structure ([off_wrap, flags] as 16-bit words), the same for both directions:
 * the driver arms its own for used buffer notifications, the device its own for available buffer notifications.
 */

/** Ask for notifications: for the descriptor at `pos` of lap `wrap` with EVENT_IDX, else for every one. */
export function armEvent(ev: Uint16Array, eventIdx: boolean, pos: number, wrap: number): void {
  if (eventIdx) {
    Atomics.store(ev, 0, pos | (wrap << 15));
    Atomics.store(ev, 1, RING_EVENT_FLAGS_DESC);
  } else {
    Atomics.store(ev, 1, RING_EVENT_FLAGS_ENABLE);
  }
}

export function disarmEvent(ev: Uint16Array): void {
  Atomics.store(ev, 1, RING_EVENT_FLAGS_DISABLE);
}

/**
 * Whether the other side asked to be notified of the `count` descriptors just made available or used, ending
 * before `next` in the lap of wrap counter `wrap`. Call after publishing them (the load is ordered after the store).
 */
export function eventWanted(
  ev: Uint16Array,
  eventIdx: boolean,
  next: number,
  count: number,
  wrap: number,
  size: number,
): boolean {
  const flags = Atomics.load(ev, 1) & 0x3;
  if (flags === RING_EVENT_FLAGS_DESC && eventIdx) return packedNeedEvent(Atomics.load(ev, 0), next, count, wrap, size);
  return flags !== RING_EVENT_FLAGS_DISABLE;
}
