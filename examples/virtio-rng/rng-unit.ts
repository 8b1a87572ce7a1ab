// The data path of the rng device: runs on one of the daemon's data-plane threads, beside other devices' queues.
import { randomFillSync } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { openQueueUnit, type DataPlaneUnit, type VirtqueueDevice } from 'vqkit';
import type { RngUnitData } from './rng-device.js';

/** Buffers filled per poll: bounded, so the thread's other queues are served in between. */
const BATCH = 64;

export function openUnit(data: unknown): DataPlaneUnit {
  const { start, recordPath } = data as RngUnitData;
  const record = recordPath === null ? -1 : openSync(recordPath, 'a');
  let buffers = 0;
  let bytes = 0;
  const unit = openQueueUnit(
    start,
    () => ({
      serve([requestq]: readonly VirtqueueDevice[]): number {
        let n = 0;
        for (; n < BATCH; n++) {
          const chain = requestq.pop();
          if (chain === null) break;
          // Fill every device-writable segment in place, in guest memory.
          let written = 0;
          for (let i = chain.readableCount; i < chain.segCount; i++) {
            const segment = chain.bytes[i].subarray(chain.offsets[i], chain.offsets[i] + chain.lengths[i]);
            randomFillSync(segment);
            if (record >= 0) writeSync(record, segment);
            written += segment.length;
          }
          requestq.complete(chain, written);
          buffers++;
          bytes += written;
        }
        return n;
      },
      stats: () => ({ rng: { buffers, bytes } }),
    }),
    { prefix: 'rng' },
  );
  // Close the record file when the unit ends.
  const finish = unit.finish.bind(unit);
  unit.finish = (failure?: string) => {
    const result = finish(failure);
    if (record >= 0) closeSync(record);
    return result;
  };
  return unit;
}
