import ts from 'typescript';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { CoverageMap } from '../src/fuzz/coverage.js';
import { fuzzDirs, readInputs } from '../src/fuzz/corpus-files.js';
import { FuzzEngine } from '../src/fuzz/engine.js';
import { FuzzInput } from '../src/fuzz/input.js';
import { COVERAGE_GLOBAL, instrumentModule } from '../src/fuzz/instrument.js';
import { Mutator } from '../src/fuzz/mutator.js';
import { SURFACES, type FuzzTarget } from '../src/fuzz/target.js';
import { TARGETS } from '../src/fuzz/targets/index.js';

// The fuzz campaign's regression run: every stored corpus input and regression case, and every seed, replayed
// through its target with all its oracles (`npm run fuzz` is the campaign; docs/fuzz.md has its figures). Then the
// engine itself: its instrumentation, coverage feedback and time limit.

const root = fileURLToPath(new URL('..', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'vqkit-fuzz-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('fuzz corpus replay', () => {
  for (const surface of SURFACES) {
    it(`${surface}: every corpus input, regression case and seed passes its oracles`, async () => {
      const dirs = fuzzDirs(root, surface);
      const stored = [...readInputs(dirs.regressions), ...readInputs(dirs.corpus)];
      // The campaign's corpus is committed: an empty one means the replay would prove nothing.
      expect(readInputs(dirs.corpus).length).toBeGreaterThan(10);
      const inputs = [...stored.map((f) => f.data), ...TARGETS[surface].seeds()];
      const failures: string[] = [];
      for (const data of inputs) {
        try {
          await TARGETS[surface].run(data);
        } catch (e) {
          failures.push((e as Error).message);
        }
      }
      expect(failures).toEqual([]);
    });
  }

  it('each regression case is kept with a note of the bug it found (HEAD_IN_FLIGHT, a packed base checked late)', () => {
    const kept = SURFACES.flatMap((surface) =>
      readInputs(fuzzDirs(root, surface).regressions).map((f) => join(fuzzDirs(root, surface).regressions, f.name)),
    );
    expect(kept.map((path) => path.replace(/.*\/([a-z-]+)-[0-9a-f]+$/, '$1')).sort()).toEqual([
      'head-in-flight',
      'late-packed-base',
      'late-packed-base',
      'late-packed-base',
      'late-packed-base',
    ]);
    for (const path of kept) expect(readFileSync(`${path}.txt`, 'utf8')).toMatch(/^Found by the fuzz campaign: /);
  });
});

