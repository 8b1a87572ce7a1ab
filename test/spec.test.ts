import { describe, expect, it } from 'vitest';
import { VIRTIO_F_EVENT_IDX, VIRTIO_F_IN_ORDER, VIRTIO_F_VERSION_1 } from '../src/spec/features.js';
import {
  availEventOffset,
  availRingSize,
  descTableSize,
  needEvent,
  usedEventOffset,
  usedRingSize,
} from '../src/spec/split.js';
import {
  FeatureNegotiationError,
  bit,
  describeFeatures,
  featureMask,
  negotiate,
  ringFeatures,
} from '../src/virtqueue/features.js';
import { splitRingLayout } from '../src/virtqueue/split/layout.js';

describe('split ring layout (VIRTIO 1.2 section 2.7)', () => {
  it('sizes and offsets match the spec for a 256-entry ring', () => {
    expect(descTableSize(256)).toBe(4096);
    expect(availRingSize(256)).toBe(518);
    expect(usedRingSize(256)).toBe(2054);
    expect(usedEventOffset(256)).toBe(516);
    expect(availEventOffset(256)).toBe(2052);
  });

  it('lays out the areas with their alignments', () => {
    const { addresses, bytes } = splitRingLayout(0x1001, 8);
    expect(addresses.desc).toBe(0x1010);
    expect(addresses.driver).toBe(0x1010 + 128);
    expect(addresses.device % 4).toBe(0);
    expect(addresses.device).toBeGreaterThanOrEqual(addresses.driver + availRingSize(8));
    expect(bytes).toBe(addresses.device + usedRingSize(8) - 0x1001);
  });

  it('vring_need_event fires exactly when the event index is crossed, across the 16-bit wrap', () => {
    expect(needEvent(5, 6, 5)).toBe(true);
    expect(needEvent(5, 5, 4)).toBe(false);
    expect(needEvent(5, 10, 6)).toBe(false);
    expect(needEvent(0xffff, 2, 0xfffe)).toBe(true);
    expect(needEvent(1, 2, 0xfffe)).toBe(true);
    expect(needEvent(3, 2, 0xfffe)).toBe(false);
  });
});

describe('feature negotiation', () => {
  it('accepts the intersection of offer and wish', () => {
    const offered = featureMask(VIRTIO_F_VERSION_1, VIRTIO_F_IN_ORDER, VIRTIO_F_EVENT_IDX);
    const got = negotiate(offered, featureMask(VIRTIO_F_VERSION_1, VIRTIO_F_IN_ORDER));
    expect(got).toBe(bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_F_IN_ORDER));
    expect(ringFeatures(got)).toEqual({ packed: false, inOrder: true, indirect: false, eventIdx: false });
    expect(describeFeatures(got)).toBe('VERSION_1 IN_ORDER (0x900000000)');
  });

  it('requires VERSION_1 on both sides', () => {
    expect(() => negotiate(featureMask(VIRTIO_F_IN_ORDER), featureMask(VIRTIO_F_VERSION_1))).toThrow(
      FeatureNegotiationError,
    );
    expect(() => negotiate(featureMask(VIRTIO_F_VERSION_1), 0n)).toThrow(/driver does not accept/);
  });

  it('IN_ORDER is bit 35', () => {
    expect(bit(VIRTIO_F_IN_ORDER)).toBe(0x800000000n);
  });
});
