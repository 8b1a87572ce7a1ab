import type { DeviceStats, DriverStats } from './types.js';

export const newDriverStats = (): DriverStats => ({
  buffersAdded: 0,
  buffersUsed: 0,
  indirectAdded: 0,
  usedEntriesRead: 0,
  kicksWanted: 0,
  kicksSuppressed: 0,
});

export const newDeviceStats = (): DeviceStats => ({
  chainsPopped: 0,
  buffersUsed: 0,
  usedEntriesWritten: 0,
  flushes: 0,
  interruptsWanted: 0,
  interruptsSuppressed: 0,
  writeFlagsTolerated: 0,
});
