import { benchScale, renderScaleBench } from '../harness/bench-scale.js';
import { renderFaultCampaign, runFaultCampaign } from '../harness/fault-campaign.js';
import { renderVsockFaults, runVsockFaults } from '../harness/vsock-faults.js';
import { Command, Option } from 'commander';
import { join } from 'node:path';
import {
  BUFFER_WORKLOADS,
  SWEEP_BATCHES,
  SWEEP_QUEUE_SIZES,
  type BufferWorkload,
  median,
  type BenchMode,
  type BenchReport,
  type SweepOptions,
} from '../harness/bench.js';
import { benchRing } from '../harness/bench-ring.js';
import { benchRingtest, renderRingtestBench } from '../harness/bench-ringtest.js';
import type { RingLayout } from '../harness/options.js';
import { writePerformanceReport, writeReport } from '../report/performance.js';
import { benchDpdk, type DpdkBenchReport, type DpdkSample } from '../harness/bench-dpdk.js';
import {
  benchVhostUser,
  benchVhostUserSweep,
  type VhostUserBenchReport,
  type VhostUserMode,
} from '../harness/bench-vhost-user.js';
import { ProgressBar } from './progress.js';
import { positiveInt } from './run-command.js';
import { formatTable } from './table.js';

const listOf =
  (what: string) =>
  (v: string): number[] =>
    v.split(',').map((x) => positiveInt(what)(x.trim()));

/** A comma-separated list of positive integers, its default shown as typed. */
const listOption = (flags: string, description: string, what: string, fallback: number[]): Option =>
  new Option(flags, `${description}, comma-separated`).argParser(listOf(what)).default(fallback, fallback.join(','));

const ALL_MODES: BenchMode[] = ['poll', 'wait', 'hybrid'];
const modesOf = (v: unknown): BenchMode[] => (v === 'all' ? ALL_MODES : [v as BenchMode]);
const ringsOf = (v: unknown): RingLayout[] => (v === 'both' ? ['split', 'packed'] : [v as RingLayout]);
const indirectOf = (v: unknown): boolean[] => (v === 'both' ? [false, true] : [v === 'on']);

/** The flags of the two sweep suites (ring, vhost-user): what to sweep and how long each run is. */
function sweepFlags(cmd: Command, modes: string[], defaultMode: string): Command {
  return cmd
    .option('--runs <n>', 'interleaved rounds per variant (at least 5 for published figures)', positiveInt('runs'), 5)
    .option(
      '--run-ms <n>',
      'milliseconds the driver adds buffers in each run (the rate is measured after the first third)',
      positiveInt('run ms'),
      300,
    )
    .addOption(listOption('--batch <list>', 'batch sizes (buffers added between kicks)', 'batch', SWEEP_BATCHES))
    .addOption(listOption('--queue-size <list>', 'queue sizes', 'queue size', SWEEP_QUEUE_SIZES))
    .addOption(
      new Option(
        '--mode <mode>',
        'poll: both sides busy-poll; wait: they sleep on notifications; hybrid: busy-poll 50 us, then sleep',
      )
        .choices(modes)
        .default(defaultMode),
    )
    .addOption(new Option('--indirect <which>', 'indirect descriptors').choices(['off', 'on', 'both']).default('both'))
    .addOption(
      new Option('--ring <layout>', 'ring layouts to compare').choices(['split', 'packed', 'both']).default('both'),
    )
    .addOption(
      new Option(
        '--workload <buffers>',
        'recycled: the driver owns one buffer per ring position, so under IN_ORDER each returns to the position it ' +
          'left and the ring repeats lap after lap; rotating: two per position, handed out in turn, so every ' +
          "descriptor's address changes each lap (a pool larger than the ring)",
      )
        .choices(BUFFER_WORKLOADS)
        .default('recycled'),
    );
}

function sweepOptionsOf(flags: Record<string, unknown>, command: string, onProgress: Progress): SweepOptions {
  return {
    runs: flags.runs as number,
    durationMs: flags.runMs as number,
    batches: flags.batch as number[],
    queueSizes: flags.queueSize as number[],
    modes: flags.mode === 'both' ? ['poll', 'wait'] : modesOf(flags.mode),
    indirect: indirectOf(flags.indirect),
    rings: ringsOf(flags.ring),
    workload: flags.workload as BufferWorkload,
    command,
    onProgress,
  };
}

