import { describe, expect, it } from 'vitest';
import { TestDevice } from '../src/devices/test/test-device.js';
import { DEFAULT_RUN, describeRun, type RunOptions } from '../src/harness/options.js';
import { RunOptionsError, replayCommand, runOne, validateRun } from '../src/harness/run.js';
import { defaultMatrix } from '../src/harness/matrix.js';
import { buildDeviceSide, buildDriverSide, guestMemoryFor, planLocal } from '../src/transport/local/plan.js';
import { runSingleThread } from '../src/transport/local/single-thread.js';

const options = (o: Partial<RunOptions> = {}): RunOptions => ({ ...DEFAULT_RUN, buffers: 64, batch: 8, ...o });

function pair(o: RunOptions) {
  const plan = planLocal(o);
  const memory = guestMemoryFor(plan, new ArrayBuffer(plan.memoryBytes));
  return { plan, memory, driver: buildDriverSide(plan, memory), device: buildDeviceSide(plan, memory) };
}

describe('the test driver and device verify every byte', () => {
  it('the device catches a corrupted readable byte (deterministic)', () => {
    for (let seed = 1; seed < 50; seed++) {
      const { driver, device, memory, plan } = pair(options({ maxChain: 4, seed }));
      driver.fill(4);
      driver.queue.kickPrepare();
      memory.translate(plan.dataAddr, plan.dataBytes).forEach((b, i, a) => (a[i] = b ^ 0x01));
      device.serve(4);
      if (driver.stats.bytesOut > 0) {
        expect(device.failure).not.toBeNull();
        expect(device.failure!.name).toBe('TestDataError');
        return;
      }
    }
    throw new Error('no seed produced a readable segment');
  });

  it('the driver catches a corrupted written byte', () => {
    const { driver, device, memory, plan } = pair(options({ maxChain: 4, seed: 3 }));
    driver.fill(8);
    driver.queue.kickPrepare();
    device.serve(8);
    device.flush();
    const all = memory.translate(plan.dataAddr, plan.dataBytes);
    // Corrupt every byte the device wrote (the readable ones are not checked by the driver).
    expect(device.stats.bytesWritten).toBeGreaterThan(0);
    all.forEach((b, i) => (all[i] = b ^ 0x80));
    driver.reap();
    expect(driver.failure?.name).toBe('TestVerifyError');
    expect(driver.failure?.message).toMatch(/written byte/);
  });

  it('the driver catches a wrong used length', () => {
    const { driver, device } = pair(options({ maxChain: 2, seed: 9, indirect: false }));
    driver.fill(8);
    driver.queue.kickPrepare();
    let chain = device.queue.pop();
    while (chain !== null && chain.writableLength === 0) {
      device.queue.complete(chain, 0);
      chain = device.queue.pop();
    }
    expect(chain).not.toBeNull();
    device.queue.complete(chain!, chain!.writableLength - 1);
    device.queue.flush();
    driver.reap();
    expect(driver.failure?.message).toMatch(/used length/);
  });

  it('refuses out-of-order completion when IN_ORDER is negotiated', () => {
    const { device } = pair(options());
    expect(() => new TestDevice(device.queue, { completion: 'out-of-order' })).toThrow(/IN_ORDER/);
  });
});

