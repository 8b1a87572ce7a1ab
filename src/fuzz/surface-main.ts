/**
 * One surface's fuzz campaign, in a process of its own (the campaign runs one per core):
 *   node dist/fuzz/surface-main.js --surface ring-device --runs 10000000 --out result.json
 * It instruments the surface's modules, loads the target from the instrumented copy, runs the engine for the budget,
 * saves each failure's input, writes the distilled corpus back to fuzz/corpus/<surface>, and the figures to --out.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { CoverageMap } from './coverage.js';
import { fuzzDirs, readInputs, saveFailure, writeInputs } from './corpus-files.js';
import { FuzzEngine } from './engine.js';
import { COVERAGE_GLOBAL } from './instrument.js';
import { buildInstrumentedTree } from './instrumented-tree.js';
import type { FuzzTarget, Surface } from './target.js';
import type { SurfaceResult } from './report.js';
import { SURFACE_MODULES } from './targets/index.js';

const { values } = parseArgs({
  options: {
    surface: { type: 'string' },
    runs: { type: 'string', default: '1000000' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string' },
    'time-limit': { type: 'string', default: '5000' },
    'keep-corpus': { type: 'boolean', default: false },
  },
});
const surface = values.surface as Surface;
if (!(surface in SURFACE_MODULES)) throw new Error(`unknown surface ${values.surface}`);
const runs = Number(values.runs);
const limitMs = Number(values['time-limit']);

const dist = fileURLToPath(new URL('../', import.meta.url));
const root = fileURLToPath(new URL('../../', import.meta.url));
const tree = join(root, 'node_modules', '.cache', 'vqkit-fuzz', surface);
const counters = buildInstrumentedTree(dist, tree, SURFACE_MODULES[surface]);
const coverage = new CoverageMap(counters);
(globalThis as Record<string, unknown>)[COVERAGE_GLOBAL] = coverage.counters;
const targets = (await import(pathToFileURL(join(tree, 'fuzz', 'targets', 'index.js')).href)) as {
  TARGETS: Record<Surface, FuzzTarget>;
};
const target = targets.TARGETS[surface];

const dirs = fuzzDirs(root, surface);
const stored = readInputs(dirs.corpus).map((f) => f.data);
const regressions = readInputs(dirs.regressions).map((f) => f.data);

// The watchdog: the run counter, the input being run, and a flag that says the loop is over.
const beat = new SharedArrayBuffer(12);
const counter = new Int32Array(beat);
const inputBuffer = new SharedArrayBuffer(target.maxLength * 2 + 64);
const inputBytes = new Uint8Array(inputBuffer);
mkdirSync(dirs.crashes, { recursive: true });
const hangFile = join(dirs.crashes, `hang-${process.pid}`);
const watchdog = new Worker(new URL('./watchdog-worker.js', import.meta.url), {
  workerData: { beat, input: inputBuffer, limitMs, hangFile },
});
watchdog.unref();
await new Promise((resolve) => watchdog.once('message', resolve));

const engine = new FuzzEngine(target, coverage);
const started = performance.now();
await engine.run({
  runs,
  seed: Number(values.seed),
  initial: [...regressions, ...stored, ...target.seeds()],
  beforeRun: (data, n) => {
    inputBytes.set(data);
    Atomics.store(counter, 1, data.length);
    Atomics.store(counter, 0, n);
  },
  progress: (p) =>
    process.stderr.write(
      `fuzz ${surface}: ${p.runs} runs, ${Math.round(p.runs / p.seconds)}/s, ${p.covered}/${counters} branches, corpus ${p.corpus}, failures ${p.failures}\n`,
    ),
});
Atomics.store(counter, 2, 1);
const seconds = (performance.now() - started) / 1000;

const failures = [...engine.failures.values()].map((f) => ({
  kind: f.kind,
  message: f.message,
  count: f.count,
  file: saveFailure(dirs.crashes, f.input, f.message),
}));
const corpus = engine.distill();
if (!values['keep-corpus']) writeInputs(dirs.corpus, corpus);

const result: SurfaceResult = {
  surface,
  description: target.description,
  runs: engine.runs,
  seconds,
  execsPerSecond: engine.runs / seconds,
  branches: { covered: coverage.covered, total: counters },
  corpus: { entries: corpus.length, bytes: corpus.reduce((n, d) => n + d.length, 0) },
  regressions: regressions.length,
  failures,
  hangs: 0,
};
if (values.out !== undefined) writeFileSync(values.out, JSON.stringify(result, null, 2));
process.stderr.write(`fuzz ${surface}: done, ${failures.length} distinct failures\n`);
process.exit(failures.length === 0 ? 0 : 1);
