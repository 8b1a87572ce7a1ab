import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VIRTIO_F_IN_ORDER, VIRTIO_F_RING_PACKED } from '../spec/features.js';
import { hasFeature } from '../virtqueue/features.js';
import { median } from './bench.js';
import { machineInfo, type MachineInfo } from './machine.js';
import type { RingLayout } from './options.js';
import { Testpmd } from './testpmd.js';
import { killOnExit, stopChild } from '../os/child-guard.js';

/** What is measured: who sends into whom. */
export type DpdkCase =
  'virtio-user->dpdk-vhost' | 'virtio-user->vqkit' | 'virtio-user->vqkit-copy' | 'vqkit->dpdk-vhost';
export const DPDK_CASES: DpdkCase[] = [
  'virtio-user->dpdk-vhost',
  'virtio-user->vqkit',
  'virtio-user->vqkit-copy',
  'vqkit->dpdk-vhost',
];

export interface DpdkSample {
  /** Frames per second taken off the ring (virtio-user's transmit counter, or DPDK vhost's receive counter). */
  pps: number;
  /** CPU time per frame of the vqkit process, or of the DPDK receiver when no vqkit runs, over the window. */
  cpuNsPerFrame: number;
}

export interface DpdkBenchRow {
  ring: RingLayout;
  inOrder: boolean;
  frameBytes: number;
  /** DPDK virtio-user into DPDK's vhost PMD: the reference. */
  dpdkVhost: DpdkSample[];
  /** DPDK virtio-user into vqkit's net device, sink backend (each frame's header checked, the frame not copied). */
  vqkit: DpdkSample[];
  /** DPDK virtio-user into vqkit's net device, copy backend: each frame copied out, as DPDK's vhost PMD does. */
  vqkitCopy: DpdkSample[];
  /** vqkit's net driver into DPDK's vhost PMD. */
  vqkitDriver: DpdkSample[];
  /** median(vqkit pps) / median(DPDK vhost pps), both from this run. */
  ratio: number;
  /** vqkit / DPDK of each interleaved round. */
  roundRatios: number[];
  /** median(vqkit copy pps) / median(DPDK vhost pps): the same work per frame on both. */
  copyRatio: number;
  copyRoundRatios: number[];
  /** median(vqkit driver pps) / median(DPDK virtio-user into the same vhost PMD). */
  driverRatio: number;
  driverRoundRatios: number[];
}

export interface DpdkBenchReport {
  suite: 'dpdk';
  date: string;
  machine: MachineInfo;
  command: string;
  runs: number;
  seconds: number;
  queueSize: number;
  rows: DpdkBenchRow[];
}

export interface DpdkBenchOptions {
  runs: number;
  /** Seconds measured per sample (after one second of warm-up). */
  seconds: number;
  rings: RingLayout[];
  inOrder: boolean[];
  frameSizes: number[];
  command: string;
  onProgress?: (done: number, total: number, what: string) => void;
}

const QUEUE_SIZE = 256;
const VQ = fileURLToPath(new URL('../../bin/vq.js', import.meta.url));

/**
 * In one run, interleaved (A B C D A B C D ...) for each ring, IN_ORDER setting and frame size: DPDK virtio-user
 * (testpmd txonly) into DPDK's vhost PMD (testpmd rxonly) and into vqkit's net device (`vq serve net --backend sink`,
 * and `--backend copy`, which copies each frame out of guest memory as DPDK's vhost PMD does into an mbuf), and
 * vqkit's net driver (`vq net-traffic --tx-only`) into DPDK's vhost PMD. The sender runs on CPU 1, the receiver on
 * CPU 0. The rate is what the sender could put on the ring: with the ring full it is what the receiver takes off it.
 */
