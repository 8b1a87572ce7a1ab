import { writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { benchRing, median, type BenchMode, type BenchReport } from '../harness/bench.js';
import { benchDpdk, type DpdkBenchReport, type DpdkSample } from '../harness/bench-dpdk.js';
import { benchVhostUser, type VhostUserBenchReport } from '../harness/bench-vhost-user.js';
import { ProgressBar } from './progress.js';
import { positiveInt } from './run-command.js';
import { formatTable } from './table.js';

export function benchCommand(): Command {
  const bench = new Command('bench').description('Measure performance (see README: how to read the figures).');
  bench.addCommand(
    reportingSuite(
      new Command('ring')
        .description(
          'Two-thread ring throughput, driver and device pinned to different CPUs: for split and packed rings, IN_ORDER ' +
            'with batched used entries, IN_ORDER with per-buffer entries, and no IN_ORDER, all interleaved (A B C ...), ' +
            'median and min-max of --runs rounds, CPU time per buffer, and ratios (IN_ORDER gain per ring, packed vs ' +
            'split) measured in the same run.',
        )
        .option(
          '--runs <n>',
          'interleaved rounds per variant (at least 5 for published figures)',
          positiveInt('runs'),
          5,
        )
        .option('--buffers <n>', 'buffers per run', positiveInt('buffers'), 4_000_000)
        .option('--batch <n>', 'buffers added between kicks', positiveInt('batch'), 32)
        .option('--queue-size <n>', 'queue size', positiveInt('queue size'), 256)
        .addOption(
          new Option(
            '--mode <mode>',
            'poll: both threads busy-poll; wait: they sleep on notifications; hybrid: busy-poll 50 us, then sleep',
          )
            .choices(['poll', 'wait', 'hybrid', 'both', 'all'])
            .default('both'),
        )
        .addOption(
          new Option('--indirect <which>', 'indirect descriptors').choices(['off', 'on', 'both']).default('off'),
        )
        .addOption(
          new Option('--ring <layout>', 'ring layouts to compare').choices(['split', 'packed', 'both']).default('both'),
        )
        .option('--no-gc-check', 'skip the allocation check (GC count over 1M and 10M buffers)'),
      (flags, command, onProgress) =>
        benchRing({
          runs: flags.runs as number,
          buffers: flags.buffers as number,
          batch: flags.batch as number,
          queueSize: flags.queueSize as number,
          modes:
            flags.mode === 'all'
              ? ['poll', 'wait', 'hybrid']
              : flags.mode === 'both'
                ? ['poll', 'wait']
                : [flags.mode as BenchMode],
          indirect: flags.indirect === 'both' ? [false, true] : [flags.indirect === 'on'],
          rings: flags.ring === 'both' ? ['split', 'packed'] : [flags.ring as 'split' | 'packed'],
          gcCheck: flags.gcCheck !== false,
          command,
          onProgress,
        }),
      renderBench,
    ),
  );
  bench.addCommand(
    reportingSuite(
      new Command('vhost-user')
        .description(
          'The test device over vhost-user between two processes (this starts a `vq serve test` daemon) against the ' +
            'same combination in one process on two threads, interleaved; medians, min-max and the ratio.',
        )
        .option('--runs <n>', 'interleaved rounds', positiveInt('runs'), 5)
        .option('--buffers <n>', 'buffers per run', positiveInt('buffers'), 2_000_000)
        .addOption(
          new Option('--mode <mode>', 'wait: sleep on notifications at once; hybrid: busy-poll 50 us first')
            .choices(['wait', 'hybrid', 'both'])
            .default('both'),
        ),
      (flags, command, onProgress) =>
        benchVhostUser({
          runs: flags.runs as number,
          buffers: flags.buffers as number,
          modes: flags.mode === 'both' ? ['wait', 'hybrid'] : [flags.mode as 'wait' | 'hybrid'],
          command,
          onProgress,
        }),
      renderVhostUserBench,
    ),
  );
  bench.addCommand(
    reportingSuite(
      new Command('dpdk')
        .description(
          "DPDK's virtio-user (testpmd txonly, 64-byte frames) into DPDK's vhost PMD (testpmd rxonly) and into vqkit's " +
            'net device (`vq serve net --backend sink`), interleaved, for split and packed rings with IN_ORDER on and ' +
            'off: frames per second, receiver CPU time per frame, medians and min-max over --runs rounds, and the ' +
            'vqkit / DPDK ratio. Needs dpdk-testpmd (scripts/install-interop.sh installs it) and CPUs 0 and 1.',
        )
        .option('--runs <n>', 'interleaved rounds (at least 5 for published figures)', positiveInt('runs'), 5)
        .option('--seconds <n>', 'seconds measured per sample, after one of warm-up', positiveInt('seconds'), 3)
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
          rings: flags.ring === 'both' ? ['split', 'packed'] : [flags.ring as 'split' | 'packed'],
          inOrder: flags.inOrder === 'both' ? [true, false] : [flags.inOrder === 'on'],
          command,
          onProgress,
        }),
      renderDpdkBench,
    ),
  );
  return bench;
}

