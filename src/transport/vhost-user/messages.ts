import {
  VHOST_MEMORY_BASELINE_NREGIONS,
  VHOST_USER_CONFIG_HEADER_SIZE,
  VHOST_USER_HEADER_SIZE,
  VHOST_USER_MAX_CONFIG_SIZE,
  VHOST_USER_MEMORY_REGION_SIZE,
  VHOST_USER_REPLY,
  VHOST_USER_VERSION,
  VHOST_USER_VERSION_MASK,
  VHOST_USER_VRING_ADDR_SIZE,
  VHOST_USER_VRING_INDEX_MASK,
  VHOST_USER_VRING_NOFD_MASK,
  VhostUserRequest as R,
  requestName,
} from '../../spec/vhost-user.js';

/** Largest payload accepted: the biggest message either role exchanges here is far below it. */
export const MAX_PAYLOAD = 4096;
const TWO_64 = 2n ** 64n;

/** One vhost-user message: header fields, payload, and the descriptors that came with it. */
export interface VhostUserMessage {
  request: number;
  flags: number;
  payload: Uint8Array;
  fds: number[];
}

/** Why a vhost-user message was refused: one code per kind of bad input. */
export type ProtocolErrorCode =
  | 'BAD_VERSION'
  | 'UNEXPECTED_REPLY'
  | 'PAYLOAD_TOO_LARGE'
  | 'BAD_SIZE'
  | 'BAD_FD_COUNT'
  | 'BAD_FEATURES'
  | 'UNKNOWN_REQUEST'
  | 'BAD_QUEUE_INDEX'
  | 'BAD_RING_SIZE'
  | 'TOO_MANY_REGIONS'
  | 'BAD_REGION'
  | 'REGIONS_OVERLAP'
  | 'BAD_MEMORY_FD'
  | 'MISALIGNED_REGION'
  | 'REGION_PAST_FILE'
  | 'RING_AREAS_OVERLAP'
  | 'MISALIGNED_RING'
  | 'BAD_RING_BASE'
  | 'BAD_CONFIG';

/** A message the peer should not have sent: which request, what is wrong. The connection decides what follows. */
export class VhostUserProtocolError extends Error {
  override readonly name = 'VhostUserProtocolError';
  constructor(
    readonly code: ProtocolErrorCode,
    readonly request: number,
    detail: string,
  ) {
    super(`${requestName(request)}: ${code}: ${detail}`);
  }
}

/** Checks a header as it arrives, before its payload is read. */
export function checkHeader(request: number, flags: number, size: number, fromFrontend: boolean): void {
  if ((flags & VHOST_USER_VERSION_MASK) !== VHOST_USER_VERSION) {
    throw new VhostUserProtocolError('BAD_VERSION', request, `version ${flags & VHOST_USER_VERSION_MASK}, expected 1`);
  }
  if (fromFrontend && (flags & VHOST_USER_REPLY) !== 0) {
    throw new VhostUserProtocolError('UNEXPECTED_REPLY', request, 'a request marked as a reply');
  }
  if (size > MAX_PAYLOAD) throw new VhostUserProtocolError('PAYLOAD_TOO_LARGE', request, `${size} bytes`);
}

export function encodeMessage(request: number, flags: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(VHOST_USER_HEADER_SIZE + payload.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, request, true);
  v.setUint32(4, flags, true);
  v.setUint32(8, payload.length, true);
  out.set(payload, VHOST_USER_HEADER_SIZE);
  return out;
}

const view = (m: VhostUserMessage): DataView => new DataView(m.payload.buffer, m.payload.byteOffset, m.payload.length);

function expectSize(m: VhostUserMessage, size: number): DataView {
  if (m.payload.length !== size) {
    throw new VhostUserProtocolError('BAD_SIZE', m.request, `payload of ${m.payload.length} bytes, expected ${size}`);
  }
  return view(m);
}

function expectFds(m: VhostUserMessage, count: number): void {
  if (m.fds.length !== count) {
    throw new VhostUserProtocolError('BAD_FD_COUNT', m.request, `${m.fds.length} file descriptors, expected ${count}`);
  }
}

/** A u64 number that must stay below 2^53 (addresses, sizes). */
function u53(m: VhostUserMessage, v: DataView, at: number, what: string): number {
  const x = v.getBigUint64(at, true);
  if (x >= 2n ** 53n)
    throw new VhostUserProtocolError('BAD_REGION', m.request, `${what} 0x${x.toString(16)} reaches 2^53`);
  return Number(x);
}

function queueIndex(m: VhostUserMessage, index: number, queues: number): number {
  if (index >= queues) {
    throw new VhostUserProtocolError('BAD_QUEUE_INDEX', m.request, `queue ${index}, the device has ${queues}`);
  }
  return index;
}

/** A u64 payload with no descriptors (SET_FEATURES, SET_PROTOCOL_FEATURES, SET_STATUS). */
export function decodeU64(m: VhostUserMessage): bigint {
  expectFds(m, 0);
  return expectSize(m, 8).getBigUint64(0, true);
}

export const encodeU64 = (x: bigint): Uint8Array => {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt.asUintN(64, x % TWO_64), true);
  return out;
};

