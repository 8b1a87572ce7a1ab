const TWO_32 = 2 ** 32;

/** A guest address's high 32-bit word (the low one is `addr >>> 0`). */
export const highWord = (addr: number): number => (addr - (addr >>> 0)) / TWO_32;

/**
 * Writes a 16-byte descriptor as four 32-bit words (addr lo, addr hi, len, and `last`: the layout's flags and
 * next or id), storing only the words that differ from what the memory holds: correct whatever it held, and a
 * descriptor republished unchanged leaves its cache line shared with the device instead of taking it back.
 */
export function storeChangedWords(words: Uint32Array, d: number, addr: number, len: number, last: number): void {
  const w = d * 4;
  const lo = addr >>> 0;
  const hi = highWord(addr);
  if (words[w] !== lo) words[w] = lo;
  if (words[w + 1] !== hi) words[w + 1] = hi;
  if (words[w + 2] !== len) words[w + 2] = len;
  if (words[w + 3] !== last) words[w + 3] = last;
}
