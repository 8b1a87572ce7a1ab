import { fileStat, sealAgainstShrinking } from '../../os/file-stat.js';
import { VhostUserProtocolError, type MemoryRegion } from './messages.js';

const PAGE = 4096;

/** Where a region's memory stands once checked: whether its file can still shrink under the mapping. */
export interface CheckedRegion {
  /** The file is sealed against shrinking (F_SEAL_SHRINK): no access to the mapping can fault. */
  sealed: boolean;
}

/**
 * Checks the fd a front-end sent as guest memory before anything maps it: it must be a memfd or a regular file (not
 * an eventfd, socket, pipe or device), the mmap offset page-aligned, and offset + size inside the file - a mapping
 * past the end of its file faults (SIGBUS) on first touch, which would end the whole daemon. The file is sealed
 * against shrinking (where the memfd allows it) before its size is read, so the front-end cannot cut it short
 * later either.
 */
export function checkRegionMemory(request: number, r: MemoryRegion, fd: number): CheckedRegion {
  const where = `region 0x${r.guestAddr.toString(16)}+${r.size}`;
  const st = fileStat(fd);
  if (st.kind !== 'regular') {
    throw new VhostUserProtocolError(
      'BAD_MEMORY_FD',
      request,
      `${where}: its fd is a ${st.kind === 'other' ? 'non-file descriptor (eventfd, epoll, ...)' : st.kind}, not a memfd or regular file`,
    );
  }
  if (r.mmapOffset % PAGE !== 0) {
    throw new VhostUserProtocolError(
      'MISALIGNED_REGION',
      request,
      `${where}: mmap offset ${r.mmapOffset} is not page-aligned`,
    );
  }
  // Sealed first, measured after: a front-end that shrinks the file before the seal is seen doing it here; after
  // it, it cannot.
  const sealed = sealAgainstShrinking(fd);
  const size = fileStat(fd).size;
  if (r.mmapOffset + r.size > size) {
    throw new VhostUserProtocolError(
      'REGION_PAST_FILE',
      request,
      `${where}: mmap offset ${r.mmapOffset} + size ${r.size} is past the end of its ${size}-byte file`,
    );
  }
  return { sealed };
}

/** The alignment each ring area needs (VIRTIO 1.2 sections 2.7 and 2.8.10.1). */
const SPLIT_ALIGN = { desc: 16, avail: 2, used: 4 } as const;
const PACKED_ALIGN = { desc: 16, avail: 4, used: 4 } as const;

/**
 * SET_VRING_ADDR: each area aligned as its layout requires (checked on the front-end's addresses: regions map them
 * page for page, so the guest addresses share their alignment).
 */
export function checkRingAlignment(
  request: number,
  a: { index: number; desc: number; avail: number; used: number },
  packed: boolean,
): void {
  const need = packed ? PACKED_ALIGN : SPLIT_ALIGN;
  const names = packed
    ? { desc: 'descriptor ring', avail: 'driver event area', used: 'device event area' }
    : { desc: 'descriptor table', avail: 'avail ring', used: 'used ring' };
  for (const k of ['desc', 'avail', 'used'] as const) {
    if (a[k] % need[k] !== 0) {
      throw new VhostUserProtocolError(
        'MISALIGNED_RING',
        request,
        `queue ${a.index}: ${names[k]} at 0x${a[k].toString(16)} is not ${need[k]}-byte aligned`,
      );
    }
  }
}

/**
 * SET_VRING_BASE: split, a 16-bit avail index (any value: it runs free); packed, the next descriptor (below the ring
 * size) with the driver's wrap counter in bit 15, and the same for used in bits 16-31 when given.
 */
export function checkRingBase(request: number, index: number, num: number, packed: boolean, size: number): void {
  const bad = (why: string): never => {
    throw new VhostUserProtocolError('BAD_RING_BASE', request, `queue ${index}: base 0x${num.toString(16)}: ${why}`);
  };
  if (!packed) {
    if (num > 0xffff) bad('a split ring resumes from a 16-bit avail index');
    return;
  }
  if (size === 0) return;
  const avail = num & 0x7fff;
  const used = (num >>> 16) & 0x7fff;
  if (avail >= size) bad(`the next descriptor ${avail} is outside a ring of ${size}`);
  if (num > 0xffff && used >= size) bad(`the next used descriptor ${used} is outside a ring of ${size}`);
}

/** A ring's areas in guest physical space (start, length, name). */
export interface RingArea {
  what: string;
  gpa: number;
  bytes: number;
}

/** A queue's descriptor, driver and device areas must not overlap: the device would read what it writes. */
export function checkRingAreasApart(request: number, index: number, areas: readonly RingArea[]): void {
  for (let i = 0; i < areas.length; i++) {
    for (let j = i + 1; j < areas.length; j++) {
      const a = areas[i];
      const b = areas[j];
      if (a.gpa < b.gpa + b.bytes && b.gpa < a.gpa + a.bytes) {
        throw new VhostUserProtocolError(
          'RING_AREAS_OVERLAP',
          request,
          `queue ${index}: ${a.what} 0x${a.gpa.toString(16)}+${a.bytes} overlaps ${b.what} 0x${b.gpa.toString(16)}+${b.bytes}`,
        );
      }
    }
  }
}
