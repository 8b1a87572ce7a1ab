import type { FuzzTarget } from '../target.js';
import { RING_DICTIONARY, ringSeeds, runRingProgram } from './ring-pair.js';

/** The driver side of split and packed rings against a hostile device writing used entries and descriptors. */
export const ringDriverTarget: FuzzTarget = {
  surface: 'ring-driver',
  description:
    'split and packed driver side (IN_ORDER batches, wrap counters, Buffer IDs, skips) against used entries, used descriptors and event areas written by the input',
  maxLength: 1024,
  dictionary: RING_DICTIONARY,
  seeds: () => ringSeeds('device'),
  run: (data) => runRingProgram(data, 'device'),
};
