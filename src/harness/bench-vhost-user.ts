import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { planLocal } from '../transport/local/plan.js';
import { perSecond } from '../transport/local/report.js';
import { runTwoThreads } from '../transport/local/threads.js';
import {
  HYBRID_BUSY_POLL_US,
  RING_ONLY_TRAFFIC,
  benchSweep,
  median,
  sweepRuns,
  type BenchMode,
  type BenchReport,
  type SweepOptions,
} from './bench.js';
import { DEFAULT_RUN, type RingLayout, type RunOptions } from './options.js';
import { runOverVhostUser } from './run.js';
import { machineInfo, type MachineInfo } from './machine.js';
import { killOnExit, stopChild } from '../os/child-guard.js';

export interface VhostUserBenchRow {
  /** wait: both sides sleep on notifications at once; hybrid: they busy-poll up to 50 us first. */
  mode: 'wait' | 'hybrid';
  ring: RingLayout;
  inOrder: boolean;
  inProcess: number[];
  vhostUser: number[];
  /** median(vhost-user) / median(in-process), both from this run. */
  ratio: number;
}

export interface VhostUserBenchReport {
  suite: 'vhost-user';
  date: string;
  machine: MachineInfo;
  command: string;
  runs: number;
  buffers: number;
  rows: VhostUserBenchRow[];
}

/**
 * The test device over vhost-user between two processes (a `vq serve test` daemon this starts, and the front-end
 * here) against the same combination in one process on two threads, interleaved (A B A B ...). Notifications are
 * eventfds across processes, Atomics.wait/notify in process. Fixed-shape buffers, data bytes untouched.
 */
export async function benchVhostUser(o: {
  runs: number;
  buffers: number;
  modes: ('wait' | 'hybrid')[];
  command: string;
  onProgress?: (done: number, total: number, what: string) => void;
}): Promise<VhostUserBenchReport> {
  const rows: VhostUserBenchRow[] = [];
  const combos: { ring: RingLayout; inOrder: boolean }[] = [];
  for (const ring of ['split', 'packed'] as const) for (const inOrder of [true, false]) combos.push({ ring, inOrder });
  const total = o.modes.length * combos.length * o.runs * 2;
  let done = 0;
  for (const mode of o.modes) {
    const busyPollUs = mode === 'hybrid' ? HYBRID_BUSY_POLL_US : 0;
    await withDaemon(busyPollUs, async (socket) => {
      for (const c of combos) {
        const base: RunOptions = {
          ...DEFAULT_RUN,
          ...RING_ONLY_TRAFFIC,
          ...c,
          indirect: false,
          batch: 32,
          queueSize: 256,
          buffers: o.buffers,
          busyPollUs,
        };
        const row: VhostUserBenchRow = { mode, ...c, inProcess: [], vhostUser: [], ratio: 0 };
        const label = `${mode} ${c.ring} ${c.inOrder ? 'in-order' : 'no in-order'}`;
        for (let i = 0; i < o.runs; i++) {
          o.onProgress?.(done++, total, `${label}: in-process`);
          const local = await runTwoThreads(planLocal(base));
          if (local.failure !== null) throw new Error(`in-process run failed: ${local.failure}`);
          row.inProcess.push(perSecond(local.completed, local.elapsedMs));
          o.onProgress?.(done++, total, `${label}: vhost-user`);
          const remote = await runOverVhostUser(socket, base);
          if (!remote.passed) throw new Error(`vhost-user run failed: ${remote.failure}`);
          row.vhostUser.push(remote.buffersPerSec);
        }
        row.ratio = median(row.vhostUser) / median(row.inProcess);
        rows.push(row);
      }
    });
  }
  return {
    suite: 'vhost-user',
    date: new Date().toISOString(),
    machine: machineInfo(),
    command: o.command,
    runs: o.runs,
    buffers: o.buffers,
    rows,
  };
}

/**
 * The `vhost-user` suite: the sweep of the ring suite between two processes, the test driver here and a `vq serve
 * test` daemon (started per notification mode, busy-polling as the mode says), over eventfds and a shared memfd.
 * The CPU time per buffer is this process's (the driver's); the daemon's is not counted, nor its interrupts.
 */
export async function benchVhostUserSweep(o: SweepOptions): Promise<BenchReport> {
  const parts: BenchReport[] = [];
  const total = sweepRuns(o);
  let before = 0;
  for (const mode of o.modes) {
    // One sweep per mode (each against its own daemons); progress counts across all of them.
    const offset = before;
    const onProgress = (done: number, _total: number, what: string): void => o.onProgress?.(offset + done, total, what);
    before += sweepRuns({ ...o, modes: [mode] });
    const busyPollUs = mode === 'hybrid' ? HYBRID_BUSY_POLL_US : 0;
    // The used-entry policy is the device's: one daemon batches, the other writes an entry per buffer.
    await withDaemon(busyPollUs, async (batched) => {
      await withDaemon(
        busyPollUs,
        async (perBuffer) => {
          parts.push(
            await benchSweep('vhost-user', { ...o, modes: [mode], onProgress }, async (run) => {
              const socket = run.inOrder && run.usedEntries === 'per-buffer' ? perBuffer : batched;
              const r = await runOverVhostUser(socket, run);
              if (!r.passed) throw new Error(r.failure ?? 'failed');
              const n = r.buffers;
              return {
                buffersPerSec: r.buffersPerSec,
                cpuNsPerBuffer: r.cpuNsPerBuffer,
                usedEntriesPerBuffer: r.usedEntries / n,
                kicksPerBuffer: r.kicks / n,
                interruptsPerBuffer: null,
                batchesPerBuffer: (r.kicks + r.kicksSuppressed) / n,
                flushesPerBuffer: null,
                gcCount: null,
                pinned: null,
              };
            }),
          );
        },
        ['--used-entries', 'per-buffer'],
      );
    });
  }
  return { ...parts[0], variants: parts.flatMap((p) => p.variants), ratios: parts.flatMap((p) => p.ratios) };
}

/** The modes the vhost-user suite takes: across processes there is no shared spin flag to poll. */
export type VhostUserMode = Exclude<BenchMode, 'poll'>;

/** Runs `body` against a `vq serve test` daemon (data checks off, busy-polling as given), then stops it. */
export async function withDaemon(
  busyPollUs: number,
  body: (socket: string) => Promise<void>,
  extraArgs: string[] = [],
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vq-bench-'));
  const socket = join(dir, 'test.sock');
  const vq = fileURLToPath(new URL('../../bin/vq.js', import.meta.url));
  const args = [
    vq,
    'serve',
    'test',
    '--socket',
    socket,
    '--no-verify-data',
    '--busy-poll',
    String(busyPollUs),
    ...extraArgs,
  ];
  const daemon = killOnExit(spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] }));
  try {
    await new Promise<void>((resolve, reject) => {
      daemon.stdout!.on('data', (d: Buffer) => d.toString().includes('listening on') && resolve());
      daemon.once('exit', (code) => reject(new Error(`vq serve test exited (${code})`)));
    });
    await body(socket);
  } finally {
    // Gone before the next measurement starts.
    await stopChild(daemon);
    rmSync(dir, { recursive: true, force: true });
  }
}