describe('one-thread runs', () => {
  it('replay exactly: the same seed gives the same counters', () => {
    const o = options({ buffers: 3000, batch: 'random', seed: 42 });
    const a = runSingleThread(planLocal(o));
    const b = runSingleThread(planLocal(o));
    expect(a.failure).toBeNull();
    expect([a.kicks, a.interrupts, a.deviceQueue.usedEntriesWritten, a.step]).toEqual([
      b.kicks,
      b.interrupts,
      b.deviceQueue.usedEntriesWritten,
      b.step,
    ]);
  });

  it('IN_ORDER with batched used entries writes far fewer used entries than buffers', () => {
    const batched = runSingleThread(planLocal(options({ buffers: 5000, batch: 32 })));
    const perBuffer = runSingleThread(planLocal(options({ buffers: 5000, batch: 32, usedEntries: 'per-buffer' })));
    expect(batched.failure).toBeNull();
    expect(perBuffer.deviceQueue.usedEntriesWritten).toBe(5000);
    expect(batched.deviceQueue.usedEntriesWritten).toBe(batched.deviceQueue.flushes);
    expect(batched.deviceQueue.usedEntriesWritten).toBeLessThan(5000 / 4);
    expect(batched.driverQueue.usedEntriesRead).toBe(batched.deviceQueue.usedEntriesWritten);
  });

  it('a buffer pool of the queue size repeats what each ring position holds; a larger one changes it every lap', () => {
    // The addresses the device finds at each ring position, lap after lap (IN_ORDER, one descriptor per buffer).
    const lapsSeen = (ring: 'split' | 'packed', bufferPool?: number): number[][] => {
      const o = options({
        ring,
        queueSize: 8,
        maxChain: 1,
        shape: 'fixed',
        indirect: false,
        verifyData: false,
        bufferPool,
      });
      const { driver, device } = pair(o);
      const laps: number[][] = [];
      for (let lap = 0; lap < 4; lap++) {
        expect(driver.fill(8)).toBe(8);
        driver.queue.kickPrepare();
        const seen: number[] = [];
        for (let chain = device.queue.pop(); chain !== null; chain = device.queue.pop()) {
          seen.push(chain.offsets[0]);
          device.queue.complete(chain, chain.writableLength);
        }
        device.queue.flush();
        expect(driver.reap()).toBe(8);
        laps.push(seen);
      }
      expect(driver.failure).toBeNull();
      return laps;
    };
    for (const ring of ['split', 'packed'] as const) {
      const recycled = lapsSeen(ring);
      expect(new Set(recycled.map((l) => l.join())).size).toBe(1);
      const rotating = lapsSeen(ring, 16);
      for (let lap = 1; lap < 4; lap++) {
        expect(rotating[lap].every((addr, pos) => addr !== rotating[lap - 1][pos])).toBe(true);
      }
      expect(new Set(rotating.flat()).size).toBe(16);
    }
  });

  it('fixed one-segment buffers go to the queue in bursts and every one is verified, written bytes included', () => {
    for (const ring of ['split', 'packed'] as const) {
      for (const inOrder of [true, false]) {
        const o = options({ ring, inOrder, buffers: 3000, batch: 'random', maxChain: 1, shape: 'fixed' });
        const r = runSingleThread(planLocal({ ...o, partialWrites: true, indirect: false }));
        expect(r.failure).toBeNull();
        expect([r.completed, r.driverQueue.buffersAdded, r.driverQueue.buffersUsed]).toEqual([3000, 3000, 3000]);
      }
    }
  });

  it('the driver catches a written byte corrupted in a one-segment buffer added by a burst', () => {
    const { driver, device, memory, plan } = pair(
      options({ maxChain: 1, shape: 'fixed', indirect: false, partialWrites: false, verifyData: true }),
    );
    expect(driver.fill(8)).toBe(8);
    driver.queue.kickPrepare();
    device.serve(8);
    device.flush();
    memory.translate(plan.dataAddr, 1)[0] ^= 0xff;
    driver.reap();
    expect(driver.failure?.name).toBe('TestVerifyError');
  });

  it('EVENT_IDX suppresses notifications and counts them', () => {
    const r = runSingleThread(planLocal(options({ buffers: 5000, batch: 'random', eventIdx: true })));
    expect(r.failure).toBeNull();
    expect(r.driverQueue.kicksSuppressed).toBeGreaterThan(0);
    expect(r.deviceQueue.interruptsSuppressed).toBeGreaterThan(0);
  });
});

describe('run options', () => {
  it('rejects combinations the engine cannot run, with the reason', () => {
    expect(() => validateRun(options({ completion: 'out-of-order' }))).toThrow(/needs IN_ORDER off/);
    expect(() => validateRun(options({ queueSize: 100 }))).toThrow(RunOptionsError);
    expect(() => validateRun(options({ ring: 'packed', queueSize: 250 }))).not.toThrow();
    expect(() => validateRun(options({ ring: 'packed', queueSize: 40000 }))).toThrow(/from 1 to 32768/);
    expect(() => validateRun(options({ maxChain: 300 }))).toThrow(/max chain/);
    expect(() => validateRun(options({ busyPollUs: -1 }))).toThrow(/busy poll/);
    expect(() => validateRun(options({ bufferPool: 0 }))).toThrow(/buffer pool 0: from 1 to 65536/);
    expect(() => validateRun(options({ bufferPool: 70000 }))).toThrow(/buffer pool/);
    expect(() => validateRun(options({ bufferPool: 512 }))).not.toThrow();
    expect(describeRun(options({ bufferPool: 512 }))).toMatch(/ pool 512 /);
    expect(replayCommand(options({ bufferPool: 512 }))).toMatch(/ --buffer-pool 512 /);
  });

  it('the default matrix covers both layouts, every combination and policy, in one thread and two', () => {
    const m = defaultMatrix();
    expect(m).toHaveLength(64);
    expect(new Set(m.map((o) => `${o.ring}${o.inOrder}${o.indirect}${o.eventIdx}${o.threads}`)).size).toBe(32);
    expect(m.filter((o) => o.completion === 'out-of-order').every((o) => !o.inOrder)).toBe(true);
  });

  it('a run result carries the negotiated features and, on failure, the replay command', async () => {
    const r = await runOne(options({ buffers: 500 }));
    expect(r.passed).toBe(true);
    expect(r.negotiated).toMatch(/VERSION_1/);
    expect(r.negotiated).toMatch(/IN_ORDER/);
    expect(replayCommand(options({ seed: 77 }), 12)).toMatch(/--seed 77 .*step 12/);
  });
});