export interface VringState {
  index: number;
  num: number;
}

/** struct vhost_vring_state (SET_VRING_NUM, SET_VRING_BASE, GET_VRING_BASE, SET_VRING_ENABLE). */
export function decodeVringState(m: VhostUserMessage, queues: number): VringState {
  expectFds(m, 0);
  const v = expectSize(m, 8);
  return { index: queueIndex(m, v.getUint32(0, true), queues), num: v.getUint32(4, true) };
}

export function encodeVringState(s: VringState): Uint8Array {
  const out = new Uint8Array(8);
  const v = new DataView(out.buffer);
  v.setUint32(0, s.index, true);
  v.setUint32(4, s.num, true);
  return out;
}

/** SET_VRING_NUM: a ring size the device accepts (split rings: a power of two). */
export function decodeRingSize(m: VhostUserMessage, queues: number, maxSize: number, packed: boolean): VringState {
  const s = decodeVringState(m, queues);
  if (s.num < 1 || s.num > maxSize || (!packed && (s.num & (s.num - 1)) !== 0)) {
    const rule = packed ? `1..${maxSize}` : `a power of two up to ${maxSize}`;
    throw new VhostUserProtocolError('BAD_RING_SIZE', m.request, `queue ${s.index}: size ${s.num}, expected ${rule}`);
  }
  return s;
}

export interface VringAddr {
  index: number;
  flags: number;
  /** Front-end user (virtual) addresses: translated through the memory table's userspace_addr. */
  desc: number;
  used: number;
  avail: number;
  /** Guest address for dirty logging (VHOST_VRING_F_LOG); vqkit does not log. */
  log: bigint;
}

export function decodeVringAddr(m: VhostUserMessage, queues: number): VringAddr {
  expectFds(m, 0);
  const v = expectSize(m, VHOST_USER_VRING_ADDR_SIZE);
  return {
    index: queueIndex(m, v.getUint32(0, true), queues),
    flags: v.getUint32(4, true),
    desc: u53(m, v, 8, 'descriptor address'),
    used: u53(m, v, 16, 'used address'),
    avail: u53(m, v, 24, 'avail address'),
    log: v.getBigUint64(32, true),
  };
}

export function encodeVringAddr(a: VringAddr): Uint8Array {
  const out = new Uint8Array(VHOST_USER_VRING_ADDR_SIZE);
  const v = new DataView(out.buffer);
  v.setUint32(0, a.index, true);
  v.setUint32(4, a.flags, true);
  v.setBigUint64(8, BigInt(a.desc), true);
  v.setBigUint64(16, BigInt(a.used), true);
  v.setBigUint64(24, BigInt(a.avail), true);
  v.setBigUint64(32, a.log, true);
  return out;
}

export interface VringFile {
  index: number;
  /** The eventfd, or null when the front-end asks for polling (bit 8). */
  fd: number | null;
}

/** SET_VRING_KICK / SET_VRING_CALL / SET_VRING_ERR: an index and an fd, or the no-fd bit and none. */
export function decodeVringFile(m: VhostUserMessage, queues: number): VringFile {
  const v = expectSize(m, 8);
  const x = v.getBigUint64(0, true);
  const noFd = (x & BigInt(VHOST_USER_VRING_NOFD_MASK)) !== 0n;
  expectFds(m, noFd ? 0 : 1);
  return { index: queueIndex(m, Number(x & BigInt(VHOST_USER_VRING_INDEX_MASK)), queues), fd: noFd ? null : m.fds[0] };
}

export const encodeVringFile = (index: number, hasFd: boolean): Uint8Array =>
  encodeU64(BigInt(index | (hasFd ? 0 : VHOST_USER_VRING_NOFD_MASK)));

/** One region of a vhost-user memory table (SET_MEM_TABLE, ADD_MEM_REG): guest and front-end addresses, size, and offset in its fd. */
export interface MemoryRegion {
  guestAddr: number;
  size: number;
  userAddr: number;
  mmapOffset: number;
}

function readRegion(m: VhostUserMessage, v: DataView, at: number): MemoryRegion {
  const r = {
    guestAddr: u53(m, v, at, 'guest_phys_addr'),
    size: u53(m, v, at + 8, 'memory_size'),
    userAddr: u53(m, v, at + 16, 'userspace_addr'),
    mmapOffset: u53(m, v, at + 24, 'mmap_offset'),
  };
  if (r.size === 0)
    throw new VhostUserProtocolError('BAD_REGION', m.request, `empty region at 0x${r.guestAddr.toString(16)}`);
  for (const [what, base] of [
    ['guest', r.guestAddr],
    ['user', r.userAddr],
    ['mmap', r.mmapOffset],
  ] as const) {
    if (base + r.size > 2 ** 53)
      throw new VhostUserProtocolError('BAD_REGION', m.request, `${what} range reaches 2^53`);
  }
  return r;
}

function writeRegion(v: DataView, at: number, r: MemoryRegion): void {
  v.setBigUint64(at, BigInt(r.guestAddr), true);
  v.setBigUint64(at + 8, BigInt(r.size), true);
  v.setBigUint64(at + 16, BigInt(r.userAddr), true);
  v.setBigUint64(at + 24, BigInt(r.mmapOffset), true);
}

