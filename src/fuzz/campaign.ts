/**
 * The fuzz campaign (`npm run fuzz`): every surface for a budget of inputs, one process per core, then the report.
 *   node dist/fuzz/campaign.js [--runs N] [--surface S ...] [--jobs J] [--time-limit MS] [--out docs/fuzz.json]
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { fuzzDirs } from './corpus-files.js';
import { campaignTable, type CampaignReport, type SurfaceResult } from './report.js';
import { SURFACES, type Surface } from './target.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '10000000' },
    surface: { type: 'string', multiple: true },
    jobs: { type: 'string', default: String(cpus().length) },
    'time-limit': { type: 'string', default: '5000' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write(
    [
      'usage: npm run fuzz -- [--runs N] [--surface S]... [--jobs J] [--time-limit MS] [--out FILE]',
      '',
      `Runs the coverage-guided fuzz campaign: N inputs (default 10,000,000) on each surface (${SURFACES.join(', ')}),`,
      'J surfaces at a time (default: one per core). Each failing input is saved under fuzz/crashes/<surface>;',
      'the distilled corpus is written back to fuzz/corpus/<surface>. --out writes the figures as JSON and',
      'the table beside it as Markdown. Exits 1 if any input crashed or hung.',
      '',
    ].join('\n'),
  );
  process.exit(0);
}

const root = fileURLToPath(new URL('../../', import.meta.url));
// Slowest first, so the last surface to start is a quick one and the cores stay busy to the end.
const SLOWEST_FIRST: readonly Surface[] = ['vsock', 'net', 'vhost-user', 'ring-device', 'ring-driver'];
const surfaces = (values.surface ?? SLOWEST_FIRST) as Surface[];
for (const s of surfaces) if (!SURFACES.includes(s)) throw new Error(`unknown surface ${s} (${SURFACES.join(', ')})`);
const runs = Number(values.runs);
const work = mkdtempSync(join(tmpdir(), 'vqkit-fuzz-'));

function runSurface(surface: Surface): Promise<SurfaceResult> {
  const out = join(work, `${surface}.json`);
  const args = [
    fileURLToPath(new URL('./surface-main.js', import.meta.url)),
    ...['--surface', surface, '--runs', String(runs), '--out', out, '--time-limit', values['time-limit']!],
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (existsSync(out)) return resolve(JSON.parse(readFileSync(out, 'utf8')) as SurfaceResult);
      const hang = signal === 'SIGKILL' ? hangOf(surface, child.pid!) : null;
      if (hang === null)
        return reject(new Error(`fuzz ${surface} ended with ${signal ?? `exit code ${code}`} and no result`));
      resolve({
        surface,
        description: '',
        runs: 0,
        seconds: 0,
        execsPerSecond: 0,
        branches: { covered: 0, total: 0 },
        corpus: { entries: 0, bytes: 0 },
        regressions: 0,
        failures: [],
        hangs: 1,
      });
    });
  });
}

function hangOf(surface: Surface, pid: number): string | null {
  const file = join(fuzzDirs(root, surface).crashes, `hang-${pid}`);
  return existsSync(file) ? file : null;
}

const queue = [...surfaces];
const results: SurfaceResult[] = [];
const jobs = Math.max(1, Number(values.jobs));
await Promise.all(
  Array.from({ length: Math.min(jobs, queue.length) }, async () => {
    for (let s = queue.shift(); s !== undefined; s = queue.shift()) results.push(await runSurface(s));
  }),
);
rmSync(work, { recursive: true, force: true });
results.sort((a, b) => SURFACES.indexOf(a.surface) - SURFACES.indexOf(b.surface));

const report: CampaignReport = {
  date: new Date().toISOString(),
  command: `npm run fuzz -- --runs ${runs}`,
  machine: `${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}`,
  node: process.version,
  runsPerSurface: runs,
  timeLimitMs: Number(values['time-limit']),
  surfaces: results,
};
process.stdout.write(`\n${campaignTable(report)}\n`);
for (const r of results)
  for (const f of r.failures)
    process.stdout.write(`${r.surface}: ${f.kind} x${f.count}: ${f.message}\n  input: ${f.file}\n`);
if (values.out !== undefined) writeFileSync(values.out, `${JSON.stringify(report, null, 2)}\n`);
const bad = results.some((r) => r.failures.length > 0 || r.hangs > 0);
process.exit(bad ? 1 : 0);
