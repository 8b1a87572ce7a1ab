import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VIRTIO_F_IN_ORDER, VIRTIO_F_RING_PACKED } from '../spec/features.js';
import { hasFeature } from '../virtqueue/features.js';
import { median } from './bench.js';
import type { RingLayout } from './options.js';
import { Testpmd } from './testpmd.js';
import { killOnExit } from '../os/child-guard.js';

/** Who consumes the frames DPDK's virtio-user sends. */
export type DpdkReceiver = 'dpdk-vhost' | 'vqkit';

export interface DpdkSample {
  /** Frames per second the receiver took off the ring (virtio-user's transmit counter over the window). */
  pps: number;
  /** The receiver's CPU time (all its threads) per frame over the window. */
  cpuNsPerFrame: number;
}

export interface DpdkBenchRow {
  ring: RingLayout;
  inOrder: boolean;
  dpdkVhost: DpdkSample[];
  vqkit: DpdkSample[];
  /** median(vqkit pps) / median(DPDK vhost pps), both from this run. */
  ratio: number;
  /** vqkit / DPDK of each interleaved round. */
  roundRatios: number[];
}

export interface DpdkBenchReport {
  suite: 'dpdk';
  date: string;
  machine: { cpus: number; model: string; node: string; dpdk: string };
  command: string;
  runs: number;
  seconds: number;
  frameBytes: number;
  rows: DpdkBenchRow[];
}

export interface DpdkBenchOptions {
  runs: number;
  /** Seconds measured per sample (after one second of warm-up). */
  seconds: number;
  rings: RingLayout[];
  inOrder: boolean[];
  command: string;
  onProgress?: (done: number, total: number, what: string) => void;
}

const QUEUE_SIZE = 256;
const FRAME_BYTES = 64;
const VQ = fileURLToPath(new URL('../../bin/vq.js', import.meta.url));

/**
 * DPDK virtio-user (testpmd txonly, 64-byte frames) into DPDK's vhost PMD (testpmd rxonly) and into vqkit's net
 * device (`vq serve net --backend sink`), interleaved (A B A B ...) for each ring and IN_ORDER setting. The sender
 * forwards on CPU 1, the receiver runs on CPU 0. The rate is what virtio-user could put on the ring: with the ring
 * full it is exactly what the receiver takes off it.
 */
