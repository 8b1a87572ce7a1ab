/** A rule of the VIRTIO 1.2 specification, quoted, that a step of the explainer applies. */
export interface SpecRule {
  id: RuleId;
  /** Section number in VIRTIO 1.2 (cs01). */
  section: string;
  title: string;
  /** The spec's own words. */
  quote: string;
}

export type RuleId =
  | 'split-sequential'
  | 'split-next'
  | 'indirect-sequential'
  | 'device-in-order'
  | 'split-batch'
  | 'packed-batch'
  | 'skipped-in-full'
  | 'packed-wrap'
  | 'device-no-desc-write'
  | 'event-idx';

export const RULES: Record<RuleId, SpecRule> = {
  'split-sequential': {
    id: 'split-sequential',
    section: '2.7.5',
    title: 'The Virtqueue Descriptor Table',
    quote:
      'If VIRTIO_F_IN_ORDER has been negotiated, driver uses descriptors in ring order: starting from offset 0 in the table, and wrapping around at the end of the table.',
  },
  'split-next': {
    id: 'split-next',
    section: '2.7.5.2',
    title: 'Driver Requirements: The Virtqueue Descriptor Table',
    quote:
      'If VIRTIO_F_IN_ORDER has been negotiated, and when making a descriptor with VRING_DESC_F_NEXT set in flags at offset x in the table available to the device, driver MUST set next to 0 for the last descriptor in the table (where x = queue_size - 1) and to x + 1 for the rest of the descriptors.',
  },
  'indirect-sequential': {
    id: 'indirect-sequential',
    section: '2.7.5.3.1',
    title: 'Driver Requirements: Indirect Descriptors',
    quote:
      'If VIRTIO_F_IN_ORDER has been negotiated, indirect descriptors MUST appear sequentially, with next taking the value of 1 for the 1st descriptor, 2 for the 2nd one, etc.',
  },
  'device-in-order': {
    id: 'device-in-order',
    section: '6.2',
    title: 'Device Requirements: Reserved Feature Bits',
    quote:
      'If VIRTIO_F_IN_ORDER has been negotiated, a device MUST use buffers in the same order in which they have been available.',
  },
  'split-batch': {
    id: 'split-batch',
    section: '2.7.9',
    title: 'In-order use of descriptors',
    quote:
      'If negotiated, this knowledge allows devices to notify the use of a batch of buffers to the driver by only writing out a single used ring entry with the id corresponding to the head entry of the descriptor chain describing the last buffer in the batch. The device then skips forward in the ring according to the size of the batch. Accordingly, it increments the used idx by the size of the batch. [...] This will result in the used ring entry at an offset matching the first available ring entry in the batch.',
  },
  'packed-batch': {
    id: 'packed-batch',
    section: '2.8.8',
    title: 'In-order use of descriptors',
    quote:
      'If negotiated, this knowledge allows devices to notify the use of a batch of buffers to the driver by only writing out a single used descriptor with the Buffer ID corresponding to the last descriptor in the batch. The device then skips forward in the ring according to the size of the batch. [...] This will result in the used descriptor overwriting the first available descriptor in the batch.',
  },
  'skipped-in-full': {
    id: 'skipped-in-full',
    section: '2.7.9 / 2.8.8',
    title: 'In-order use of descriptors',
    quote:
      'The skipped buffers (for which no used ring entry was written) are assumed to have been used (read or written) by the device completely.',
  },
  'packed-wrap': {
    id: 'packed-wrap',
    section: '2.8.1',
    title: 'Driver and Device Ring Wrap Counters',
    quote:
      'The driver changes the value of this counter each time it makes available the last descriptor in the ring (after making the last descriptor available). [...] The device changes the value of this counter each time it uses the last descriptor in the ring (after marking the last descriptor used).',
  },
  'device-no-desc-write': {
    id: 'device-no-desc-write',
    section: '2.7.5.1',
    title: 'Device Requirements: The Virtqueue Descriptor Table',
    quote:
      'A device MUST NOT write to a device-readable buffer [...]. A device MUST NOT write to any descriptor table entry.',
  },
  'event-idx': {
    id: 'event-idx',
    section: '2.7.7.2',
    title: 'Device Requirements: Used Buffer Notification Suppression',
    quote:
      'After the device writes a descriptor index into the used ring: If the idx field in the used ring (which determined where that descriptor index was placed) was equal to used_event, the device MUST send a notification. Otherwise the device SHOULD NOT send a notification.',
  },
};
