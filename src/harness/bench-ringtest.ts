import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { planLocal } from '../transport/local/plan.js';
import { nsPer, perSecond } from '../transport/local/report.js';
import { runTwoThreads } from '../transport/local/threads.js';
import { BenchSetupError } from './bench-dpdk.js';
import { median } from './bench.js';
import { machineInfo, type MachineInfo } from './machine.js';
import { DEFAULT_RUN, type RingLayout, type RunOptions } from './options.js';
import { RING_PHASES, measurePhases, type PhaseCosts, type PhaseRow } from './ring-phases.js';
import { runProtocolFloor } from './protocol-floor.js';

/** One comparison: a ringtest program and vqkit's two threads on the same parameters. */
export interface RingtestVariant {
  name: string;
  /** tools/virtio/ringtest's program: virtio_ring_0_9, virtio_ring_inorder, or the `ring` prototype. */
  program: 'virtio_ring_0_9' | 'virtio_ring_inorder' | 'ring';
  /** Notifications (ringtest --sleep; vqkit sleeps on them) or both sides busy-polling. */
  mode: 'poll' | 'notifications';
  ring: RingLayout;
  inOrder: boolean;
}

export const RINGTEST_VARIANTS: RingtestVariant[] = [
  { name: 'split, no IN_ORDER, poll', program: 'virtio_ring_0_9', mode: 'poll', ring: 'split', inOrder: false },
  { name: 'split, IN_ORDER, poll', program: 'virtio_ring_inorder', mode: 'poll', ring: 'split', inOrder: true },
  { name: "packed IN_ORDER vs ringtest's ring, poll", program: 'ring', mode: 'poll', ring: 'packed', inOrder: true },
  {
    name: 'split, no IN_ORDER, notifications',
    program: 'virtio_ring_0_9',
    mode: 'notifications',
    ring: 'split',
    inOrder: false,
  },
  {
    name: 'split, IN_ORDER, notifications',
    program: 'virtio_ring_inorder',
    mode: 'notifications',
    ring: 'split',
    inOrder: true,
  },
];

/** One sample: buffers per second, and (vqkit) what it cost and how often the sides woke each other. */
export interface RingtestSample {
  buffersPerSec: number;
  cpuNsPerBuffer?: number;
  kicksPerBuffer?: number;
  interruptsPerBuffer?: number;
}

export interface RingtestRow extends RingtestVariant {
  ringtest: RingtestSample[];
  /** vqkit as it runs by default in this mode (notifications: sleeping after an adaptive spin). */
  vqkit: RingtestSample[];
  /** Notifications only: vqkit sleeping at once, no spin (what ringtest --sleep does). */
  vqkitNoSpin: RingtestSample[];
  /** median(vqkit) / median(ringtest), and the same of each round. */
  ratio: number;
  roundRatios: number[];
  /** Notifications only: median(vqkitNoSpin) / median(ringtest). */
  noSpinRatio: number | null;
  /** The `ring` row only: the packed IN_ORDER protocol alone in JavaScript (runProtocolFloor), each round. */
  floor?: RingtestSample[];
}

export interface RingtestBenchReport {
  suite: 'ringtest';
  date: string;
  machine: MachineInfo;
  command: string;
  /** The kernel source the programs were built from. */
  source: string;
  runs: number;
  buffers: number;
  ringSize: number;
  batch: number;
  rows: RingtestRow[];
  /** vqkit's IN_ORDER gain with notifications: median(IN_ORDER) / median(no IN_ORDER), from this run. */
  inOrderGainNotifications: number | null;
  /** The same for ringtest (virtio_ring_inorder / virtio_ring_0_9 --sleep). */
  ringtestInOrderGainNotifications: number | null;
  /** vqkit's cost per buffer by phase on one thread (measurePhases), split and packed, IN_ORDER on and off. */
  phases?: PhaseRow[];
}

export interface RingtestBenchOptions {
  runs: number;
  buffers: number;
  command: string;
  onProgress?: (done: number, total: number, what: string) => void;
}

const RING_SIZE = 256;
const BATCH = 32;
const SCRIPT = fileURLToPath(new URL('../../scripts/kernel-tools.sh', import.meta.url));