export async function benchDpdk(o: DpdkBenchOptions): Promise<DpdkBenchReport> {
  const dir = mkdtempSync(join(tmpdir(), 'vq-bench-dpdk-'));
  const rows: DpdkBenchRow[] = [];
  const combos = o.rings.flatMap((ring) => o.inOrder.map((inOrder) => ({ ring, inOrder })));
  const total = combos.length * o.runs * 2;
  let done = 0;
  let sockets = 0;
  try {
    const rowOf = new Map(
      combos.map((c): [typeof c, DpdkBenchRow] => [c, { ...c, dpdkVhost: [], vqkit: [], ratio: 0, roundRatios: [] }]),
    );
    // Rounds outermost: every variant is measured once before any is measured again.
    for (let round = 0; round < o.runs; round++) {
      for (const c of combos) {
        const row = rowOf.get(c)!;
        for (const receiver of ['dpdk-vhost', 'vqkit'] as const) {
          o.onProgress?.(
            done++,
            total,
            `round ${round + 1}: ${c.ring} IN_ORDER ${c.inOrder ? 'on' : 'off'} -> ${receiver}`,
          );
          const socket = join(dir, `s${sockets++}.sock`);
          const sample = await measure(socket, receiver, c.ring, c.inOrder, o.seconds);
          (receiver === 'vqkit' ? row.vqkit : row.dpdkVhost).push(sample);
        }
        row.roundRatios.push(row.vqkit[round].pps / row.dpdkVhost[round].pps);
      }
    }
    for (const row of rowOf.values()) {
      row.ratio = median(row.vqkit.map((s) => s.pps)) / median(row.dpdkVhost.map((s) => s.pps));
      rows.push(row);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    suite: 'dpdk',
    date: new Date().toISOString(),
    machine: {
      cpus: availableParallelism(),
      model: cpus()[0]?.model ?? 'unknown',
      node: process.version,
      dpdk: dpdkVersion(),
    },
    command: o.command,
    runs: o.runs,
    seconds: o.seconds,
    frameBytes: FRAME_BYTES,
    rows,
  };
}

/** One sample: start the receiver, then the sender; measure over `seconds` after a second of warm-up; stop both. */
async function measure(
  socket: string,
  receiver: DpdkReceiver,
  ring: RingLayout,
  inOrder: boolean,
  seconds: number,
): Promise<DpdkSample> {
  const rx = await startReceiver(socket, receiver, ring);
  let sender: Testpmd | null = null;
  try {
    sender = new Testpmd(
      `net_virtio_user0,path=${socket},queues=1,queue_size=${QUEUE_SIZE},in_order=${inOrder ? 1 : 0},` +
        `packed_vq=${ring === 'packed' ? 1 : 0}`,
      ['--forward-mode=txonly', `--txpkts=${FRAME_BYTES}`, `--txd=${QUEUE_SIZE}`, `--rxd=${QUEUE_SIZE}`],
      ['--log-level=pmd.net.virtio.init:debug'],
      0,
    );
    // testpmd prints its port counters every second: skip until frames flow, one more for warm-up, then measure.
    const counters = /TX-packets:\s+(\d+)/g;
    const seen: { packets: number; at: number; cpuNs: number }[] = [];
    let flowing = -1;
    const deadline = Date.now() + 30_000 + seconds * 1000;
    for (;;) {
      const found = [...sender.output.matchAll(counters)];
      while (seen.length < found.length) {
        seen.push({ packets: Number(found[seen.length][1]), at: performance.now(), cpuNs: cpuNs(rx.pid) });
        if (flowing < 0 && seen.at(-1)!.packets > 0) flowing = seen.length - 1;
      }
      if (flowing >= 0 && seen.length > flowing + 1 + seconds) break;
      if (sender.proc.exitCode !== null)
        throw new Error(`testpmd (virtio-user) exited:\n${sender.output.slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`no frames flowed to ${receiver}:\n${sender.output.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const negotiated = /features after negotiate = ([0-9a-f]+)/.exec(sender.output);
    if (negotiated === null) throw new Error("virtio-user's log has no negotiated features");
    const features = BigInt(`0x${negotiated[1]}`);
    if (
      hasFeature(features, VIRTIO_F_IN_ORDER) !== inOrder ||
      hasFeature(features, VIRTIO_F_RING_PACKED) !== (ring === 'packed')
    ) {
      throw new Error(`${receiver} negotiated 0x${negotiated[1]}, not the ${ring} ring with IN_ORDER ${inOrder}`);
    }
    const first = seen[flowing + 1];
    const last = seen[flowing + 1 + seconds];
    const frames = last.packets - first.packets;
    return { pps: (frames * 1000) / (last.at - first.at), cpuNsPerFrame: (last.cpuNs - first.cpuNs) / frames };
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
    const t = new Testpmd(`net_vhost0,iface=${socket},queues=1`, ['--forward-mode=rxonly'], [], 1);
    await waitUntil(
      () => existsSync(socket),
      () => t.proc.exitCode !== null,
      t.proc,
      'the vhost PMD socket',
    );
    return { pid: t.proc.pid!, stop: () => t.stop() };
  }
  // vqkit's device on CPU 0, all its threads: the sink worker and the (idle) vhost-user thread.
  const args = ['-c', '0', process.execPath, VQ, 'serve', 'net', '--socket', socket, '--backend', 'sink'];
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
  return {
    pid: p.pid!,
    stop: () =>
      new Promise<void>((resolve) => {
        if (p.exitCode !== null) return resolve();
        p.once('exit', () => resolve());
        p.kill('SIGINT');
      }),
  };
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

/** The installed DPDK package's version. */
function dpdkVersion(): string {
  try {
    return execFileSync('dpkg-query', ['-W', '-f', '${Version}', 'dpdk'], { encoding: 'utf8' });
  } catch {
    return 'unknown';
  }
}
