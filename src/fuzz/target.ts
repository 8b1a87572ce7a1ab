/**
 * What a fuzz target is and how it fails. A target runs one input against real vqkit code and checks oracles beyond
 * "no exception": a failure is a FuzzFailure with a kind, so the campaign tells an escaped error from an access
 * outside guest memory or a broken invariant.
 */

/** The five attack surfaces the campaign covers; each gets its own budget and report row. */
export type Surface = 'ring-device' | 'ring-driver' | 'vhost-user' | 'net' | 'vsock';

export const SURFACES: readonly Surface[] = ['ring-device', 'ring-driver', 'vhost-user', 'net', 'vsock'];

/** How a target failed. */
export type FailureKind =
  /** An error that is not one of the project's typed errors for this input came out of vqkit code. */
  | 'escape'
  /** A read or write outside guest memory (a guard byte changed, or a segment outside its region). */
  | 'out-of-bounds'
  /** A checked invariant broke: a buffer returned twice, a length beyond the writable bytes, lost data, ... */
  | 'invariant'
  /** More descriptors visited than the ring and its indirect tables hold. */
  | 'unbounded';

export class FuzzFailure extends Error {
  override readonly name = 'FuzzFailure';
  constructor(
    readonly kind: FailureKind,
    message: string,
  ) {
    super(`${kind}: ${message}`);
  }
}

/** Throws an 'invariant' FuzzFailure unless `ok`. */
export function invariant(ok: boolean, message: () => string): asserts ok {
  if (!ok) throw new FuzzFailure('invariant', message());
}

export interface FuzzTarget {
  readonly surface: Surface;
  /** What it exercises, for the report. */
  readonly description: string;
  /** Inputs longer than this are cut (ops past it would only slow the campaign down). */
  readonly maxLength: number;
  /** Values worth writing whole into an input: ring sizes, flags, magic numbers. */
  readonly dictionary: readonly number[];
  /** Hand-made starting inputs: honest traffic the mutator then corrupts. */
  seeds(): Uint8Array[];
  /** Runs one input; throws (or rejects with) FuzzFailure on an oracle, and nothing else. */
  run(data: Uint8Array): void | Promise<void>;
}

/**
 * Runs `body`, turning what escapes it into a FuzzFailure unless `allowed` says it is one of the typed errors this
 * call may throw for hostile input.
 */
export function guarded<T>(what: string, body: () => T, allowed: (e: unknown) => boolean = () => false): T | undefined {
  try {
    return body();
  } catch (e) {
    if (e instanceof FuzzFailure) throw e;
    if (allowed(e)) return undefined;
    const err = e as Error;
    throw new FuzzFailure('escape', `${what} threw ${err?.name ?? typeof e}: ${err?.message ?? String(e)}`);
  }
}
