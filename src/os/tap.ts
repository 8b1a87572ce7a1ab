import { OwnedFd, readMessage } from './fd.js';
import { check, loadLibc, O_CLOEXEC, O_NONBLOCK, O_RDWR } from './libc.js';

const TUNSETIFF = 0x400454ca;
const IFF_TAP = 0x0002;
const IFF_NO_PI = 0x1000;
/** struct ifreq: a 16-byte name, then (for TUNSETIFF) the flags as a short; 40 bytes in all. */
const IFREQ_SIZE = 40;
const IFNAMSIZ = 16;

/**
 * A host TAP interface (created if absent, as `ip tuntap add` would), opened non-blocking: each read() returns one
 * Ethernet frame, each write() sends one. No packet-information prefix and no vnet header: plain frames.
 */
export class Tap extends OwnedFd {
  static open(name: string): Tap {
    if (name.length === 0 || name.length >= IFNAMSIZ || !/^[A-Za-z0-9_.-]+$/.test(name)) {
      throw new RangeError(`bad interface name ${JSON.stringify(name)} (1-15 letters, digits, '_', '.', '-')`);
    }
    const libc = loadLibc();
    const fd = check('open /dev/net/tun', libc.open('/dev/net/tun', O_RDWR | O_NONBLOCK | O_CLOEXEC, 0) as number);
    const ifr = new Uint8Array(IFREQ_SIZE);
    ifr.set(new TextEncoder().encode(name));
    new DataView(ifr.buffer).setUint16(IFNAMSIZ, IFF_TAP | IFF_NO_PI, true);
    try {
      check(`TUNSETIFF ${name}`, libc.ioctl(fd, TUNSETIFF, ifr) as number);
    } catch (e) {
      libc.close(fd);
      throw e;
    }
    return new Tap(fd);
  }
}

/** Reads one frame from a non-blocking TAP fd into `buf`; its length, or 0 if none is waiting. */
export function readFrame(fd: number, buf: Uint8Array): number {
  return readMessage(fd, buf, 'tap read') ?? 0;
}

/** Writes one frame to a TAP fd; false if the interface's queue is full or it is down (the frame is dropped). */
export function writeFrame(fd: number, buf: Uint8Array, offset: number, length: number): boolean {
  const libc = loadLibc();
  const view = offset === 0 && length === buf.length ? buf : buf.subarray(offset, offset + length);
  return Number(libc.write(fd, view, length)) === length;
}
