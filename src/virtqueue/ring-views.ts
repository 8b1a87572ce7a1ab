import { describeFault, hex, type GuestMemory } from '../memory/guest-memory.js';

/** Rings are little-endian; typed arrays read them directly only on a little-endian host. Checked once. */
export const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Bad ring geometry or placement at queue setup (size, alignment, an area outside guest memory). */
export class RingSetupError extends Error {
  override readonly name = 'RingSetupError';
  constructor(
    readonly queue: string,
    message: string,
  ) {
    super(`${queue}: ${message}`);
  }
}

type View = Uint16Array | Uint32Array;
type ViewCtor<V extends View> = {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): V;
  BYTES_PER_ELEMENT: number;
};

/**
 * A typed-array view over a ring area, made once per queue. The area must lie wholly inside one region and be
 * aligned as the spec requires (which also makes the typed array's element alignment hold).
 */
export function ringView<V extends View>(
  queue: string,
  memory: GuestMemory,
  what: string,
  addr: number,
  byteLength: number,
  align: number,
  ctor: ViewCtor<V>,
): V {
  if (!HOST_IS_LITTLE_ENDIAN) throw new RingSetupError(queue, 'vqkit needs a little-endian host');
  if (!Number.isSafeInteger(addr) || addr < 0) throw new RingSetupError(queue, `${what} address ${addr} is invalid`);
  if (addr % align !== 0) throw new RingSetupError(queue, `${what} at ${hex(addr)} is not aligned to ${align}`);
  const r = memory.locate(addr, byteLength);
  if (typeof r !== 'number') throw new RingSetupError(queue, `${what}: ${describeFault(r, addr, byteLength)}`);
  const bytes = memory.regions[r].bytes;
  const byteOffset = bytes.byteOffset + memory.offset;
  if (byteOffset % ctor.BYTES_PER_ELEMENT !== 0) {
    throw new RingSetupError(queue, `${what} at ${hex(addr)} is not ${ctor.BYTES_PER_ELEMENT}-aligned in its buffer`);
  }
  return new ctor(bytes.buffer, byteOffset, Math.ceil(byteLength / ctor.BYTES_PER_ELEMENT));
}

export function checkQueueSize(queue: string, size: number, max: number, powerOfTwo: boolean): void {
  if (!Number.isInteger(size) || size < 1 || size > max) {
    throw new RingSetupError(queue, `queue size ${size} is outside 1..${max}`);
  }
  if (powerOfTwo && (size & (size - 1)) !== 0) {
    throw new RingSetupError(queue, `queue size ${size} is not a power of two (a split ring requires one)`);
  }
}