/** Regions must not overlap, in guest physical space or in the front-end's address space. */
export function checkNoOverlap(request: number, regions: readonly MemoryRegion[]): void {
  for (const key of ['guestAddr', 'userAddr'] as const) {
    const sorted = [...regions].sort((a, b) => a[key] - b[key]);
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i][key] < sorted[i - 1][key] + sorted[i - 1].size) {
        throw new VhostUserProtocolError(
          'REGIONS_OVERLAP',
          request,
          `${key === 'guestAddr' ? 'guest' : 'user'} ranges at 0x${sorted[i - 1][key].toString(16)} and 0x${sorted[i][key].toString(16)} overlap`,
        );
      }
    }
  }
}

/** SET_MEM_TABLE: u32 count, u32 padding, regions; one fd per region. */
export function decodeMemTable(m: VhostUserMessage, maxRegions = VHOST_MEMORY_BASELINE_NREGIONS): MemoryRegion[] {
  if (m.payload.length < 8)
    throw new VhostUserProtocolError('BAD_SIZE', m.request, `payload of ${m.payload.length} bytes`);
  const n = view(m).getUint32(0, true);
  if (n === 0 || n > maxRegions) {
    throw new VhostUserProtocolError('TOO_MANY_REGIONS', m.request, `${n} regions, expected 1..${maxRegions}`);
  }
  const v = expectSize(m, 8 + n * VHOST_USER_MEMORY_REGION_SIZE);
  expectFds(m, n);
  const regions = Array.from({ length: n }, (_, i) => readRegion(m, v, 8 + i * VHOST_USER_MEMORY_REGION_SIZE));
  checkNoOverlap(m.request, regions);
  return regions;
}

export function encodeMemTable(regions: readonly MemoryRegion[]): Uint8Array {
  const out = new Uint8Array(8 + regions.length * VHOST_USER_MEMORY_REGION_SIZE);
  const v = new DataView(out.buffer);
  v.setUint32(0, regions.length, true);
  regions.forEach((r, i) => writeRegion(v, 8 + i * VHOST_USER_MEMORY_REGION_SIZE, r));
  return out;
}

/** ADD_MEM_REG (one fd) and REM_MEM_REG: u64 padding, then one region. */
export function decodeSingleRegion(m: VhostUserMessage): MemoryRegion {
  const v = expectSize(m, 8 + VHOST_USER_MEMORY_REGION_SIZE);
  if (m.request === R.ADD_MEM_REG) expectFds(m, 1);
  // QEMU sends the region's fd with REM_MEM_REG too; it is not needed (the connection closes it).
  else if (m.fds.length > 1) expectFds(m, 1);
  return readRegion(m, v, 8);
}

export function encodeSingleRegion(r: MemoryRegion): Uint8Array {
  const out = new Uint8Array(8 + VHOST_USER_MEMORY_REGION_SIZE);
  writeRegion(new DataView(out.buffer), 8, r);
  return out;
}

export interface ConfigAccess {
  offset: number;
  size: number;
  flags: number;
  bytes: Uint8Array;
}

/** GET_CONFIG / SET_CONFIG: offset, size, flags, then `size` bytes (the payload's length must agree). */
export function decodeConfig(m: VhostUserMessage): ConfigAccess {
  expectFds(m, 0);
  if (m.payload.length < VHOST_USER_CONFIG_HEADER_SIZE) {
    throw new VhostUserProtocolError('BAD_SIZE', m.request, `payload of ${m.payload.length} bytes`);
  }
  const v = view(m);
  const offset = v.getUint32(0, true);
  const size = v.getUint32(4, true);
  if (size > VHOST_USER_MAX_CONFIG_SIZE || m.payload.length !== VHOST_USER_CONFIG_HEADER_SIZE + size) {
    throw new VhostUserProtocolError('BAD_CONFIG', m.request, `size ${size} in a payload of ${m.payload.length} bytes`);
  }
  if (offset + size > VHOST_USER_MAX_CONFIG_SIZE) {
    throw new VhostUserProtocolError(
      'BAD_CONFIG',
      m.request,
      `bytes ${offset}..${offset + size} are outside config space`,
    );
  }
  return { offset, size, flags: v.getUint32(8, true), bytes: m.payload.subarray(VHOST_USER_CONFIG_HEADER_SIZE) };
}

export function encodeConfig(c: Omit<ConfigAccess, 'size'>): Uint8Array {
  const out = new Uint8Array(VHOST_USER_CONFIG_HEADER_SIZE + c.bytes.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, c.offset, true);
  v.setUint32(4, c.bytes.length, true);
  v.setUint32(8, c.flags, true);
  out.set(c.bytes, VHOST_USER_CONFIG_HEADER_SIZE);
  return out;
}

/** Requests that carry no payload and no fds (SET_OWNER, RESET_OWNER, GET_* queries). */
export function decodeEmpty(m: VhostUserMessage): void {
  expectFds(m, 0);
  expectSize(m, 0);
}
