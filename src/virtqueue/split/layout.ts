import { VIRTQ_DESC_ALIGN, VIRTQ_USED_ALIGN, availRingSize, descTableSize, usedRingSize } from '../../spec/split.js';
import type { RingAddresses } from '../types.js';

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;

/** Where the three areas of a split ring of `size` go when laid out from `base`, and the bytes they take. */
export function splitRingLayout(base: number, size: number): { addresses: RingAddresses; bytes: number } {
  const desc = alignUp(base, VIRTQ_DESC_ALIGN);
  const driver = desc + descTableSize(size);
  const device = alignUp(driver + availRingSize(size), VIRTQ_USED_ALIGN);
  return { addresses: { desc, driver, device }, bytes: device + usedRingSize(size) - base };
}
