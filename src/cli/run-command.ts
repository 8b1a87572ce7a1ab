import { Command, InvalidArgumentError, Option } from 'commander';
import { defaultMatrix } from '../harness/matrix.js';
import { DEFAULT_RUN, type RunOptions } from '../harness/options.js';
import { runOne, runOverVhostUser, validateRun, type RunResult } from '../harness/run.js';
import { ProgressBar } from './progress.js';
import { formatTable, si } from './table.js';

export const positiveInt =
  (what: string) =>
  (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${what} must be a positive integer`);
    return n;
  };
const batchArg = (v: string): number | 'random' => (v === 'random' ? 'random' : positiveInt('batch')(v));
export const seedArg = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new InvalidArgumentError('seed must be 0..4294967295');
  return n;
};

/** Flags that pick one combination; with none of them, `vq run` runs the default matrix. */
const COMBINATION_FLAGS = ['ring', 'inOrder', 'indirect', 'eventIdx', 'threads', 'poll', 'usedEntries', 'completion'];

export function runCommand(): Command {
  return new Command('run')
    .description(
      'Run the test driver against the test device and verify every completion (token, order, length, data). ' +
        'With no combination flag, runs the default matrix: every ring x IN_ORDER x INDIRECT_DESC x EVENT_IDX x ' +
        'completion policy, in one thread and in two. Exits non-zero if any run fails verification.',
    )
    .addOption(new Option('--ring <layout>', 'ring layout').choices(['split', 'packed']))
    .option('--in-order', 'negotiate VIRTIO_F_IN_ORDER (bit 35)')
    .option('--no-in-order', 'do not negotiate IN_ORDER')
    .option('--indirect', 'negotiate VIRTIO_F_INDIRECT_DESC')
    .option('--no-indirect', 'do not negotiate INDIRECT_DESC')
    .option('--event-idx', 'negotiate VIRTIO_F_EVENT_IDX')
    .option('--no-event-idx', 'do not negotiate EVENT_IDX')
    .addOption(
      new Option(
        '--indirect-mode <mode>',
        'when INDIRECT_DESC is negotiated, which chains use it (auto: those of more than one segment)',
      )
        .choices(['always', 'random', 'auto', 'never'])
        .default(DEFAULT_RUN.indirectMode),
    )
    .option('--queue-size <n>', 'queue size (split: a power of two)', positiveInt('queue size'), DEFAULT_RUN.queueSize)
    .option('--batch <n|random>', 'buffers added between kicks', batchArg, DEFAULT_RUN.batch)
    .option('--max-chain <n>', 'segments per buffer: random in 1..n', positiveInt('max chain'), DEFAULT_RUN.maxChain)
    .option(
      '--max-segment <bytes>',
      'bytes per segment: random in 1..n',
      positiveInt('max segment'),
      DEFAULT_RUN.maxSegment,
    )
    .addOption(
      new Option('--shape <shape>', 'random chains per buffer, or one fixed chain (n-1 readable + 1 writable segments)')
        .choices(['random', 'fixed'])
        .default(DEFAULT_RUN.shape),
    )
    .option('--buffers <n>', 'buffers to complete per run', positiveInt('buffers'), DEFAULT_RUN.buffers)
    .option(
      '--buffer-pool <n>',
      'buffers the driver owns, handed out in turn (default: the queue size, so under IN_ORDER each returns to the ' +
        'ring position it left; more, and a position holds a different buffer each lap)',
      positiveInt('buffer pool'),
    )
    .option('--duration <seconds>', 'stop adding buffers after this long (--buffers stays an upper bound)', Number)
    .option('--threads', 'driver and device in two worker threads sharing memory (default: one thread, replayable)')
    .option('--poll', 'with --threads: busy-poll instead of sleeping on notifications')
    .option(
      '--busy-poll <us>',
      'with --threads: before sleeping, busy-poll up to this many microseconds for work (like vhost-net ' +
        'busyloop_timeout); the spin adapts, halving when it finds nothing, growing back when it does; 0: sleep at once',
      Number,
      DEFAULT_RUN.busyPollUs,
    )
    .addOption(
      new Option('--used-entries <policy>', 'with IN_ORDER: one used entry per batch, or per buffer (as QEMU)')
        .choices(['batched', 'per-buffer'])
        .default(DEFAULT_RUN.usedEntries),
    )
    .addOption(
      new Option('--completion <policy>', 'without IN_ORDER: complete in order, or out of order within --window')
        .choices(['in-order', 'out-of-order'])
        .default(DEFAULT_RUN.completion),
    )
    .option(
      '--flush-every <n>',
      'two threads: the device publishes used buffers after at most n chains',
      positiveInt('flush every'),
      DEFAULT_RUN.flushEvery,
    )
    .option('--window <n>', 'out-of-order completion window', positiveInt('window'), DEFAULT_RUN.window)
    .option('--partial-writes', 'the device writes a predictable prefix of some buffers, not all of it')
    .option('--no-verify-data', 'skip the per-byte data pattern (tokens, order and lengths are still verified)')
    .option('--seed <n>', 'PRNG seed: the same seed replays a one-thread run exactly', seedArg, DEFAULT_RUN.seed)
    .option('--vhost-user <path>', 'run the test driver over vhost-user against the back-end at this socket')
    .option('--json', 'print the results as JSON')
    .action(async (flags: Record<string, unknown>, cmd: Command) => {
      const base = {
        queueSize: flags.queueSize as number,
        batch: flags.batch as RunOptions['batch'],
        maxChain: flags.maxChain as number,
        maxSegment: flags.maxSegment as number,
        indirectMode: flags.indirectMode as RunOptions['indirectMode'],
        shape: flags.shape as RunOptions['shape'],
        buffers: flags.buffers as number,
        bufferPool: flags.bufferPool as number | undefined,
        durationMs: flags.duration === undefined ? undefined : (flags.duration as number) * 1000,
        seed: flags.seed as number,
        window: flags.window as number,
        flushEvery: flags.flushEvery as number,
        busyPollUs: flags.busyPoll as number,
        partialWrites: flags.partialWrites === true,
        verifyData: flags.verifyData !== false,
      } satisfies Partial<RunOptions>;
      const picked = COMBINATION_FLAGS.some((f) => cmd.getOptionValueSource(f) === 'cli');
      const runs: RunOptions[] = picked
        ? [
            {
              ...DEFAULT_RUN,
              ...base,
              ring: (flags.ring as RunOptions['ring'] | undefined) ?? DEFAULT_RUN.ring,
              inOrder: flags.inOrder !== false,
              indirect: flags.indirect !== false,
              eventIdx: flags.eventIdx !== false,
              threads: flags.threads === true,
              poll: flags.poll === true,
              usedEntries: flags.usedEntries as RunOptions['usedEntries'],
              completion: flags.completion as RunOptions['completion'],
            },
          ]
        : defaultMatrix(base);
      runs.forEach(validateRun);
      const path = flags.vhostUser as string | undefined;
      // Over vhost-user the device's policies are the server's: run each ring/feature combination once.
      const vhostRuns = picked
        ? runs
        : runs.filter((o) => !o.threads && o.completion === 'in-order' && o.usedEntries === 'batched');
      const results = path === undefined ? await runAll(runs) : await runAllOverVhostUser(path, vhostRuns);
      if (flags.json === true) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
      else process.stdout.write(`${renderResults(results)}\n`);
      cmd.setOptionValue('exitCode', results.every((r) => r.passed) ? 0 : 1);
    });
}

async function runAll(runs: RunOptions[]): Promise<RunResult[]> {
  const bar = new ProgressBar();
  const results: RunResult[] = [];
  for (const [i, o] of runs.entries()) {
    const label = `${i + 1}/${runs.length}`;
    results.push(await runOne(o, (done) => bar.update(label, i * o.buffers + done, runs.length * o.buffers)));
  }
  bar.clear();
  return results;
}

async function runAllOverVhostUser(path: string, runs: RunOptions[]): Promise<RunResult[]> {
  const bar = new ProgressBar();
  const results: RunResult[] = [];
  for (const [i, o] of runs.entries()) {
    results.push(await runOverVhostUser(path, o, (done) => bar.update(`${i + 1}/${runs.length}`, done, o.buffers)));
  }
  bar.clear();
  return results;
}

export function renderResults(results: RunResult[]): string {
  const header = [
    'combination',
    'buffers',
    'bytes',
    'batches',
    'kicks',
    'interrupts',
    'used entries',
    'buffers/s',
    'result',
  ];
  const rows = results.map((r) => [
    r.label,
    si(r.buffers),
    si(r.bytes),
    si(r.batches),
    si(r.kicks),
    si(r.interrupts),
    si(r.usedEntries),
    si(r.buffersPerSec),
    r.passed ? 'PASS' : 'FAIL',
  ]);
  const lines = [formatTable(header, rows)];
  for (const r of results.filter((x) => !x.passed)) {
    lines.push('', `FAIL ${r.label}: ${r.failure}`, `  replay: ${r.replay}`);
  }
  const failed = results.filter((r) => !r.passed).length;
  lines.push('', `${results.length - failed} passed, ${failed} failed`);
  return lines.join('\n');
}