describe('fuzz engine', () => {
  it('reads an input as decisions, zeros past its end', () => {
    const input = new FuzzInput(Uint8Array.of(1, 2, 3));
    expect(input.u16()).toBe(0x201);
    expect(input.u32()).toBe(3);
    expect(input.done).toBe(true);
    expect(input.pick(['a', 'b'])).toBe('a');
  });

  it('mutates within the length limit and changes its input', () => {
    const m = new Mutator(5, 64, [0x8000]);
    const parent = new Uint8Array(32).fill(7);
    let changed = 0;
    for (let i = 0; i < 2000; i++) {
      const child = m.mutate(parent, Uint8Array.of(1, 2, 3));
      expect(child.length).toBeGreaterThan(0);
      expect(child.length).toBeLessThanOrEqual(64);
      if (child.length !== 32 || child.some((b) => b !== 7)) changed++;
    }
    expect(changed).toBeGreaterThan(1900);
  });

  it('counts branch arms, and keeps an input only when it reaches a new arm or hit count', async () => {
    const { counters, load } = await instrumented(
      'export function f(x) { if (x > 1) { return "big"; } return x === 1 ? "one" : x || "zero"; }',
    );
    const map = new CoverageMap(counters);
    bind(map);
    const f = (await load()).f as (x: number) => unknown;
    expect(f(0)).toBe('zero');
    expect(map.merge()).toBe(true);
    const zeroCovered = map.covered;
    map.reset();
    f(0);
    expect(map.merge()).toBe(false);
    map.reset();
    f(5);
    expect(map.merge()).toBe(true);
    expect(map.covered).toBeGreaterThan(zeroCovered);
  });

  it("instruments tsc's output whole, source map comment and all (a module ending in an if used to break)", () => {
    const source = readFileSync(new URL('../src/virtqueue/buffer-burst.ts', import.meta.url), 'utf8');
    const compiled = ts.transpileModule(source, {
      compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, sourceMap: true },
    }).outputText;
    expect(compiled).toContain('//# sourceMappingURL=');
    const { code } = instrumentModule(compiled, 'buffer-burst.js', 0);
    const check = ts.transpileModule(code, {
      reportDiagnostics: true,
      compilerOptions: { module: ts.ModuleKind.ESNext },
    });
    expect(check.diagnostics?.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))).toEqual([]);
  });

  it('finds a four-byte magic guarded by nested checks (coverage feedback at work), from one zero byte', async () => {
    const { counters, load } = await instrumented(
      [
        'export function check(d) {',
        '  if (d.length > 3 && d[0] === 0x76) {',
        '    if (d[1] === 0x71) { if (d[2] === 0x6b) { if (d[3] === 0x21) { throw new Error("found the magic"); } } }',
        '  }',
        '}',
      ].join('\n'),
    );
    const map = new CoverageMap(counters);
    bind(map);
    const check = (await load()).check as (d: Uint8Array) => void;
    const target: FuzzTarget = {
      surface: 'ring-device',
      description: 'magic',
      maxLength: 16,
      dictionary: [],
      seeds: () => [],
      run: check,
    };
    const engine = new FuzzEngine(target, map);
    await engine.run({ runs: 400_000, seed: 3, initial: [new Uint8Array(1)] });
    const found = [...engine.failures.values()];
    expect(found.map((f) => f.kind)).toEqual(['escape']);
    expect(found[0].message).toContain('found the magic');
    expect([...found[0].input.subarray(0, 4)]).toEqual([0x76, 0x71, 0x6b, 0x21]);
  });

  it('an input that runs past the time limit is saved and its process killed (the watchdog)', () => {
    const hangFile = join(scratch, 'hang');
    const script = `
      import { Worker } from 'node:worker_threads';
      const beat = new SharedArrayBuffer(12);
      const input = new SharedArrayBuffer(16);
      new Uint8Array(input).set([9, 8, 7]);
      Atomics.store(new Int32Array(beat), 1, 3);
      const w = new Worker(new URL(${JSON.stringify(pathToFileURL(join(root, 'dist/fuzz/watchdog-worker.js')).href)}), {
        workerData: { beat, input, limitMs: 200, hangFile: ${JSON.stringify(hangFile)} },
      });
      // As the campaign does: the watchdog is running before the loop that never yields starts.
      await new Promise((resolve) => w.once('message', resolve));
      for (;;) {}
    `;
    const file = join(scratch, 'hangs.mjs');
    writeFileSync(file, script);
    const r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 60_000 });
    expect(r.signal).toBe('SIGKILL');
    expect(r.stderr).toMatch(/ran longer than 200 ms/);
    expect(existsSync(hangFile)).toBe(true);
    expect([...readFileSync(hangFile)]).toEqual([9, 8, 7]);
  });
});

/** A module instrumented like the campaign's, written to a scratch file; load() imports it. */
async function instrumented(
  source: string,
): Promise<{ counters: number; load: () => Promise<Record<string, unknown>> }> {
  const { code, next } = instrumentModule(source, 'probe.js', 0);
  const file = join(scratch, `probe-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(file, code);
  return { counters: next, load: () => import(pathToFileURL(file).href) as Promise<Record<string, unknown>> };
}

/** An instrumented module binds the counters when it loads: bind them first. */
function bind(map: CoverageMap): void {
  (globalThis as Record<string, unknown>)[COVERAGE_GLOBAL] = map.counters;
}
