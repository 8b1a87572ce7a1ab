import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killOnExit, stopChild } from '../os/child-guard.js';
import { connectUnix } from '../os/unix-socket.js';
import { askControl } from '../runtime/control-server.js';
import { VhostUserRequest as R } from '../spec/vhost-user.js';
import { VhostUserConnection } from '../transport/vhost-user/connection.js';
import type { DaemonStatus } from '../transport/vhost-user/daemon.js';
import { runNetTrafficOnPorts, type NetTrafficOptions } from '../drivers/net/net-frontend.js';
import { openNetPort, type NetPort } from '../drivers/net/net-port.js';
import { median } from './bench.js';
import { machineInfo, type MachineInfo } from './machine.js';

export interface ScaleBenchOptions {
  /** Port counts measured, each on a fresh daemon. */
  portCounts: number[];
  /** Rounds over all port counts (interleaved: 1, 8, 32, 64, 1, 8, ...). */
  runs: number;
  /** How long the daemon is watched idle, all ports connected. */
  idleSeconds: number;
  /** Verified frames all ports carry together in the traffic phase (split evenly). */
  totalFrames: number;
  /** GET_FEATURES round trips timed per sample. */
  roundTrips: number;
  command: string;
  onProgress?: (done: number, total: number, what: string) => void;
}

/** One daemon with `ports` ports, measured once. */
export interface ScaleSample {
  ports: number;
  run: number;
  /** From the first connect to every port's queues running (as the daemon's status says). */
  setupMs: number;
  rttP50Us: number;
  rttP99Us: number;
  /** With every port connected and idle. */
  rssBytes: number;
  threads: number;
  idleCpuPercent: number;
  /** All ports carrying verified frames at once: frames over the time from the first port's start to the last's end. */
  aggregateFramesPerSec: number;
  /** Each port's own frames/s (its traffic time), lowest and median. */
  perPortMinFramesPerSec: number;
  perPortMedianFramesPerSec: number;
  failures: string[];
}

/** Medians per port count: a sample's figures without its round and failures. */
export type ScaleSummary = Omit<ScaleSample, 'run' | 'failures'>;

export interface ScaleTarget {
  what: string;
  target: string;
  measured: string;
  met: boolean;
}

export interface ScaleBenchReport {
  suite: 'scale';
  machine: MachineInfo;
  command: string;
  date: string;
  /** Rounds over all port counts. */
  runs: number;
  dataPlaneThreads: number;
  samples: ScaleSample[];
  /** Medians per port count. */
  summary: ScaleSummary[];
  targets: ScaleTarget[];
}

export const VQ = fileURLToPath(new URL('../../bin/vq.js', import.meta.url));
const CLK_TCK = 100;

/** The traffic the scale and fault benches run: verified 64-byte frames over a split IN_ORDER ring. */
export const traffic: Omit<NetTrafficOptions, 'frames'> = {
  ring: 'split',
  inOrder: true,
  mergeable: false,
  indirect: false,
  eventIdx: true,
  control: true,
  queueSize: 256,
  pairs: 1,
  frameSize: 64,
  window: 64,
  idleTimeoutMs: 30_000,
  seed: 1,
};

/** utime + stime of a process, in clock ticks (/proc/PID/stat fields 14 and 15). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

export function procStatus(pid: number): { rssBytes: number; threads: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+)/m.exec(s)?.[1] ?? 0);
  return { rssBytes: kb * 1024, threads: Number(/^Threads:\s+(\d+)/m.exec(s)?.[1] ?? 0) };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The value at quantile q of sorted values. */
const quantile = (sorted: number[], q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

/**
 * A `vq serve net --backend loop` daemon with `ports` ports plus one more for the round-trip probe; its log lines go
 * to `onLine` if given.
 */
export async function startDaemon(dir: string, ports: number, threads: number, onLine?: (line: string) => void) {
  const sockets = Array.from({ length: ports + 1 }, (_, i) => join(dir, `p${i}.sock`));
  const control = join(dir, 'ctl');
  const args = [VQ, 'serve', 'net', '--backend', 'loop', '--threads', String(threads), '--control', control];
  for (const s of sockets) args.push('--socket', s);
  const proc = killOnExit(spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] }));
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    proc.stdout!.on('data', (d: Buffer) => {
      seen = (seen + d.toString()).slice(-4096);
      if (seen.includes('control socket')) resolve();
    });
    proc.once('exit', (code) => reject(new Error(`vq serve net exited (${code})`)));
  });
  // The log is not read from here on (unless asked for), but the pipe must not fill.
  let partial = '';
  proc.stdout!.on('data', (d: Buffer) => {
    if (onLine === undefined) return;
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop()!;
    lines.forEach(onLine);
  });
  const status = async (): Promise<DaemonStatus> => (await askControl(control, 'status')) as DaemonStatus;
  return { proc, sockets: sockets.slice(0, ports), probe: sockets[ports], status };
}