export async function benchDpdk(o: DpdkBenchOptions): Promise<DpdkBenchReport> {
  requireTestpmd();
  const dir = mkdtempSync(join(tmpdir(), 'vq-bench-dpdk-'));
  const rows: DpdkBenchRow[] = [];
  const combos = o.frameSizes.flatMap((frameBytes) =>
    o.rings.flatMap((ring) => o.inOrder.map((inOrder) => ({ ring, inOrder, frameBytes }))),
  );
  const total = combos.length * o.runs * DPDK_CASES.length;
  let done = 0;
  let sockets = 0;
  try {
    const rowOf = new Map(
      combos.map((c): [typeof c, DpdkBenchRow] => [
        c,
        {
          ...c,
          dpdkVhost: [],
          vqkit: [],
          vqkitCopy: [],
          vqkitDriver: [],
          ratio: 0,
          roundRatios: [],
          copyRatio: 0,
          copyRoundRatios: [],
          driverRatio: 0,
          driverRoundRatios: [],
        },
      ]),
    );
    // Rounds outermost: every variant is measured once before any is measured again.
    for (let round = 0; round < o.runs; round++) {
      for (const c of combos) {
        const row = rowOf.get(c)!;
        for (const what of DPDK_CASES) {
          o.onProgress?.(
            done++,
            total,
            `round ${round + 1}: ${c.ring} IN_ORDER ${c.inOrder ? 'on' : 'off'} ${c.frameBytes} B, ${what}`,
          );
          const socket = join(dir, `s${sockets++}.sock`);
          const sample =
            what === 'vqkit->dpdk-vhost'
              ? await measureVqkitDriver(socket, c.ring, c.inOrder, c.frameBytes, o.seconds)
              : await measure(socket, RECEIVER_OF[what], c.ring, c.inOrder, c.frameBytes, o.seconds);
          samplesOf(row, what).push(sample);
        }
        row.roundRatios.push(row.vqkit[round].pps / row.dpdkVhost[round].pps);
        row.copyRoundRatios.push(row.vqkitCopy[round].pps / row.dpdkVhost[round].pps);
        row.driverRoundRatios.push(row.vqkitDriver[round].pps / row.dpdkVhost[round].pps);
      }
    }
    const pps = (xs: DpdkSample[]): number => median(xs.map((s) => s.pps));
    for (const row of rowOf.values()) {
      row.ratio = pps(row.vqkit) / pps(row.dpdkVhost);
      row.copyRatio = pps(row.vqkitCopy) / pps(row.dpdkVhost);
      row.driverRatio = pps(row.vqkitDriver) / pps(row.dpdkVhost);
      rows.push(row);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    suite: 'dpdk',
    date: new Date().toISOString(),
    machine: machineInfo(true),
    command: o.command,
    runs: o.runs,
    seconds: o.seconds,
    queueSize: QUEUE_SIZE,
    rows,
  };
}

/** A benchmark cannot start here: a program it needs is missing. */
export class BenchSetupError extends Error {
  override readonly name = 'BenchSetupError';
}

function requireTestpmd(): void {
  const found = spawnSync('sh', ['-c', 'command -v dpdk-testpmd'], { encoding: 'utf8' });
  if (found.status !== 0) {
    throw new BenchSetupError(
      'dpdk-testpmd is not installed (Debian package dpdk-dev): run bash scripts/install-interop.sh',
    );
  }
}

/** Who consumes the frames DPDK's virtio-user sends: DPDK's vhost PMD, or vqkit's device with a backend. */
type DpdkReceiver = 'dpdk-vhost' | 'sink' | 'copy';

const RECEIVER_OF: Record<Exclude<DpdkCase, 'vqkit->dpdk-vhost'>, DpdkReceiver> = {
  'virtio-user->dpdk-vhost': 'dpdk-vhost',
  'virtio-user->vqkit': 'sink',
  'virtio-user->vqkit-copy': 'copy',
};

function samplesOf(row: DpdkBenchRow, what: DpdkCase): DpdkSample[] {
  if (what === 'virtio-user->vqkit') return row.vqkit;
  if (what === 'virtio-user->vqkit-copy') return row.vqkitCopy;
  if (what === 'vqkit->dpdk-vhost') return row.vqkitDriver;
  return row.dpdkVhost;
}

/** Counter samples taken each time testpmd prints its per-second statistics. */
interface CounterWindow {
  frames: number;
  ms: number;
  cpuNs: number;
}

/**
 * Reads `counter` (e.g. TX-packets) from testpmd's per-second statistics until frames flow, skips one more second
 * for warm-up, and returns the next `seconds` seconds; `cpuOf` is the process whose CPU time is charged.
 */
async function measureWindow(
  t: Testpmd,
  counter: RegExp,
  cpuOf: number,
  seconds: number,
  what: string,
  alive: () => string | null,
): Promise<CounterWindow> {
  const seen: CounterWindow[] = [];
  let flowing = -1;
  const deadline = Date.now() + 30_000 + seconds * 1000;
  for (;;) {
    const found = [...t.output.matchAll(counter)];
    while (seen.length < found.length) {
      seen.push({ frames: Number(found[seen.length][1]), ms: performance.now(), cpuNs: cpuNs(cpuOf) });
      if (flowing < 0 && seen.at(-1)!.frames > 0) flowing = seen.length - 1;
    }
    if (flowing >= 0 && seen.length > flowing + 1 + seconds) break;
    const dead = alive();
    if (dead !== null) throw new Error(dead);
    if (Date.now() > deadline) throw new Error(`no frames flowed (${what}):\n${t.output.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const first = seen[flowing + 1];
  const last = seen[flowing + 1 + seconds];
  return { frames: last.frames - first.frames, ms: last.ms - first.ms, cpuNs: last.cpuNs - first.cpuNs };
}

const sampleOf = (w: CounterWindow): DpdkSample => ({
  pps: (w.frames * 1000) / w.ms,
  cpuNsPerFrame: w.cpuNs / w.frames,
});

/** vqkit's net driver (on CPU 1) transmitting into DPDK's vhost PMD (rxonly, on CPU 0); rate from vhost's counter. */
async function measureVqkitDriver(
  socket: string,
  ring: RingLayout,
  inOrder: boolean,
  frameBytes: number,
  seconds: number,
): Promise<DpdkSample> {
  // Its config log carries the features it negotiated.
  const rx = await startDpdkVhost(socket, ['--log-level=lib.vhost.config:info']);
  let out = '';
  let sender: ChildProcess | null = null;
  try {
    const args = ['-c', '1', process.execPath, VQ, 'net-traffic', '--vhost-user', socket, '--tx-only'];
    args.push('--duration', String(seconds + 30), '--frame-size', String(frameBytes), '--no-ctrl-vq', '--no-mrg-rxbuf');
    args.push('--ring', ring, inOrder ? '--in-order' : '--no-in-order', '--queue-size', String(QUEUE_SIZE));
    const p = killOnExit(spawn('taskset', args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    sender = p;
    const take = (d: Buffer): void => void (out += d.toString());
    p.stdout!.on('data', take);
    p.stderr!.on('data', take);
    const w = await measureWindow(rx, /RX-packets:\s+(\d+)/g, p.pid!, seconds, 'vqkit driver -> DPDK vhost', () =>
      p.exitCode !== null ? `vq net-traffic exited (${p.exitCode}):\n${out.slice(-2000)}` : null,
    );
    const negotiated = /negotiated Virtio features: (0x[0-9a-f]+)/.exec(rx.output);
    if (negotiated === null) throw new Error("DPDK vhost's log has no negotiated features");
    checkNegotiated(BigInt(negotiated[1]), ring, inOrder, 'DPDK vhost');
    return sampleOf(w);
  } finally {
    if (sender !== null) await stopChild(sender);
    await rx.stop();
  }
}

function checkNegotiated(features: bigint, ring: RingLayout, inOrder: boolean, who: string): void {
  if (
    hasFeature(features, VIRTIO_F_IN_ORDER) !== inOrder ||
    hasFeature(features, VIRTIO_F_RING_PACKED) !== (ring === 'packed')
  ) {
    throw new Error(`${who} negotiated 0x${features.toString(16)}, not the ${ring} ring with IN_ORDER ${inOrder}`);
  }
}

/** One sample: start the receiver, then the sender; measure over `seconds` after a second of warm-up; stop both. */
async function measure(
  socket: string,
  receiver: DpdkReceiver,
  ring: RingLayout,
  inOrder: boolean,
  frameBytes: number,
  seconds: number,
): Promise<DpdkSample> {
  const rx = await startReceiver(socket, receiver, ring);
  let sender: Testpmd | null = null;
  try {
    const t = new Testpmd(
      `net_virtio_user0,path=${socket},queues=1,queue_size=${QUEUE_SIZE},in_order=${inOrder ? 1 : 0},` +
        `packed_vq=${ring === 'packed' ? 1 : 0}`,
      ['--forward-mode=txonly', `--txpkts=${frameBytes}`, `--txd=${QUEUE_SIZE}`, `--rxd=${QUEUE_SIZE}`],
      ['--log-level=pmd.net.virtio.init:debug'],
      0,
    );
    sender = t;
    const w = await measureWindow(
      t,
      /TX-packets:\s+(\d+)/g,
      rx.pid,
      seconds,
      `virtio-user -> ${receiver === 'dpdk-vhost' ? receiver : `vqkit (${receiver})`}`,
      () => (t.proc.exitCode !== null ? `testpmd (virtio-user) exited:\n${t.output.slice(-2000)}` : null),
    );
    const negotiated = /features after negotiate = ([0-9a-f]+)/.exec(t.output);
    if (negotiated === null) throw new Error("virtio-user's log has no negotiated features");
    checkNegotiated(BigInt(`0x${negotiated[1]}`), ring, inOrder, receiver);
    return sampleOf(w);
  } finally {
    await sender?.stop();
    await rx.stop();
  }
}

interface Receiver {
  pid: number;
  stop(): Promise<unknown>;
}

async function startReceiver(socket: string, receiver: DpdkReceiver, ring: RingLayout): Promise<Receiver> {
  if (receiver === 'dpdk-vhost') {
    const t = await startDpdkVhost(socket);
    return { pid: t.proc.pid!, stop: () => t.stop() };
  }
  // vqkit's device on CPU 0, all its threads: the data-plane worker and the (idle) vhost-user thread.
  const args = ['-c', '0', process.execPath, VQ, 'serve', 'net', '--socket', socket, '--backend', receiver];
  args.push(ring === 'packed' ? '--packed' : '--no-packed');
  const p = killOnExit(spawn('taskset', args, { stdio: ['ignore', 'pipe', 'inherit'] }));
  let out = '';
  p.stdout!.on('data', (d: Buffer) => void (out += d.toString()));
  await waitUntil(
    () => out.includes('listening on'),
    () => p.exitCode !== null,
    p,
    'vq serve net',
  );
  return { pid: p.pid!, stop: () => stopChild(p) };
}

/** DPDK's vhost PMD (testpmd rxonly, on CPU 1) at `socket`, once the socket is there; stopped again if it never is. */
async function startDpdkVhost(socket: string, logs: string[] = []): Promise<Testpmd> {
  const t = new Testpmd(`net_vhost0,iface=${socket},queues=1`, ['--forward-mode=rxonly'], logs, 1);
  try {
    await waitUntil(
      () => existsSync(socket),
      () => t.proc.exitCode !== null,
      t.proc,
      'the vhost PMD socket',
    );
  } catch (e) {
    await t.stop();
    throw e;
  }
  return t;
}

async function waitUntil(ready: () => boolean, died: () => boolean, p: ChildProcess, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!ready()) {
    if (died()) throw new Error(`${what} exited (${p.exitCode}) before it was ready`);
    if (Date.now() > deadline) throw new Error(`${what} not ready after 30 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** CPU time (user and system, all threads) a process has used, in ns. */
function cpuNs(pid: number): number {
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1e9) / CLOCK_TICKS;
}
/** USER_HZ: 100 on Linux. */
const CLOCK_TICKS = 100;
