import { DEFAULT_RUN, type RingLayout, type RunOptions } from './options.js';

/** Ring layouts `vq run` can drive today. */
export const AVAILABLE_RINGS: readonly RingLayout[] = ['split', 'packed'];

/**
 * The default matrix: every ring × IN_ORDER on/off × INDIRECT_DESC × EVENT_IDX, each with the completion policies
 * that setting allows (IN_ORDER: batched and per-buffer used entries; without: in order and out of order), in one
 * thread (deterministic) and two (concurrent).
 */
export function defaultMatrix(base: Partial<RunOptions> = {}): RunOptions[] {
  const runs: RunOptions[] = [];
  for (const ring of AVAILABLE_RINGS) {
    for (const inOrder of [true, false]) {
      for (const indirect of [true, false]) {
        for (const eventIdx of [true, false]) {
          const policies: Partial<RunOptions>[] = inOrder
            ? [{ usedEntries: 'batched' }, { usedEntries: 'per-buffer' }]
            : [{ completion: 'in-order' }, { completion: 'out-of-order' }];
          for (const policy of policies) {
            for (const threads of [false, true]) {
              runs.push({ ...DEFAULT_RUN, ...base, ring, inOrder, indirect, eventIdx, ...policy, threads });
            }
          }
        }
      }
    }
  }
  return runs;
}