export function benchCommand(): Command {
  const bench = new Command('bench')
    .description(
      'Measure performance: the ring, vhost-user and dpdk suites write one JSON report each, `vq bench report` turns ' +
        'them into docs/PERFORMANCE.md with plots. `vq bench --quick` is a first look in under two minutes.',
    )
    .option('--quick', 'a first look: a small ring and vhost-user sweep (batch 1, 32, 256; 3 rounds), as a table')
    .option('--out-dir <dir>', 'with --quick: also write the JSON reports here')
    .action(async (flags: Record<string, unknown>, c: Command) => {
      if (flags.quick !== true) {
        c.help();
        return;
      }
      const bar = new ProgressBar();
      const reports = await quickBench((what, done, total) => bar.update(what, done, total));
      bar.clear();
      for (const r of reports) {
        if (typeof flags.outDir === 'string') writeReport(join(flags.outDir, `${r.suite}-quick.json`), r);
        process.stdout.write(`${renderBench(r)}\n\n`);
      }
    });
  bench.addCommand(
    reportingSuite(
      sweepFlags(
        new Command('ring').description(
          'Two-thread ring throughput, driver and device pinned to different CPUs, no transport. For every mode, ' +
            'indirect setting, queue size and batch size: split and packed rings with IN_ORDER and batched used ' +
            'entries, IN_ORDER with per-buffer entries, and no IN_ORDER, all interleaved (A B C ...); median and ' +
            'min-max of --runs rounds, CPU time per buffer, the exact counters (used entries, kicks, interrupts, ' +
            'batches per buffer) and the ratios (IN_ORDER gain per ring, packed vs split) measured in the same run.',
        ),
        ['poll', 'wait', 'hybrid', 'both', 'all'],
        'both',
      ).option('--no-gc-check', 'skip the allocation check (GC count over 1M and 10M buffers)'),
      (flags, command, onProgress) =>
        benchRing({ ...sweepOptionsOf(flags, command, onProgress), gcCheck: flags.gcCheck !== false }),
      renderBench,
    ),
  );
  bench.addCommand(
    reportingSuite<BenchReport | VhostUserBenchReport>(
      sweepFlags(
        new Command('vhost-user').description(
          'The ring sweep between two processes over vhost-user: the test driver here, the test device in a ' +
            '`vq serve test` daemon this starts (eventfds, shared memfd). Same variants, interleaving and counters as ' +
            "the ring suite; CPU time is the driver process's. --vs-in-process instead compares each combination " +
            'at batch 32 with the same run in one process on two threads.',
        ),
        ['wait', 'hybrid', 'both'],
        'hybrid',
      ).option('--vs-in-process', 'compare with the same combination in one process (batch 32, queue 256)'),
      (flags, command, onProgress) => {
        const modes: VhostUserMode[] = flags.mode === 'both' ? ['wait', 'hybrid'] : [flags.mode as VhostUserMode];
        return flags.vsInProcess === true
          ? benchVhostUser({ runs: flags.runs as number, buffers: 2_000_000, modes, command, onProgress })
          : benchVhostUserSweep({ ...sweepOptionsOf(flags, command, onProgress), modes });
      },
      (r) => ('rows' in r ? renderVhostUserBench(r) : renderBench(r)),
    ),
  );
  bench.addCommand(
    reportingSuite(
      new Command('dpdk')
        .description(
          "In one run, interleaved: DPDK's virtio-user (testpmd txonly) into DPDK's vhost PMD (testpmd rxonly) and " +
            "into vqkit's net device (`vq serve net --backend sink`, and `--backend copy`, which copies every frame " +
            "out as DPDK's vhost PMD does), and vqkit's net driver (`vq net-traffic " +
            "--tx-only`) into DPDK's vhost PMD; for split and packed rings, IN_ORDER on and off, 64- and 1500-byte " +
            'frames. Frames per second, CPU time per frame, medians and min-max over --runs rounds, and the ratios ' +
            'to DPDK. Needs dpdk-testpmd (scripts/install-interop.sh installs it) and CPUs 0 and 1.',
        )
        .option('--runs <n>', 'interleaved rounds (at least 5 for published figures)', positiveInt('runs'), 5)
        .option('--seconds <n>', 'seconds measured per sample, after one of warm-up', positiveInt('seconds'), 3)
        .addOption(listOption('--frame-size <list>', 'frame sizes in bytes', 'frame size', [64, 1500]))
        .addOption(
          new Option('--ring <layout>', 'ring layouts to measure').choices(['split', 'packed', 'both']).default('both'),
        )
        .addOption(
          new Option('--in-order <which>', 'IN_ORDER settings').choices(['on', 'off', 'both']).default('both'),
        ),
      (flags, command, onProgress) =>
        benchDpdk({
          runs: flags.runs as number,
          seconds: flags.seconds as number,
          rings: ringsOf(flags.ring),
          inOrder: flags.inOrder === 'both' ? [true, false] : [flags.inOrder === 'on'],
          frameSizes: flags.frameSize as number[],
          command,
          onProgress,
        }),
      renderDpdkBench,
    ),
  );
  bench.addCommand(
    reportingSuite(
      new Command('ringtest')
        .description(
          "Linux's own ring benchmark (tools/virtio/ringtest, C, built from Debian's kernel source package on first " +
            'use by scripts/kernel-tools.sh) against vqkit on the same parameters: ring 256, one 64-byte buffer each, ' +
            'the two sides pinned to CPUs 0 and 1. Busy-polling: virtio_ring_0_9 and virtio_ring_inorder against ' +
            "vqkit's split ring, and ringtest's `ring` prototype against vqkit's packed ring with IN_ORDER and " +
            'against the same protocol alone in JavaScript (no engine: what the language allows). ' +
            'Notifications (ringtest --sleep --batch 32): the split ring with IN_ORDER off and on, vqkit with its ' +
            'adaptive spin before sleeping (the default) and without. Interleaved rounds; medians, min-max, ratios.',
        )
        .option('--runs <n>', 'interleaved rounds (at least 5 for published figures)', positiveInt('runs'), 5)
        .option('--buffers <n>', 'buffers per sample, both sides', positiveInt('buffers'), 10_000_000),
      (flags, command, onProgress) =>
        benchRingtest({ runs: flags.runs as number, buffers: flags.buffers as number, command, onProgress }),
      renderRingtestBench,
    ),
  );
  bench.addCommand(
    reportingSuite(
      new Command('scale')
        .description(
          "One `vq serve net` daemon (loop backend, a data-plane thread per CPU) per port count, driven by vqkit's " +
            'own front-end: the time to set all ports up, GET_FEATURES round trips (p50, p99) with all connected, ' +
            "the daemon's RSS and threads, its idle CPU, and verified traffic on every port at once (aggregate and " +
            'per-port frames/s). Port counts are interleaved over --runs rounds; medians and the targets are printed.',
        )
        .addOption(listOption('--ports <list>', 'port counts', 'port count', [1, 8, 32, 64]))
        .option('--runs <n>', 'interleaved rounds (medians are printed)', positiveInt('runs'), 3)
        .option('--idle-seconds <n>', 'seconds the idle daemon is watched', positiveInt('idle seconds'), 10)
        .option('--frames <n>', 'verified frames all ports carry together', positiveInt('frames'), 200_000)
        .option('--round-trips <n>', 'GET_FEATURES round trips timed per sample', positiveInt('round trips'), 2000),
      (flags, command, onProgress) =>
        benchScale({
          portCounts: flags.ports as number[],
          runs: flags.runs as number,
          idleSeconds: flags.idleSeconds as number,
          totalFrames: flags.frames as number,
          roundTrips: flags.roundTrips as number,
          command,
          onProgress,
        }),
      renderScaleBench,
    ),
  );
  bench.addCommand(
    reportingSuite(
      new Command('faults')
        .description(
          'The fault campaign: one `vq serve net --backend loop` daemon with two ports. On one, --cycles front-ends ' +
            '(`vq net-traffic` processes) are killed with SIGKILL after a random delay (before connecting, mid-setup, ' +
            'mid-traffic); on the other, verified traffic runs all along. Prints where the kills landed, the ' +
            "daemon's fds and RSS over the campaign, the other port's traffic, and a new front-end on the same socket.",
        )
        .option('--cycles <n>', 'front-ends started and killed', positiveInt('cycles'), 1000)
        .option('--max-delay <ms>', 'the longest a front-end lives before its SIGKILL', positiveInt('max delay'), 600)
        .option('--seed <n>', 'seed of the delays', positiveInt('seed'), 1),
      (flags, command, onProgress) =>
        runFaultCampaign({
          cycles: flags.cycles as number,
          maxDelayMs: flags.maxDelay as number,
          seed: flags.seed as number,
          command,
          onProgress,
        }),
      renderFaultCampaign,
    ),
  );
  bench.addCommand(
    reportingSuite(
      new Command('vsock-faults')
        .description(
          "vsock under faults: one `vq serve vsock` daemon with vqkit's vsock driver as the guest, which hashes each " +
            'stream it receives and answers with the digest. --survivors host connections send --mib MiB each and ' +
            'check the digest while --closed others are destroyed part-way through. Prints how many digests matched, ' +
            'whether the daemon stayed up, and a new connection afterwards.',
        )
        .option('--survivors <n>', 'host connections that send everything and check it', positiveInt('survivors'), 50)
        .option('--mib <n>', 'MiB each survivor sends', positiveInt('mib'), 20)
        .option('--closed <n>', 'host connections destroyed mid-transfer', positiveInt('closed'), 100)
        .option('--seed <n>', 'seed of where the closed ones stop', positiveInt('seed'), 1),
      (flags, command) =>
        runVsockFaults({
          survivors: flags.survivors as number,
          bytesEach: (flags.mib as number) * 2 ** 20,
          closed: flags.closed as number,
          seed: flags.seed as number,
          command,
        }),
      renderVsockFaults,
    ),
  );
  bench.addCommand(
    new Command('report')
      .description(
        'Turn the JSON reports of a directory (the newest of each suite) into a Markdown report with SVG and PNG ' +
          'plots: throughput against batch size, the IN_ORDER gain per ring, vqkit against DPDK, used entries and ' +
          'notifications per buffer, and the targets beside the measured figures.',
      )
      .option('--in <dir>', 'where the JSON reports are', 'docs/bench')
      .option(
        '--out <file>',
        'the Markdown report to write (plots go in a plots/ folder beside it)',
        'docs/PERFORMANCE.md',
      )
      .action((flags: { in: string; out: string }) => {
        const written = writePerformanceReport(flags.in, flags.out);
        process.stdout.write(`wrote ${written.join(', ')}\n`);
      }),
  );
  return bench;
}

