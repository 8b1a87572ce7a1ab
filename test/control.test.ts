import { describe, expect, it } from 'vitest';
import { AdaptiveSpin, Control, MIN_SPIN_US, busyPoll } from '../src/transport/local/control.js';

describe('busy-poll before sleeping', () => {
  const ctl = () => new Int32Array(new SharedArrayBuffer(Control.LENGTH * 4));

  it('returns as soon as work is there', () => {
    let polls = 0;
    expect(
      busyPoll(
        1_000_000,
        () => ++polls === 3,
        () => false,
      ),
    ).toBe(true);
    expect(polls).toBe(3);
  });

  it('gives up when there is no work (budget spent) or the run stops, and never polls with a zero budget', () => {
    expect(
      busyPoll(
        1,
        () => false,
        () => false,
      ),
    ).toBe(false);
    const stopped = ctl();
    Atomics.store(stopped, Control.STOP, 1);
    expect(
      busyPoll(
        60_000_000,
        () => false,
        () => Atomics.load(stopped, Control.STOP) !== 0,
      ),
    ).toBe(false);
    let polled = false;
    expect(
      busyPoll(
        0,
        () => {
          polled = true;
          return true;
        },
        () => false,
      ),
    ).toBe(false);
    expect(polled).toBe(false);
  });
});

describe('adaptive spin', () => {
  const never = (): boolean => false;

  it('a long sleep (an idle peer) halves the budget, down to a floor; a short one (an active peer) doubles it', () => {
    const spin = new AdaptiveSpin(16);
    expect(spin.budgetUs).toBe(16);
    for (const want of [8, 4, 2, 1, MIN_SPIN_US, MIN_SPIN_US]) {
      expect(spin.spin(never, never)).toBe(false);
      spin.slept(1000);
      expect(spin.budgetUs).toBe(want);
    }
    for (const want of [1, 2, 4, 8, 16, 16]) {
      spin.slept(5);
      expect(spin.budgetUs).toBe(want);
    }
    // A spin that finds work leaves the budget as it is.
    expect(spin.spin(() => true, never)).toBe(true);
    expect(spin.budgetUs).toBe(16);
  });

  it('0 never spins: work that is there is not even looked at', () => {
    let looked = false;
    const spin = new AdaptiveSpin(0);
    expect(
      spin.spin(
        () => (looked = true),
        () => false,
      ),
    ).toBe(false);
    expect(looked).toBe(false);
  });
});
