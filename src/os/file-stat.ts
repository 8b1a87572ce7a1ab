import { loadLibc, OsError } from './libc.js';

/** What an fd refers to, from st_mode's type bits; 'other' covers anonymous inodes (eventfd, epoll, timerfd). */
export type FileKind = 'regular' | 'directory' | 'socket' | 'fifo' | 'char-device' | 'block-device' | 'other';

export interface FileStat {
  kind: FileKind;
  /** st_size in bytes. */
  size: number;
}

/** struct stat offsets of st_mode and st_size: x86-64, and the asm-generic layout (arm64). */
const MODE_AT = process.arch === 'x64' ? 24 : 16;
const SIZE_AT = 48;
const STAT_BYTES = 144;

const KINDS: Record<number, FileKind> = {
  0o100000: 'regular',
  0o040000: 'directory',
  0o140000: 'socket',
  0o010000: 'fifo',
  0o020000: 'char-device',
  0o060000: 'block-device',
};

/** fstat(2): the kind and size of what `fd` refers to. */
export function fileStat(fd: number): FileStat {
  const buf = new Uint8Array(STAT_BYTES);
  if (Number(loadLibc().fstat(fd, buf)) === -1) throw new OsError('fstat', loadLibc().koffi.errno());
  const v = new DataView(buf.buffer);
  const mode = v.getUint32(MODE_AT, true);
  return { kind: KINDS[mode & 0o170000] ?? 'other', size: Number(v.getBigInt64(SIZE_AT, true)) };
}

const F_ADD_SEALS = 1033;
const F_GET_SEALS = 1034;
const F_SEAL_SEAL = 0x1;
export const F_SEAL_SHRINK = 0x2;

/**
 * Makes sure the file behind `fd` can no longer shrink (F_SEAL_SHRINK), adding the seal where the memfd allows it.
 * True if it is sealed against shrinking now; false where it cannot be (not a memfd, or created without
 * MFD_ALLOW_SEALING, or sealed shut by its owner without SHRINK).
 */
export function sealAgainstShrinking(fd: number): boolean {
  const libc = loadLibc();
  const seals = Number(libc.fcntl(fd, F_GET_SEALS, 0));
  if (seals === -1) return false;
  if ((seals & F_SEAL_SHRINK) !== 0) return true;
  if ((seals & F_SEAL_SEAL) !== 0) return false;
  return Number(libc.fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK)) !== -1;
}
