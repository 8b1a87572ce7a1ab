import { PVIRTQ_DESC_ALIGN, PVIRTQ_EVENT_ALIGN, PVIRTQ_EVENT_SIZE, packedDescRingSize } from '../../spec/packed.js';
import type { RingAddresses } from '../types.js';

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;

/** Where the descriptor ring and the two event suppression structures of a packed ring go from `base`. */
export function packedRingLayout(base: number, size: number): { addresses: RingAddresses; bytes: number } {
  const desc = alignUp(base, PVIRTQ_DESC_ALIGN);
  const driver = alignUp(desc + packedDescRingSize(size), PVIRTQ_EVENT_ALIGN);
  const device = driver + PVIRTQ_EVENT_SIZE;
  return { addresses: { desc, driver, device }, bytes: device + PVIRTQ_EVENT_SIZE - base };
}
