import { afterEach, describe, expect, it, vi } from 'vitest';
import { ProgressBar } from '../src/cli/progress.js';

describe('progress bar', () => {
  afterEach(() => vi.restoreAllMocks());

  it('draws on a terminal that reports no width (a pty with 0 columns)', () => {
    const writes: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk));
      return true;
    });
    const columns = Object.getOwnPropertyDescriptor(process.stderr, 'columns');
    Object.defineProperty(process.stderr, 'columns', { value: 0, configurable: true });
    try {
      const bar = new ProgressBar(true);
      bar.update('run 1/2', 50, 100);
      bar.update('run 2/2', 100, 100);
    } finally {
      if (columns) Object.defineProperty(process.stderr, 'columns', columns);
      else delete (process.stderr as { columns?: number }).columns;
    }
    expect(writes[0]).toMatch(/^\r\[#{15}\.{15}\]  50% run 1\/2$/);
    expect(writes[1]).toMatch(/100% run 2\/2$/);
  });

  it('draws nothing when not on a terminal', () => {
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const bar = new ProgressBar(false);
    bar.update('x', 1, 2);
    bar.clear();
    expect(write).not.toHaveBeenCalled();
  });
});
