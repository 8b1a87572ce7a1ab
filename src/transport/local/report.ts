import type { TestDevice, TestDeviceStats } from '../../devices/test-device.js';
import type { TestDriver, TestDriverStats } from '../../drivers/test-driver.js';
import type { DeviceStats, DriverStats } from '../../virtqueue/types.js';

/** What a driver/device pair did in one run: counters are exact, times are what the clock said. */
export interface PairReport {
  /** The first thing that went wrong, or null. */
  failure: string | null;
  /** One-thread runs: the step at which it went wrong (replay with the same seed). */
  step?: number;
  completed: number;
  driverQueue: DriverStats;
  deviceQueue: DeviceStats;
  testDriver: TestDriverStats;
  testDevice: TestDeviceStats;
  /** Notifications actually sent each way. */
  kicks: number;
  interrupts: number;
  elapsedMs: number;
  /** Process CPU time (all threads) over the run. */
  cpuMs: number;
  /** Garbage collections during the run (two-thread runs: both workers). */
  gcCount?: number;
}

/** The first failure either side has seen: a broken ring, a bad completion, bad data. */
export function firstFailure(driver: TestDriver, device: TestDevice): string | null {
  const f = driver.failure ?? driver.queue.error ?? device.failure ?? device.queue.error;
  return f === null ? null : `${f.name}: ${f.message}`;
}

export const copyStats = <T extends object>(s: T): T => ({ ...s });