type Progress = (done: number, total: number, what: string) => void;

/**
 * A `vq bench SUITE` command's report flags (--json, --out) and action: runs the suite with a progress bar and the
 * command line it was run with, then writes the JSON and prints the table (or the JSON).
 */
function reportingSuite<R>(
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
      if (typeof flags.out === 'string') writeFileSync(flags.out, json);
      process.stdout.write(flags.json === true ? json : `${render(report)}\n`);
      c.setOptionValue('exitCode', 0);
    });
}

export function renderDpdkBench(r: DpdkBenchReport): string {
  const pps = (xs: DpdkSample[]): number[] => xs.map((x) => x.pps);
  const range = (xs: number[]): string => `${m(Math.min(...xs))}-${m(Math.max(...xs))}`;
  const cpu = (xs: DpdkSample[]): string => median(xs.map((x) => x.cpuNsPerFrame)).toFixed(0);
  return [
    `DPDK benchmark: virtio-user txonly, ${r.frameBytes}-byte frames, ${r.runs} interleaved rounds x ${r.seconds} s, ` +
      `${r.machine.cpus} CPUs (${r.machine.model}), node ${r.machine.node}, DPDK ${r.machine.dpdk}`,
    '',
    formatTable(
      [
        'ring',
        'IN_ORDER',
        'DPDK vhost Mpps',
        'min-max',
        'CPU ns/frame',
        'vqkit Mpps',
        'min-max',
        'CPU ns/frame',
        'vqkit / DPDK',
        'per-round min-max',
      ],
      r.rows.map((x) => [
        x.ring,
        x.inOrder ? 'on' : 'off',
        m(median(pps(x.dpdkVhost))),
        range(pps(x.dpdkVhost)),
        cpu(x.dpdkVhost),
        m(median(pps(x.vqkit))),
        range(pps(x.vqkit)),
        cpu(x.vqkit),
        `${x.ratio.toFixed(3)}x`,
        `${Math.min(...x.roundRatios).toFixed(3)}-${Math.max(...x.roundRatios).toFixed(3)}`,
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
  const rows = r.variants.map((v) => [
    v.group,
    v.variant,
    m(v.medianBuffersPerSec),
    `${m(v.minBuffersPerSec)}-${m(v.maxBuffersPerSec)}`,
    v.medianCpuNsPerBuffer.toFixed(0),
    v.usedEntriesPerBuffer.toFixed(4),
    v.kicksPerBuffer.toFixed(4),
    v.interruptsPerBuffer.toFixed(4),
  ]);
  const lines = [
    `ring benchmark: ${r.runs} interleaved rounds x ${r.buffers} buffers, ${r.machine.cpus} CPUs (${r.machine.model}), node ${r.machine.node}, threads ${r.machine.pinned ? 'pinned' : 'NOT pinned'}`,
    '',
    formatTable(
      ['group', 'variant', 'Mbuf/s (median)', 'min-max', 'CPU ns/buf', 'used/buf', 'kicks/buf', 'irqs/buf'],
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
