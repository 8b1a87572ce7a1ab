/**
 * Split virtqueue layout, VIRTIO 1.2 section 2.7 "Split Virtqueues". All fields are little-endian.
 *
 *   struct virtq_desc  { le64 addr; le32 len; le16 flags; le16 next; }          16 bytes, table aligned to 16
 *   struct virtq_avail { le16 flags; le16 idx; le16 ring[N]; le16 used_event; } aligned to 2
 *   struct virtq_used  { le16 flags; le16 idx; struct virtq_used_elem ring[N]; le16 avail_event; } aligned to 4
 *   struct virtq_used_elem { le32 id; le32 len; }
 */

/** Largest queue size a split virtqueue may have (section 2.7: "Queue Size ... maximum Queue Size is 32768"). */
export const VIRTQ_SPLIT_MAX_SIZE = 32768;

export const VIRTQ_DESC_F_NEXT = 1;
export const VIRTQ_DESC_F_WRITE = 2;
export const VIRTQ_DESC_F_INDIRECT = 4;

/** Driver -> device, in avail.flags: "do not interrupt me" (ignored by the device when EVENT_IDX is negotiated). */
export const VIRTQ_AVAIL_F_NO_INTERRUPT = 1;
/** Device -> driver, in used.flags: "do not kick me" (ignored by the driver when EVENT_IDX is negotiated). */
export const VIRTQ_USED_F_NO_NOTIFY = 1;

export const VIRTQ_DESC_SIZE = 16;
export const VIRTQ_DESC_ALIGN = 16;
export const VIRTQ_AVAIL_ALIGN = 2;
export const VIRTQ_USED_ALIGN = 4;
export const VIRTQ_USED_ELEM_SIZE = 8;

/** Byte offsets inside struct virtq_desc. */
export const VIRTQ_DESC_OFF_ADDR = 0;
export const VIRTQ_DESC_OFF_LEN = 8;
export const VIRTQ_DESC_OFF_FLAGS = 12;
export const VIRTQ_DESC_OFF_NEXT = 14;

/** Byte offsets inside struct virtq_avail and struct virtq_used. */
export const VIRTQ_AVAIL_OFF_FLAGS = 0;
export const VIRTQ_AVAIL_OFF_IDX = 2;
export const VIRTQ_AVAIL_OFF_RING = 4;
export const VIRTQ_USED_OFF_FLAGS = 0;
export const VIRTQ_USED_OFF_IDX = 2;
export const VIRTQ_USED_OFF_RING = 4;

export const descTableSize = (queueSize: number): number => VIRTQ_DESC_SIZE * queueSize;
/** flags + idx + ring[N] + used_event. */
export const availRingSize = (queueSize: number): number => 6 + 2 * queueSize;
/** flags + idx + ring[N] + avail_event. */
export const usedRingSize = (queueSize: number): number => 6 + VIRTQ_USED_ELEM_SIZE * queueSize;
/** used_event lives right after avail.ring[N]. */
export const usedEventOffset = (queueSize: number): number => VIRTQ_AVAIL_OFF_RING + 2 * queueSize;
/** avail_event lives right after used.ring[N]. */
export const availEventOffset = (queueSize: number): number => VIRTQ_USED_OFF_RING + VIRTQ_USED_ELEM_SIZE * queueSize;

/**
 * vring_need_event(): true when an event index lies in the half-open range (old, new] that the other side just
 * crossed, computed in 16-bit arithmetic as the spec's EVENT_IDX rule requires.
 */
export function needEvent(eventIdx: number, newIdx: number, oldIdx: number): boolean {
  return ((newIdx - eventIdx - 1) & 0xffff) < ((newIdx - oldIdx) & 0xffff);
}
