import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { instrumentModule } from './instrument.js';

/**
 * A copy of the compiled tree with coverage counters in the modules named by `prefixes` (paths under dist/) and the
 * rest copied as they are, so the fuzz target, loaded from the copy, runs instrumented library code. It goes under
 * node_modules/.cache so that imports of dependencies resolve as from dist/. Returns the number of counters.
 */
export function buildInstrumentedTree(dist: string, out: string, prefixes: readonly string[]): number {
  rmSync(out, { recursive: true, force: true });
  let counters = 0;
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const from = join(dir, entry.name);
      const rel = relative(dist, from).split('\\').join('/');
      const to = join(out, rel);
      if (entry.isDirectory()) {
        walk(from);
        continue;
      }
      if (!rel.endsWith('.js')) continue;
      mkdirSync(dirname(to), { recursive: true });
      if (prefixes.some((p) => rel.startsWith(p))) {
        const { code, next } = instrumentModule(readFileSync(from, 'utf8'), rel, counters);
        counters = next;
        writeFileSync(to, code);
      } else {
        copyFileSync(from, to);
      }
    }
  };
  walk(dist);
  return counters;
}
