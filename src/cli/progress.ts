/** A one-line progress bar on stderr, drawn only when stderr is a terminal. */
export class ProgressBar {
  readonly #enabled: boolean;
  #lastDraw = 0;

  constructor(enabled = process.stderr.isTTY === true) {
    this.#enabled = enabled;
  }

  /** Redraws at most every 100 ms (and always at the end); a terminal of unknown width (0 columns) gets 120. */
  update(label: string, done: number, total: number): void {
    if (!this.#enabled) return;
    const now = Date.now();
    if (now - this.#lastDraw < 100 && done < total) return;
    this.#lastDraw = now;
    const width = 30;
    const frac = total > 0 ? Math.min(1, done / total) : 0;
    const filled = Math.round(frac * width);
    const bar = '#'.repeat(filled) + '.'.repeat(width - filled);
    process.stderr.write(
      `\r[${bar}] ${(frac * 100).toFixed(0).padStart(3)}% ${label}`.slice(0, process.stderr.columns || 120),
    );
  }

  clear(): void {
    if (this.#enabled) process.stderr.write('\r\x1b[K');
  }
}
