import { describe, expect, it } from 'vitest';
import { Control, busyPoll } from '../src/transport/local/control.js';

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
