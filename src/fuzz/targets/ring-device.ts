import type { FuzzTarget } from '../target.js';
import { RING_DICTIONARY, ringSeeds, runRingProgram } from './ring-pair.js';

/** The device side of split and packed rings against a hostile driver writing descriptors, avail ring and tables. */
export const ringDeviceTarget: FuzzTarget = {
  surface: 'ring-device',
  description:
    'split and packed device side (IN_ORDER, INDIRECT_DESC, EVENT_IDX in every combination) against descriptors, avail entries, indirect tables and event areas written by the input',
  maxLength: 1024,
  dictionary: RING_DICTIONARY,
  seeds: () => ringSeeds('driver'),
  run: (data) => runRingProgram(data, 'driver'),
};
