/**
 * Runs fuzz inputs through their target once, uninstrumented, and says how each fared:
 *   node dist/fuzz/replay.js <surface> <file>...
 * (VQ_FUZZ_TRACE=1 shows the vhost-user session's log.) Exits 1 if any input failed.
 */
import { readFileSync } from 'node:fs';
import { SURFACES, type Surface } from './target.js';
import { TARGETS } from './targets/index.js';

const [surface, ...files] = process.argv.slice(2);
if (!SURFACES.includes(surface as Surface) || files.length === 0) {
  process.stderr.write(`usage: node dist/fuzz/replay.js <${SURFACES.join('|')}> <input file>...\n`);
  process.exit(2);
}
let failed = 0;
for (const file of files) {
  try {
    await TARGETS[surface as Surface].run(new Uint8Array(readFileSync(file)));
    process.stdout.write(`${file}: passes\n`);
  } catch (e) {
    failed++;
    process.stdout.write(`${file}: ${(e as Error).stack ?? String(e)}\n`);
  }
}
process.exit(failed === 0 ? 0 : 1);