/** Waits until the daemon says `ports` front-ends are connected with `units` units running. */
async function settled(status: () => Promise<DaemonStatus>, ports: number, units: number): Promise<void> {
  for (;;) {
    const s = await status();
    const connected = s.ports.filter((p) => p.connected).length;
    if (connected === ports && s.unitsPerThread.reduce((a, b) => a + b, 0) === units) return;
    await sleep(1);
  }
}

async function measure(o: ScaleBenchOptions, ports: number, run: number, threads: number): Promise<ScaleSample> {
  const dir = mkdtempSync(join(tmpdir(), 'vq-scale-'));
  const d = await startDaemon(dir, ports, threads);
  const failures: string[] = [];
  const opened: NetPort[] = [];
  try {
    // Set-up: every front-end at once, as VMs booting together would.
    const t0 = performance.now();
    opened.push(...(await Promise.all(d.sockets.map((s) => openNetPort(s, traffic)))));
    await settled(d.status, ports, 2 * ports);
    const setupMs = performance.now() - t0;

    // Control round trips on one more port while all the others are connected.
    const conn = new VhostUserConnection(connectUnix(d.probe), false);
    const rtts: number[] = [];
    try {
      for (let i = 0; i < o.roundTrips; i++) {
        const at = performance.now();
        conn.send(R.GET_FEATURES);
        const m = await conn.receive();
        if (m === null) throw new Error('the daemon closed the probe connection');
        rtts.push((performance.now() - at) * 1000);
      }
    } finally {
      conn.close();
    }
    rtts.sort((a, b) => a - b);

    // Idle: nothing moves; the daemon should not wake at all.
    const before = cpuTicks(d.proc.pid!);
    await sleep(o.idleSeconds * 1000);
    const idleCpuPercent = ((cpuTicks(d.proc.pid!) - before) / CLK_TCK / o.idleSeconds) * 100;
    const mem = procStatus(d.proc.pid!);
    opened.forEach((p) => p.close());
    opened.length = 0;
    await settled(d.status, 0, 0);

    // Traffic: every port at once, each frame verified on its way back; the driver side is as many threads as the
    // daemon's data plane, each driving its share of the ports (not a thread per port).
    const frames = Math.max(500, Math.ceil(o.totalFrames / ports));
    const runs = await runNetTrafficOnPorts(d.sockets, { ...traffic, frames }, threads);
    const rates: number[] = [];
    let total = 0;
    for (const r of runs) {
      if (r.failure !== null) failures.push(r.failure);
      const got = r.pairs[0]?.received ?? 0;
      if (got !== frames || r.pairs[0].bad !== 0)
        failures.push(`a port got ${got} of ${frames} frames back, ${r.pairs[0]?.bad} bad`);
      total += got;
      rates.push(got / (r.elapsedMs / 1000));
    }
    // The window in which traffic ran on any port.
    const wallMs = Math.max(...runs.map((r) => r.endedAt ?? 0)) - Math.min(...runs.map((r) => r.startedAt ?? 0));
    rates.sort((a, b) => a - b);
    return {
      ports,
      run,
      setupMs,
      rttP50Us: quantile(rtts, 0.5),
      rttP99Us: quantile(rtts, 0.99),
      rssBytes: mem.rssBytes,
      threads: mem.threads,
      idleCpuPercent,
      aggregateFramesPerSec: total / (wallMs / 1000),
      perPortMinFramesPerSec: rates[0],
      perPortMedianFramesPerSec: median(rates),
      failures,
    };
  } finally {
    opened.forEach((p) => p.close());
    await stopChild(d.proc);
    rmSync(dir, { recursive: true, force: true });
  }
}

function summarize(samples: ScaleSample[], ports: number): ScaleSummary {
  const s = samples.filter((x) => x.ports === ports);
  const m = (f: (x: ScaleSample) => number): number => median(s.map(f));
  return {
    ports,
    setupMs: m((x) => x.setupMs),
    rttP50Us: m((x) => x.rttP50Us),
    rttP99Us: m((x) => x.rttP99Us),
    rssBytes: m((x) => x.rssBytes),
    threads: m((x) => x.threads),
    idleCpuPercent: m((x) => x.idleCpuPercent),
    aggregateFramesPerSec: m((x) => x.aggregateFramesPerSec),
    perPortMinFramesPerSec: m((x) => x.perPortMinFramesPerSec),
    perPortMedianFramesPerSec: m((x) => x.perPortMedianFramesPerSec),
  };
}

