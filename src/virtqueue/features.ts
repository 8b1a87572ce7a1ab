import {
  FEATURE_NAMES,
  VIRTIO_F_EVENT_IDX,
  VIRTIO_F_INDIRECT_DESC,
  VIRTIO_F_IN_ORDER,
  VIRTIO_F_RING_PACKED,
  VIRTIO_F_VERSION_1,
} from '../spec/features.js';

/** A feature set as a 64-bit mask. */
export type Features = bigint;

/** The feature set with only bit `n`. */
export const bit = (n: number): Features => 1n << BigInt(n);
/** Whether bit `n` is in `features`. */
export const hasFeature = (features: Features, n: number): boolean => (features & bit(n)) !== 0n;
/** The feature set of the given bits. */
export const featureMask = (...bits: number[]): Features => bits.reduce((m, b) => m | bit(b), 0n);

/** The ring features vqkit implements; a device offers these plus its own. */
export const RING_FEATURES = featureMask(
  VIRTIO_F_VERSION_1,
  VIRTIO_F_INDIRECT_DESC,
  VIRTIO_F_EVENT_IDX,
  VIRTIO_F_IN_ORDER,
  VIRTIO_F_RING_PACKED,
);

/** The two sides cannot agree on a feature set vqkit can run (VERSION_1 missing). */
export class FeatureNegotiationError extends Error {
  override readonly name = 'FeatureNegotiationError';
}

/**
 * The driver accepts a subset of what the device offers. VERSION_1 is required: vqkit speaks modern virtio only.
 * Every ring behaviour is derived from the returned set, never from what either side wished for.
 */
export function negotiate(offered: Features, wanted: Features): Features {
  const accepted = offered & wanted;
  if (!hasFeature(accepted, VIRTIO_F_VERSION_1)) {
    const side = hasFeature(offered, VIRTIO_F_VERSION_1)
      ? 'the driver does not accept it'
      : 'the device does not offer it';
    throw new FeatureNegotiationError(`VIRTIO_F_VERSION_1 is required but ${side}`);
  }
  return accepted;
}

/** The ring behaviours a negotiated feature set switches on. */
export interface RingFeatures {
  readonly packed: boolean;
  readonly inOrder: boolean;
  readonly indirect: boolean;
  readonly eventIdx: boolean;
}

/** The ring behaviours a negotiated feature set switches on. */
export function ringFeatures(negotiated: Features): RingFeatures {
  return {
    packed: hasFeature(negotiated, VIRTIO_F_RING_PACKED),
    inOrder: hasFeature(negotiated, VIRTIO_F_IN_ORDER),
    indirect: hasFeature(negotiated, VIRTIO_F_INDIRECT_DESC),
    eventIdx: hasFeature(negotiated, VIRTIO_F_EVENT_IDX),
  };
}

/** What a driver of vqkit's asks for of the ring: the layout and the ring features (VERSION_1 always). */
export interface RingWants {
  ring: 'split' | 'packed';
  inOrder: boolean;
  indirect: boolean;
  eventIdx: boolean;
}

/** The feature set a driver asks for (the other way round from ringFeatures()). */
export function ringWants(o: RingWants): Features {
  const bits = [VIRTIO_F_VERSION_1];
  if (o.inOrder) bits.push(VIRTIO_F_IN_ORDER);
  if (o.ring === 'packed') bits.push(VIRTIO_F_RING_PACKED);
  if (o.indirect) bits.push(VIRTIO_F_INDIRECT_DESC);
  if (o.eventIdx) bits.push(VIRTIO_F_EVENT_IDX);
  return featureMask(...bits);
}

/** "VERSION_1 IN_ORDER EVENT_IDX (0x...)" for logs. */
export function describeFeatures(features: Features, deviceNames?: ReadonlyMap<number, string>): string {
  const names: string[] = [];
  for (let n = 0; n < 64; n++) {
    if (hasFeature(features, n)) names.push(FEATURE_NAMES.get(n) ?? deviceNames?.get(n) ?? `bit${n}`);
  }
  return `${names.join(' ') || '(none)'} (0x${features.toString(16)})`;
}
