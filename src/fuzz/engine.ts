import { CoverageMap } from './coverage.js';
import { Mutator } from './mutator.js';
import { FuzzFailure, type FailureKind, type FuzzTarget } from './target.js';

/** One failure the campaign found, once per distinct message. */
export interface FoundFailure {
  kind: FailureKind;
  message: string;
  input: Uint8Array;
  /** How many inputs failed this way. */
  count: number;
}

export interface EngineOptions {
  runs: number;
  seed: number;
  /** Inputs to start from: seeds, the stored corpus and the regression cases. */
  initial: readonly Uint8Array[];
  /** Called now and then with progress. */
  progress?: (e: EngineProgress) => void;
  /** Called before each input runs (the watchdog keeps a copy, to save it if the run hangs). */
  beforeRun?: (data: Uint8Array, runs: number) => void;
}

export interface EngineProgress {
  runs: number;
  seconds: number;
  covered: number;
  corpus: number;
  failures: number;
}

interface Entry {
  data: Uint8Array;
  features: Uint32Array;
}

/**
 * The coverage-guided loop: pick a corpus entry, mutate it, run it, keep it if it reached a new (branch, hit count)
 * pair, and record every failure with the input that caused it.
 */
export class FuzzEngine {
  readonly corpus: Entry[] = [];
  readonly failures = new Map<string, FoundFailure>();
  runs = 0;

  constructor(
    readonly target: FuzzTarget,
    readonly coverage: CoverageMap,
  ) {}

  /**
   * Runs one input, keeping it when it found new coverage and recording it when it failed. Synchronous targets
   * return undefined; an asynchronous one returns the promise to wait for.
   */
  runOne(data: Uint8Array, o: EngineOptions): Promise<void> | undefined {
    this.coverage.reset();
    o.beforeRun?.(data, this.runs);
    this.runs++;
    let result: void | Promise<void>;
    try {
      result = this.target.run(data);
    } catch (e) {
      this.#record(e, data);
      return undefined;
    }
    if (result instanceof Promise) {
      return result.then(
        () => this.#keep(data),
        (e: unknown) => this.#record(e, data),
      );
    }
    this.#keep(data);
    return undefined;
  }

  #keep(data: Uint8Array): void {
    if (this.coverage.merge()) this.corpus.push({ data, features: this.coverage.features() });
  }

  async run(o: EngineOptions): Promise<void> {
    const started = performance.now();
    for (const data of o.initial) await this.runOne(data.slice(0, this.target.maxLength), o);
    if (this.corpus.length === 0) this.corpus.push({ data: new Uint8Array(1), features: new Uint32Array(0) });
    const m = new Mutator(o.seed, this.target.maxLength, this.target.dictionary);
    let report = this.runs + 10_000;
    while (this.runs < o.runs) {
      const parent = this.corpus[m.random(this.corpus.length)].data;
      const other = this.corpus[m.random(this.corpus.length)].data;
      const pending = this.runOne(m.mutate(parent, other), o);
      if (pending !== undefined) await pending;
      if (this.runs >= report) {
        report = this.runs + 100_000;
        o.progress?.(this.#progress(started));
      }
    }
    o.progress?.(this.#progress(started));
  }

  /** The smallest set of corpus entries, smallest first, that keeps every (branch, bucket) pair reached. */
  distill(): Uint8Array[] {
    const kept: Uint8Array[] = [];
    const have = new Set<number>();
    const bySize = [...this.corpus].sort((a, b) => a.data.length - b.data.length);
    // Largest feature sets first within equal sizes would be better; smallest inputs first keeps replays fast.
    for (const e of bySize) {
      let adds = false;
      for (const f of e.features) if (!have.has(f)) adds = true;
      if (!adds) continue;
      e.features.forEach((f) => have.add(f));
      kept.push(e.data);
    }
    return kept;
  }

  #progress(started: number): EngineProgress {
    return {
      runs: this.runs,
      seconds: (performance.now() - started) / 1000,
      covered: this.coverage.covered,
      corpus: this.corpus.length,
      failures: [...this.failures.values()].reduce((n, f) => n + f.count, 0),
    };
  }

  #record(e: unknown, data: Uint8Array): void {
    // By name, not instanceof: the target runs from the instrumented copy, whose FuzzFailure is another class.
    const failure =
      (e as Error)?.name === 'FuzzFailure'
        ? (e as FuzzFailure)
        : new FuzzFailure('escape', `the harness threw ${(e as Error)?.stack ?? String(e)}`);
    // Numbers differ from input to input; the message without them names the bug.
    const key = `${failure.kind}:${failure.message.replace(/\d+/g, 'N')}`;
    const known = this.failures.get(key);
    if (known !== undefined) {
      known.count++;
      if (data.length < known.input.length) known.input = data.slice();
      return;
    }
    this.failures.set(key, { kind: failure.kind, message: failure.message, input: data.slice(), count: 1 });
  }
}