/** `vq bench --quick`: a ring sweep (poll) and a vhost-user sweep (hybrid) over batch 1, 32 and 256, 3 rounds each. */
async function quickBench(progress: (what: string, done: number, total: number) => void): Promise<BenchReport[]> {
  const base = {
    runs: 3,
    durationMs: 150,
    queueSizes: [256],
    indirect: [false],
    rings: ['split', 'packed'] as RingLayout[],
    workload: 'recycled' as const,
  };
  const command = 'vq bench --quick';
  const ring = await benchRing({
    ...base,
    batches: [1, 32, 256],
    modes: ['poll'],
    gcCheck: false,
    command,
    onProgress: (d, t, w) => progress(`ring: ${w}`, d, t),
  });
  const vhostUser = await benchVhostUserSweep({
    ...base,
    batches: [32],
    modes: ['hybrid'],
    command,
    onProgress: (d, t, w) => progress(`vhost-user: ${w}`, d, t),
  });
  return [ring, vhostUser];
}

type Progress = (done: number, total: number, what: string) => void;

/**
 * A `vq bench SUITE` command's report flags (--json, --out) and action: runs the suite with a progress bar and the
 * command line it was run with, then writes the JSON and prints the table (or the JSON).
 */
function reportingSuite<R extends object>(
  cmd: Command,
  run: (flags: Record<string, unknown>, command: string, onProgress: Progress) => Promise<R>,
  render: (report: R) => string,
): Command {
  return cmd
    .option('--json', 'print the report as JSON')
    .option('--out <file>', 'also write the JSON report to this file')
    .action(async (flags: Record<string, unknown>, c: Command) => {
      const bar = new ProgressBar();
      const command = `vq bench ${c.name()} ${process.argv.slice(4).join(' ')}`.trim();
      const report = await run(flags, command, (done, total, what) => bar.update(what, done, total));
      bar.clear();
      const json = `${JSON.stringify(report, null, 2)}\n`;
      if (typeof flags.out === 'string') writeReport(flags.out, report);
      process.stdout.write(flags.json === true ? json : `${render(report)}\n`);
      c.setOptionValue('exitCode', 0);
    });
}