/** The targets at the largest port count, against one port of the same run. */
function targets(summary: ScaleSummary[]): ScaleTarget[] {
  const one = summary.find((s) => s.ports === 1);
  const top = summary.at(-1)!;
  const n = top.ports;
  const t: ScaleTarget[] = [
    {
      what: `set-up of ${n} ports`,
      target: '<= 10 s',
      measured: `${(top.setupMs / 1000).toFixed(2)} s`,
      met: top.setupMs <= 10_000,
    },
    {
      what: 'control round trip p99',
      target: '<= 5 ms',
      measured: `${(top.rttP99Us / 1000).toFixed(2)} ms`,
      met: top.rttP99Us <= 5000,
    },
    {
      what: 'daemon RSS',
      target: '<= 256 MB',
      measured: `${(top.rssBytes / 1e6).toFixed(0)} MB`,
      met: top.rssBytes <= 256e6,
    },
    {
      what: 'idle CPU',
      target: '<= 0.5%',
      measured: `${top.idleCpuPercent.toFixed(2)}%`,
      met: top.idleCpuPercent <= 0.5,
    },
  ];
  if (one !== undefined && n > 1) {
    const perPort = one.perPortMedianFramesPerSec;
    t.push({
      what: `aggregate frames/s at ${n} ports`,
      target: `>= one port's (${Math.round(perPort)}/s)`,
      measured: `${Math.round(top.aggregateFramesPerSec)}/s`,
      met: top.aggregateFramesPerSec >= perPort,
    });
    const floor = perPort / n / 2;
    t.push({
      what: `slowest port at ${n} ports`,
      target: `>= 1/${n} of one port's / 2 (${Math.round(floor)}/s)`,
      measured: `${Math.round(top.perPortMinFramesPerSec)}/s`,
      met: top.perPortMinFramesPerSec >= floor,
    });
  }
  return t;
}

/**
 * `vq bench scale`: one `vq serve net` daemon per port count (loop backend, a data-plane thread per CPU), driven by
 * vqkit's own front-end. Per count: set-up time of all ports, GET_FEATURES round trips with all connected, RSS and
 * threads, idle CPU, and verified traffic on every port at once. Port counts are interleaved across rounds.
 */
export async function benchScale(o: ScaleBenchOptions): Promise<ScaleBenchReport> {
  const threads = availableParallelism();
  const samples: ScaleSample[] = [];
  const total = o.runs * o.portCounts.length;
  for (let run = 0; run < o.runs; run++) {
    for (const ports of o.portCounts) {
      o.onProgress?.(samples.length, total, `${ports} port(s), round ${run + 1}`);
      samples.push(await measure(o, ports, run, threads));
    }
  }
  o.onProgress?.(total, total, 'done');
  const summary = o.portCounts.map((n) => summarize(samples, n));
  return {
    suite: 'scale',
    machine: machineInfo(),
    command: o.command,
    date: new Date().toISOString(),
    runs: o.runs,
    dataPlaneThreads: threads,
    samples,
    summary,
    targets: targets(summary),
  };
}

export function renderScaleBench(r: ScaleBenchReport): string {
  const rows = [
    [
      'ports',
      'set-up',
      'round trip p50 / p99',
      'daemon RSS',
      'threads',
      'idle CPU',
      'aggregate frames/s',
      'per port min / median',
    ],
    ...r.summary.map((s) => [
      String(s.ports),
      `${(s.setupMs / 1000).toFixed(2)} s`,
      `${(s.rttP50Us / 1000).toFixed(2)} / ${(s.rttP99Us / 1000).toFixed(2)} ms`,
      `${(s.rssBytes / 1e6).toFixed(0)} MB`,
      String(s.threads),
      `${s.idleCpuPercent.toFixed(2)}%`,
      `${Math.round(s.aggregateFramesPerSec)}`,
      `${Math.round(s.perPortMinFramesPerSec)} / ${Math.round(s.perPortMedianFramesPerSec)}`,
    ]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const line = (row: string[]): string => row.map((c, i) => c.padStart(widths[i])).join('  ');
  const failures = r.samples.flatMap((s) => s.failures.map((f) => `${s.ports} ports, round ${s.run + 1}: ${f}`));
  return [
    `vq bench scale: ${r.dataPlaneThreads} data-plane threads, medians of ${Math.max(...r.samples.map((s) => s.run)) + 1} round(s)`,
    line(rows[0]),
    ...rows.slice(1).map(line),
    '',
    ...r.targets.map((t) => `${t.met ? 'met   ' : 'MISSED'}  ${t.what}: ${t.measured} (target ${t.target})`),
    ...(failures.length > 0 ? ['', 'failures:', ...failures] : []),
  ].join('\n');
}
