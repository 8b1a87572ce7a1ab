import type { VirtqueueError } from '../virtqueue/errors.js';
import { RULES, ruleIndex, type RuleId } from './rules.js';

/** The first time a rule was broken: where, and the value seen against the value the rule wants. */
export interface Offence {
  /** The virtqueue index (vhost-user numbering: net rx 0, tx 1, ...). */
  queue: number;
  /** The ring index it was found at: a used or avail slot, a descriptor, a buffer count, as `detail` says. */
  index: number;
  value: number;
  expected: number;
  detail: string;
}

const COUNTS = 2; // violations, checks
const FIELDS = 4; // queue, index, value, expected
const DETAIL_BYTES = 240;

/**
 * Verdicts of one check run, in shared memory: the judges run beside the queues (on data-plane or driver threads),
 * the report is read on the main thread. Per rule, how often it was checked and broken, and its first offence.
 */
export class VerdictBoard {
  readonly #counts: Int32Array;
  readonly #fields: Float64Array;
  readonly #details: Uint8Array;

  constructor(readonly buffer: SharedArrayBuffer = VerdictBoard.allocate()) {
    const n = RULES.length;
    this.#fields = new Float64Array(buffer, 0, n * FIELDS);
    this.#counts = new Int32Array(buffer, n * FIELDS * 8, n * COUNTS);
    this.#details = new Uint8Array(buffer, n * (FIELDS * 8 + COUNTS * 4), n * DETAIL_BYTES);
  }

  /** A zeroed board's memory (what the constructor uses when given none). */
  static allocate(): SharedArrayBuffer {
    return new SharedArrayBuffer(RULES.length * (FIELDS * 8 + COUNTS * 4 + DETAIL_BYTES));
  }

  /** The rule was checked `times` more times (a rule never checked gets no verdict). */
  checked(rule: RuleId, times = 1): void {
    Atomics.add(this.#counts, ruleIndex(rule) * COUNTS + 1, times);
  }

  /** The rule was broken; the first offence is kept. */
  broken(rule: RuleId, o: Offence): void {
    const r = ruleIndex(rule);
    Atomics.add(this.#counts, r * COUNTS + 1, 1);
    if (Atomics.add(this.#counts, r * COUNTS, 1) !== 0) return;
    this.#fields.set([o.queue, o.index, o.value, o.expected], r * FIELDS);
    const text = new TextEncoder().encode(o.detail).subarray(0, DETAIL_BYTES);
    this.#details.fill(0, r * DETAIL_BYTES, (r + 1) * DETAIL_BYTES);
    this.#details.set(text, r * DETAIL_BYTES);
  }

  /** The rule was broken as the engine's refusal `e` says (its queue's index, value and message). */
  refused(rule: RuleId, queue: number, e: VirtqueueError): void {
    this.broken(rule, { queue, index: e.index, value: e.value, expected: -1, detail: e.message });
  }

  /** How often the rule was broken. */
  violations(rule: RuleId): number {
    return Atomics.load(this.#counts, ruleIndex(rule) * COUNTS);
  }

  /** How often the rule was checked (a check that broke it included). */
  checks(rule: RuleId): number {
    return Atomics.load(this.#counts, ruleIndex(rule) * COUNTS + 1);
  }

  /** Where the rule was first broken, or null. */
  firstOffence(rule: RuleId): Offence | null {
    const r = ruleIndex(rule);
    if (this.violations(rule) === 0) return null;
    const [queue, index, value, expected] = this.#fields.subarray(r * FIELDS, (r + 1) * FIELDS);
    const raw = this.#details.subarray(r * DETAIL_BYTES, (r + 1) * DETAIL_BYTES);
    const end = raw.indexOf(0);
    const detail = new TextDecoder().decode(raw.slice(0, end < 0 ? DETAIL_BYTES : end));
    return { queue, index, value, expected, detail };
  }
}