export function renderDpdkBench(r: DpdkBenchReport): string {
  const pps = (xs: DpdkSample[]): number[] => xs.map((x) => x.pps);
  const cell = (xs: DpdkSample[]): string =>
    `${m(median(pps(xs)))} (${m(Math.min(...pps(xs)))}-${m(Math.max(...pps(xs)))}), ${median(xs.map((x) => x.cpuNsPerFrame)).toFixed(0)} ns`;
  return [
    `DPDK benchmark: ${r.runs} interleaved rounds x ${r.seconds} s, queue size ${r.queueSize}, ${r.machine.cpus} CPUs ` +
      `(${r.machine.model}), node ${r.machine.node}, DPDK ${r.machine.dpdk}`,
    'Mpps median (min-max), CPU ns per frame',
    '',
    formatTable(
      [
        'ring',
        'IN_ORDER',
        'frame',
        'virtio-user -> DPDK vhost',
        'virtio-user -> vqkit sink',
        'sink / DPDK',
        'virtio-user -> vqkit copy',
        'copy / DPDK',
        'vqkit driver -> DPDK vhost',
        'vqkit driver / virtio-user',
      ],
      r.rows.map((x) => [
        x.ring,
        x.inOrder ? 'on' : 'off',
        `${x.frameBytes} B`,
        cell(x.dpdkVhost),
        cell(x.vqkit),
        `${x.ratio.toFixed(3)}x`,
        cell(x.vqkitCopy),
        `${x.copyRatio.toFixed(3)}x`,
        cell(x.vqkitDriver),
        `${x.driverRatio.toFixed(3)}x`,
      ]),
    ),
  ].join('\n');
}

