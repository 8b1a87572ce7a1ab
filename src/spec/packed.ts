/**
 * Packed virtqueue layout, VIRTIO 1.2 section 2.8 "Packed Virtqueues". All fields are little-endian.
 *
 *   struct pvirtq_desc { le64 addr; le32 len; le16 id; le16 flags; }          16 bytes, ring aligned to 16
 *   struct pvirtq_event_suppress { le16 desc; le16 flags; }                    4 bytes, aligned to 4
 *     desc:  desc_event_off (bits 0-14) | desc_event_wrap (bit 15)
 *     flags: desc_event_flags (bits 0-1)
 *
 * The driver area holds the driver event suppression structure (written by the driver, read by the device: it
 * controls used buffer notifications); the device area holds the device's (written by the device: it controls
 * available buffer notifications).
 */

/** "Packed virtqueues support up to 2^15 entries each." Any size from 1, not only powers of two. */
export const PVIRTQ_MAX_SIZE = 32768;

export const VIRTQ_DESC_F_NEXT = 1;
export const VIRTQ_DESC_F_WRITE = 2;
export const VIRTQ_DESC_F_INDIRECT = 4;
/** Available: AVAIL matches the driver's wrap counter, USED does not. Used: both match the device's. */
export const VIRTQ_DESC_F_AVAIL = 1 << 7;
export const VIRTQ_DESC_F_USED = 1 << 15;

export const RING_EVENT_FLAGS_ENABLE = 0x0;
export const RING_EVENT_FLAGS_DISABLE = 0x1;
/** Only with VIRTIO_F_EVENT_IDX: notify when the descriptor at desc_event_off/wrap is made available/used. */
export const RING_EVENT_FLAGS_DESC = 0x2;

export const PVIRTQ_DESC_SIZE = 16;
export const PVIRTQ_DESC_ALIGN = 16;
export const PVIRTQ_EVENT_SIZE = 4;
export const PVIRTQ_EVENT_ALIGN = 4;

/** Byte offsets inside struct pvirtq_desc. */
export const PVIRTQ_DESC_OFF_ADDR = 0;
export const PVIRTQ_DESC_OFF_LEN = 8;
export const PVIRTQ_DESC_OFF_ID = 12;
export const PVIRTQ_DESC_OFF_FLAGS = 14;

/** Byte offsets inside struct pvirtq_event_suppress. */
export const PVIRTQ_EVENT_OFF_DESC = 0;
export const PVIRTQ_EVENT_OFF_FLAGS = 2;

export const EVENT_WRAP_SHIFT = 15;
export const EVENT_OFF_MASK = 0x7fff;

export const packedDescRingSize = (queueSize: number): number => PVIRTQ_DESC_SIZE * queueSize;

/** Flags that mark a descriptor available in a lap where the driver's wrap counter is `wrap`. */
export const availFlags = (wrap: number): number => (wrap ? VIRTQ_DESC_F_AVAIL : VIRTQ_DESC_F_USED);
/** Flags that mark a descriptor used in a lap where the device's wrap counter is `wrap`. */
export const usedFlags = (wrap: number): number => (wrap ? VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED : 0);

/** Available for a reader whose wrap counter is `wrap`: AVAIL matches it and USED does not. */
export const isAvailable = (flags: number, wrap: number): boolean =>
  ((flags >> 7) & 1) === wrap && ((flags >> 15) & 1) !== wrap;
/** Used for a reader whose wrap counter is `wrap`: AVAIL and USED both match it. */
export const isUsed = (flags: number, wrap: number): boolean =>
  ((flags >> 7) & 1) === wrap && ((flags >> 15) & 1) === wrap;

/**
 * Whether an EVENT_IDX descriptor event (off_wrap) lies among the `count` descriptors just made available/used,
 * ending before ring position `next` in the lap of wrap counter `wrap`: vring_need_event() on ring positions, with an
 * event in the previous lap taken `size` positions back.
 */
export function packedNeedEvent(offWrap: number, next: number, count: number, wrap: number, size: number): boolean {
  let event = offWrap & EVENT_OFF_MASK;
  if (offWrap >>> EVENT_WRAP_SHIFT !== wrap) event -= size;
  return ((next - event - 1) & 0xffff) < (count & 0xffff);
}