/** Builds (once, cached) Linux's ringtest from Debian's kernel source; the folder of its programs. */
export function ringtestPrograms(): { dir: string; source: string } {
  const r = spawnSync('bash', [SCRIPT], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new BenchSetupError(`building ringtest failed: ${r.stderr.trim().split('\n').pop()}`);
  const cache = r.stdout.trim().split('\n').pop()!;
  const dir = join(cache, 'src/tools/virtio/ringtest');
  if (!existsSync(join(dir, 'virtio_ring_inorder'))) throw new BenchSetupError(`no ringtest programs in ${dir}`);
  const source = /kernel-tools: ([^\s,]+)/.exec(r.stderr)?.[1] ?? 'linux-source';
  return { dir, source };
}

/** The `vq run` options that match ringtest's: one 64-byte segment per buffer, batches of 32, ring 256. */
export function vqRunOptionsFor(
  v: Pick<RingtestVariant, 'ring' | 'inOrder' | 'mode'>,
  buffers: number,
  spin: boolean,
): RunOptions {
  return {
    ...DEFAULT_RUN,
    ring: v.ring,
    inOrder: v.inOrder,
    indirect: false,
    eventIdx: true,
    queueSize: RING_SIZE,
    batch: BATCH,
    maxChain: 1,
    maxSegment: 64,
    shape: 'fixed',
    verifyData: false,
    buffers,
    threads: true,
    poll: v.mode === 'poll',
    busyPollUs: v.mode === 'notifications' && !spin ? 0 : DEFAULT_RUN.busyPollUs,
  };
}

/** The `vq run` command line of a vqkit sample (for the report). */
export function vqRunCommand(v: RingtestVariant, buffers: number, spin: boolean): string {
  const o = vqRunOptionsFor(v, buffers, spin);
  return (
    `vq run --threads${o.poll ? ' --poll' : ''} --ring ${o.ring} --${o.inOrder ? '' : 'no-'}in-order --queue-size ` +
    `${o.queueSize} --batch ${o.batch} --max-chain 1 --max-segment 64 --shape fixed --no-verify-data --no-indirect ` +
    `--event-idx --buffers ${buffers}${o.poll ? '' : ` --busy-poll ${o.busyPollUs}`}`
  );
}

/** The ringtest command line of a sample. */
export function ringtestArgs(v: RingtestVariant, buffers: number): string[] {
  return [
    '--run-cycles',
    String(buffers),
    '--ring-size',
    String(RING_SIZE),
    ...(v.mode === 'notifications' ? ['--sleep', '--batch', String(BATCH)] : []),
    '--host-affinity',
    '0',
    '--guest-affinity',
    '1',
  ];
}

/** ringtest prints nothing: its rate is buffers over the process's wall time. */
function ringtestSample(dir: string, v: RingtestVariant, buffers: number): RingtestSample {
  const start = performance.now();
  const r = spawnSync(join(dir, v.program), ringtestArgs(v, buffers), { stdio: 'ignore' });
  const ms = performance.now() - start;
  if (r.status !== 0) throw new BenchSetupError(`${v.program} exited with ${r.status ?? r.signal}`);
  return { buffersPerSec: perSecond(buffers, ms) };
}

async function vqkitSample(v: RingtestVariant, buffers: number, spin: boolean): Promise<RingtestSample> {
  const r = await runTwoThreads(planLocal(vqRunOptionsFor(v, buffers, spin)));
  if (r.failure !== null) throw new Error(`vqkit run failed: ${r.failure}`);
  return {
    buffersPerSec: perSecond(r.completed, r.elapsedMs),
    cpuNsPerBuffer: nsPer(r.cpuMs, r.completed),
    kicksPerBuffer: r.kicks / r.completed,
    interruptsPerBuffer: r.interrupts / r.completed,
  };
}

const rate = (xs: RingtestSample[]): number => median(xs.map((x) => x.buffersPerSec));

/**
 * Linux's ringtest against vqkit on the same parameters (ring 256, one 64-byte buffer at a time, kicks every 32 with
 * notifications), the two sides pinned to CPUs 0 and 1, every variant's programs interleaved round by round.
 */
export async function benchRingtest(o: RingtestBenchOptions): Promise<RingtestBenchReport> {
  const { dir, source } = ringtestPrograms();
  const rows: RingtestRow[] = RINGTEST_VARIANTS.map((v) => ({
    ...v,
    ringtest: [],
    vqkit: [],
    vqkitNoSpin: [],
    ratio: 0,
    roundRatios: [],
    noSpinRatio: null,
    ...(v.program === 'ring' ? { floor: [] } : {}),
  }));
  const phases: PhaseRow[] = PHASE_VARIANTS.map((v) => ({ ...v, samples: [] }));
  const perRound =
    rows.reduce((n, r) => n + (r.mode === 'notifications' || r.floor !== undefined ? 3 : 2), 0) + phases.length;
  let done = 0;
  for (let round = 0; round < o.runs; round++) {
    for (const row of rows) {
      const step = (what: string): void =>
        o.onProgress?.(done++, o.runs * perRound, `round ${round + 1}: ${row.name}, ${what}`);
      step(row.program);
      row.ringtest.push(ringtestSample(dir, row, o.buffers));
      step('vqkit');
      row.vqkit.push(await vqkitSample(row, o.buffers, true));
      if (row.mode === 'notifications') {
        step('vqkit without spinning');
        row.vqkitNoSpin.push(await vqkitSample(row, o.buffers, false));
      }
      row.roundRatios.push(row.vqkit[round].buffersPerSec / row.ringtest[round].buffersPerSec);
      if (row.floor !== undefined) {
        step('the protocol alone in JavaScript');
        row.floor.push({ buffersPerSec: (await runProtocolFloor(o.buffers)).buffersPerSec });
      }
    }
    for (const row of phases) {
      o.onProgress?.(done++, o.runs * perRound, `round ${round + 1}: cost by phase, ${phaseName(row)}`);
      row.samples.push(measurePhases(vqRunOptionsFor({ ...row, mode: 'poll' }, o.buffers, false)));
    }
  }
  for (const row of rows) {
    row.ratio = rate(row.vqkit) / rate(row.ringtest);
    row.noSpinRatio = row.vqkitNoSpin.length > 0 ? rate(row.vqkitNoSpin) / rate(row.ringtest) : null;
  }
  const find = (inOrder: boolean) => rows.find((r) => r.mode === 'notifications' && r.inOrder === inOrder);
  const [on, off] = [find(true), find(false)];
  return {
    suite: 'ringtest',
    date: new Date().toISOString(),
    machine: machineInfo(),
    command: o.command,
    source,
    runs: o.runs,
    buffers: o.buffers,
    ringSize: RING_SIZE,
    batch: BATCH,
    rows,
    inOrderGainNotifications: on && off ? rate(on.vqkit) / rate(off.vqkit) : null,
    ringtestInOrderGainNotifications: on && off ? rate(on.ringtest) / rate(off.ringtest) : null,
    phases,
  };
}

/** The variants whose cost by phase is measured: both rings, IN_ORDER on and off. */
const PHASE_VARIANTS: Pick<PhaseRow, 'ring' | 'inOrder'>[] = [
  { ring: 'split', inOrder: true },
  { ring: 'split', inOrder: false },
  { ring: 'packed', inOrder: true },
  { ring: 'packed', inOrder: false },
];

export const phaseName = (row: Pick<PhaseRow, 'ring' | 'inOrder'>): string =>
  `${row.ring}, ${row.inOrder ? 'IN_ORDER' : 'no IN_ORDER'}`;

/** A variant's median cost per phase and the median of the totals, ns per buffer. */
export function phaseMedians(row: PhaseRow): PhaseCosts & { total: number } {
  const at = (f: (x: PhaseCosts) => number): number => median(row.samples.map(f));
  const costs = Object.fromEntries(RING_PHASES.map((p) => [p, at((x) => x[p])])) as PhaseCosts;
  return { ...costs, total: at((x) => RING_PHASES.reduce((sum, p) => sum + x[p], 0)) };
}

/** The `ring` row's protocol floor against ringtest's `ring`: median / median (null without floor samples). */
export const floorRatio = (row: RingtestRow): number | null =>
  row.floor === undefined || row.floor.length === 0 ? null : rate(row.floor) / rate(row.ringtest);

const mps = (x: number): string => (x / 1e6).toFixed(2);
const spread = (xs: RingtestSample[]): string => {
  const r = xs.map((x) => x.buffersPerSec);
  return `${mps(median(r))} (${mps(Math.min(...r))}-${mps(Math.max(...r))})`;
};

/** The report as a table: M buffers/s, median (min-max), and the ratios from this run. */
export function renderRingtestBench(r: RingtestBenchReport): string {
  const head = ['variant', 'ringtest (C)', 'vqkit', 'vqkit / C', 'vqkit, no spin', 'no spin / C'];
  const rows = r.rows.map((x) => [
    x.name,
    spread(x.ringtest),
    spread(x.vqkit),
    `${x.ratio.toFixed(2)}x`,
    x.vqkitNoSpin.length > 0 ? spread(x.vqkitNoSpin) : '',
    x.noSpinRatio === null ? '' : `${x.noSpinRatio.toFixed(2)}x`,
  ]);
  const all = [head, ...rows];
  const widths = head.map((_, i) => Math.max(...all.map((row) => row[i].length)));
  const line = (row: string[]): string =>
    row.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const gain = (g: number | null): string => (g === null ? 'n/a' : `${g.toFixed(2)}x`);
  return [
    `vq bench ringtest: ${r.source}'s tools/virtio/ringtest against vqkit, ${r.buffers} buffers, ring ${r.ringSize}, ` +
      `batch ${r.batch} (notifications), CPUs 0 and 1; M buffers/s, median (min-max) of ${r.runs} interleaved rounds`,
    line(head),
    ...rows.map(line),
    '',
    `IN_ORDER's gain with notifications: vqkit ${gain(r.inOrderGainNotifications)}, ringtest ${gain(r.ringtestInOrderGainNotifications)}`,
    ...r.rows
      .filter((x) => x.floor !== undefined && x.floor.length > 0)
      .map(
        (x) =>
          `The packed IN_ORDER protocol alone in JavaScript (no engine): ${spread(x.floor!)}, ` +
          `${floorRatio(x)!.toFixed(2)}x ringtest's ring; vqkit packed IN_ORDER is ${(rate(x.vqkit) / rate(x.floor!)).toFixed(2)}x of it`,
      ),
    ...(r.phases === undefined
      ? []
      : [
          '',
          `vqkit's cost per buffer by phase, one thread, ns (median of ${r.runs} rounds):`,
          ['variant'.padEnd(20), ...RING_PHASES.map((p) => p.padStart(6)), 'total'.padStart(7)].join(''),
          ...r.phases.map((row) => {
            const m = phaseMedians(row);
            const cells = [...RING_PHASES.map((p) => m[p].toFixed(1).padStart(6)), m.total.toFixed(1).padStart(7)];
            return [phaseName(row).padEnd(20), ...cells].join('');
          }),
        ]),
  ].join('\n');
}
