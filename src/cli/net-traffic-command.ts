import { Command, InvalidArgumentError, Option } from 'commander';
import { runNetTraffic } from '../drivers/net/net-frontend.js';
import type { NetPortOptions } from '../drivers/net/net-port.js';
import { positiveInt } from './run-command.js';

const frameSizeArg = (v: string): number | 'random' => {
  if (v === 'random') return 'random';
  const n = Number(v);
  if (!Number.isInteger(n) || n < 60 || n > 65535)
    throw new InvalidArgumentError('frame size must be 60..65535 or random');
  return n;
};

/** The flags of vqkit's net driver: what it asks for and how it lays out its queues. */
export function netDriverOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--ring <layout>', 'the ring layout to ask for').choices(['split', 'packed']).default('split'),
    )
    .option('--in-order', 'ask for VIRTIO_F_IN_ORDER (default)')
    .option('--no-in-order', 'do not ask for IN_ORDER')
    .option('--mrg-rxbuf', 'ask for mergeable receive buffers (default)')
    .option('--no-mrg-rxbuf', 'do not ask for MRG_RXBUF')
    .option('--indirect', 'ask for INDIRECT_DESC')
    .option('--event-idx', 'ask for EVENT_IDX')
    .option('--no-ctrl-vq', 'do not use the control queue (DPDK vhost has none)')
    .option('--queue-size <n>', 'descriptors per queue', positiveInt('queue size'), 256)
    .option('--rx-buffer <n>', 'bytes per receive buffer, header included', positiveInt('rx buffer'));
}

/** The port options those flags give. */
export function netDriverOptionsOf(flags: Record<string, unknown>): Omit<NetPortOptions, 'pairs' | 'idleTimeoutMs'> {
  return {
    ring: flags.ring as 'split' | 'packed',
    inOrder: flags.inOrder !== false,
    mergeable: flags.mrgRxbuf !== false,
    indirect: flags.indirect === true,
    eventIdx: flags.eventIdx === true,
    control: flags.ctrlVq !== false,
    queueSize: flags.queueSize as number,
    rxBufferBytes: flags.rxBuffer as number | undefined,
  };
}

export function netTrafficCommand(): Command {
  const command = new Command('net-traffic')
    .description(
      "Drive a vhost-user virtio-net back-end with vqkit's net driver: send numbered frames on every queue pair and " +
        'check that each comes back intact and in order (a loop back-end, or testpmd in io or macswap mode). ' +
        'Prints the negotiated features and per-pair counters; exits 1 if any frame is lost or wrong.',
    )
    .requiredOption('--vhost-user <path>', 'the back-end socket')
    .option('--listen', 'listen on the socket for a back-end that connects (DPDK vhost with client=1)')
    .option('--queues <n>', 'queue pairs', positiveInt('queues'), 1)
    .option('--frames <n>', 'frames per queue pair', positiveInt('frames'), 100000)
    .option('--frame-size <n>', 'bytes per frame (Ethernet header on), or random', frameSizeArg, 'random')
    .option('--window <n>', 'frames in flight per pair', positiveInt('window'), 128)
    .option('--timeout <ms>', 'fail when nothing comes back for this long', positiveInt('timeout'), 5000)
    .option('--seed <n>', 'frame sizes seed', positiveInt('seed'), 1)
    .option('--tx-only', 'transmit only, for benchmarks: one frame of --frame-size again and again, nothing back')
    .option('--duration <s>', 'with --tx-only: seconds to transmit', positiveInt('duration'), 5);
  return netDriverOptions(command).action(async (flags: Record<string, unknown>, cmd: Command) => {
    const r = await runNetTraffic(flags.vhostUser as string, {
      ...netDriverOptionsOf(flags),
      pairs: flags.queues as number,
      frames: flags.frames as number,
      frameSize: flags.frameSize as number | 'random',
      window: flags.window as number,
      idleTimeoutMs: flags.timeout as number,
      seed: flags.seed as number,
      listen: flags.listen === true,
      txOnly: flags.txOnly === true,
      durationMs: (flags.duration as number) * 1000,
    });
    const out = (line: string): void => void process.stdout.write(`${line}\n`);
    out(`negotiated: ${r.described}`);
    out(`device: mac ${r.mac ?? '(none)'}, mtu ${r.mtu}; control commands acknowledged: ${r.controlOk}`);
    r.pairs.forEach((t, p) =>
      out(
        `pair ${p}: sent ${t.sent}, received ${t.received}, bad ${t.bad}, receive buffers ${t.rxBuffers}, refused ${t.rxErrors}`,
      ),
    );
    const frames = r.pairs.reduce((n, t) => n + (flags.txOnly === true ? t.sent : t.received), 0);
    const secs = r.elapsedMs / 1000;
    out(
      `${frames} frames ${flags.txOnly === true ? 'sent' : 'back'} in ${secs.toFixed(2)} s (${(frames / secs / 1e6).toFixed(3)} Mpps, ${((r.bytes * 8) / secs / 1e9).toFixed(2)} Gbit/s)`,
    );
    out(r.failure === null ? 'PASS' : `FAIL: ${r.failure}`);
    cmd.setOptionValue('exitCode', r.failure === null ? 0 : 1);
  });
}
