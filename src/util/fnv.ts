/** FNV-1a's offset basis: where a hash starts. */
export const FNV_OFFSET = 0x811c9dc5;

/**
 * FNV-1a over bytes[from..to), continuing from `h` (FNV_OFFSET to start; a previous result to chain segments). A
 * fingerprint for telling bytes apart in checks, not for security.
 */
export function fnv1a(h: number, bytes: Uint8Array, from = 0, to = bytes.length): number {
  for (let i = from; i < to; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return h >>> 0;
}
