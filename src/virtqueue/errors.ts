/**
 * One error type for everything a peer can get wrong on a ring, one code per failure (after rust-vmm virtio-queue's
 * Error enum). A VirtqueueError always names the queue, the ring index it was found at and the offending value. The
 * queue that raised it is broken from then on, as virtio's DEVICE_NEEDS_RESET.
 */
export const VirtqueueErrorCode = {
  // Device side: what the driver published.
  AVAIL_IDX_AHEAD: 'AVAIL_IDX_AHEAD',
  TOO_MANY_IN_FLIGHT: 'TOO_MANY_IN_FLIGHT',
  HEAD_OUT_OF_RANGE: 'HEAD_OUT_OF_RANGE',
  HEAD_IN_FLIGHT: 'HEAD_IN_FLIGHT',
  NEXT_OUT_OF_RANGE: 'NEXT_OUT_OF_RANGE',
  CHAIN_TOO_LONG: 'CHAIN_TOO_LONG',
  LENGTH_OVERFLOW: 'LENGTH_OVERFLOW',
  READABLE_AFTER_WRITABLE: 'READABLE_AFTER_WRITABLE',
  INDIRECT_NOT_NEGOTIATED: 'INDIRECT_NOT_NEGOTIATED',
  INDIRECT_BAD_LENGTH: 'INDIRECT_BAD_LENGTH',
  INDIRECT_NESTED: 'INDIRECT_NESTED',
  INDIRECT_WITH_NEXT: 'INDIRECT_WITH_NEXT',
  IN_ORDER_HEAD_UNEXPECTED: 'IN_ORDER_HEAD_UNEXPECTED',
  // Packed ring, device side.
  DESC_NOT_AVAILABLE: 'DESC_NOT_AVAILABLE',
  INDIRECT_IN_CHAIN: 'INDIRECT_IN_CHAIN',
  BUFFER_ID_OUT_OF_RANGE: 'BUFFER_ID_OUT_OF_RANGE',
  BUFFER_ID_IN_FLIGHT: 'BUFFER_ID_IN_FLIGHT',
  IN_ORDER_NEXT_UNEXPECTED: 'IN_ORDER_NEXT_UNEXPECTED',
  ADDRESS_OUT_OF_RANGE: 'ADDRESS_OUT_OF_RANGE',
  ADDRESS_OVERFLOW: 'ADDRESS_OVERFLOW',
  ADDRESS_TOO_LARGE: 'ADDRESS_TOO_LARGE',
  // Driver side: what the device reported.
  USED_IDX_AHEAD: 'USED_IDX_AHEAD',
  USED_ID_OUT_OF_RANGE: 'USED_ID_OUT_OF_RANGE',
  USED_ID_NOT_IN_FLIGHT: 'USED_ID_NOT_IN_FLIGHT',
  USED_LEN_TOO_LARGE: 'USED_LEN_TOO_LARGE',
  IN_ORDER_BATCH_UNKNOWN_ID: 'IN_ORDER_BATCH_UNKNOWN_ID',
  IN_ORDER_BATCH_OVERRUN: 'IN_ORDER_BATCH_OVERRUN',
} as const;
export type VirtqueueErrorCode = (typeof VirtqueueErrorCode)[keyof typeof VirtqueueErrorCode];

/** A peer's mistake found on a ring: the code, the queue, the ring index and the value read. The queue is broken from then on. */
export class VirtqueueError extends Error {
  override readonly name = 'VirtqueueError';
  constructor(
    readonly code: VirtqueueErrorCode,
    /** The queue's name, e.g. "test.0" or "net.rx0". */
    readonly queue: string,
    /** Where in the ring it was found: a descriptor, avail or used index, as the code says. */
    readonly index: number,
    /** The offending value as read from shared memory (a 64-bit address at or past 2^53 only approximately). */
    readonly value: number,
    detail: string,
    /** The value exactly, when a number cannot hold it: a 64-bit address in hex, from its two 32-bit halves. */
    readonly exactValue: string = String(value),
  ) {
    super(`${queue}: ${code} at index ${index} (value ${exactValue}): ${detail}`);
  }
}

/**
 * A bug in the code that drives the queue, not in the peer: adding to a full queue, completing out of order under
 * IN_ORDER, bad ring geometry at setup. Thrown, because no peer can cause it.
 */
export class VirtqueueUsageError extends Error {
  override readonly name = 'VirtqueueUsageError';
}

/** A 64-bit guest address from its two 32-bit halves, exactly, in hex (for messages: never a rounded number). */
export const addressText = (lo: number, hi: number): string =>
  `0x${((BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)).toString(16)}`;
