import type { TestDevice, TestDeviceStats } from '../../devices/test/test-device.js';
import type { TestDriver, TestDriverStats } from '../../drivers/test/test-driver.js';
import type { DeviceStats, DriverStats } from '../../virtqueue/types.js';
import type { MeasuredWindow } from '../service-loops.js';

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
  /** With a warm-up (RunOptions.warmupMs): the part of the run after it. */
  measured?: MeasuredWindow | null;
  /** Process CPU time (all threads) over the run. */
  cpuMs: number;
  /** Garbage collections during the run (two-thread runs: both workers). */
  gcCount?: number;
}

/** An error as one line for a report: "VirtqueueError: test.0: ...". */
export const failureText = (e: Error | null): string | null => (e === null ? null : `${e.name}: ${e.message}`);

/** What went wrong on the driver side (bad completion or broken ring), if anything. */
export const driverFailure = (driver: TestDriver): string | null => failureText(driver.failure ?? driver.queue.error);

/** What went wrong on the device side (bad data or broken ring), if anything. */
export const deviceFailure = (device: TestDevice): string | null => failureText(device.failure ?? device.queue.error);

/** The first failure either side has seen. */
export const firstFailure = (driver: TestDriver, device: TestDevice): string | null =>
  driverFailure(driver) ?? deviceFailure(device);

/** Buffers per second over `elapsedMs` (0 for an empty run). */
export const perSecond = (count: number, elapsedMs: number): number => (elapsedMs > 0 ? (count * 1000) / elapsedMs : 0);

/** CPU nanoseconds per buffer from CPU milliseconds (0 for an empty run). */
export const nsPer = (cpuMs: number, count: number): number => (count > 0 ? (cpuMs * 1e6) / count : 0);

export const copyStats = <T extends object>(s: T): T => ({ ...s });