export function renderVhostUserBench(r: VhostUserBenchReport): string {
  const range = (xs: number[]): string => `${m(Math.min(...xs))}-${m(Math.max(...xs))}`;
  return [
    `vhost-user benchmark: ${r.runs} interleaved rounds x ${r.buffers} buffers, ${r.machine.cpus} CPUs (${r.machine.model}), node ${r.machine.node}`,
    '',
    formatTable(
      [
        'mode',
        'ring',
        'IN_ORDER',
        'in-process Mbuf/s',
        'min-max',
        'vhost-user Mbuf/s',
        'min-max',
        'vhost-user / in-process',
      ],
      r.rows.map((x) => [
        x.mode,
        x.ring,
        x.inOrder ? 'batched' : 'off',
        m(median(x.inProcess)),
        range(x.inProcess),
        m(median(x.vhostUser)),
        range(x.vhostUser),
        `${x.ratio.toFixed(3)}x`,
      ]),
    ),
  ].join('\n');
}

const m = (bps: number): string => (bps / 1e6).toFixed(2);

export function renderBench(r: BenchReport): string {
  const perBuf = (x: number | null): string => (x === null ? '-' : x.toFixed(4));
  const rows = r.variants.map((v) => [
    v.group,
    v.variant,
    m(v.medianBuffersPerSec),
    `${m(v.minBuffersPerSec)}-${m(v.maxBuffersPerSec)}`,
    v.medianCpuNsPerBuffer.toFixed(0),
    perBuf(v.usedEntriesPerBuffer),
    perBuf(v.kicksPerBuffer),
    perBuf(v.interruptsPerBuffer),
    perBuf(v.batchesPerBuffer),
  ]);
  const pinned = r.machine.pinned === null ? '' : `, threads ${r.machine.pinned ? 'pinned' : 'NOT pinned'}`;
  const lines = [
    `${r.suite} benchmark: ${r.runs} interleaved rounds of ${r.durationMs} ms per variant, ${r.machine.cpus} CPUs ` +
      `(${r.machine.model}), node ${r.machine.node}${pinned}`,
    '',
    formatTable(
      [
        'group',
        'variant',
        'Mbuf/s (median)',
        'min-max',
        'CPU ns/buf',
        'used/buf',
        'kicks/buf',
        'irqs/buf',
        'batches/buf',
      ],
      rows,
    ),
    '',
    formatTable(
      ['group', 'ratio', 'of medians', 'per-round min', 'per-round median', 'per-round max'],
      r.ratios.map((x) => [
        x.group,
        `${x.label} (${x.numerator} / ${x.denominator})`,
        `${x.ratioOfMedians.toFixed(3)}x`,
        x.roundRatios.min.toFixed(3),
        x.roundRatios.median.toFixed(3),
        x.roundRatios.max.toFixed(3),
      ]),
    ),
  ];
  if (r.gcCheck) {
    lines.push('', 'allocation check (IN_ORDER batched, poll):');
    for (const g of r.gcCheck) lines.push(`  ${g.buffers} buffers: ${g.gcCount} garbage collections`);
  }
  return lines.join('\n');
}
