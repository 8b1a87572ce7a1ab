/**
 * The contract between vqkit's test driver and test device (what Linux's virtio_test is to vhost_test). Both sides
 * count buffers in available order from 0; buffer n carries bytes the other side can predict from n alone, so every
 * byte read is checked and a misplaced, reordered or lost buffer shows.
 */

/** Byte j of the device-readable data of buffer n, written by the driver. */
export const readablePatternByte = (n: number, j: number): number => (n * 131 + j * 7 + 1) & 0xff;

/** Byte j of the device-writable data of buffer n, written by the device. */
export const writablePatternByte = (n: number, j: number): number => (n * 73 + j * 13 + 5) & 0xff;

/**
 * Bytes the device writes into buffer n with `writable` writable bytes. Normally all of them; with partial writes,
 * a prefix that both sides derive from n (so the driver can check the used length exactly).
 */
export function expectedWritten(n: number, writable: number, partial: boolean): number {
  if (!partial || writable === 0) return writable;
  // Half the buffers are written in full, so batches of full buffers still form under IN_ORDER.
  const h = Math.imul(n ^ 0x5bd1e995, 0x27d4eb2d) >>> 0;
  return h & 1 ? writable : (h >>> 1) % (writable + 1);
}
