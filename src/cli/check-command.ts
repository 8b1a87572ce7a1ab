import { Command, InvalidArgumentError, Option } from 'commander';
import { BEHAVIOURS, behaviourNames, type Behaviour } from '../conformance/driver-judge.js';
import { reportMarkdown, reportText, type CheckReport } from '../conformance/report.js';
import { checkDevice } from '../harness/check-device.js';
import { checkDriver } from '../harness/check-driver.js';
import { DEFAULT_RUN } from '../harness/options.js';
import { offeredRingFeatures, ringFeatureOptions } from './serve-command.js';
import { positiveInt, seedArg } from './run-command.js';

/** The command line as typed, for a report's "reproduce" line. */
const commandLine = (): string =>
  ['vq', ...process.argv.slice(2)]
    .map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`))
    .join(' ');

function behaviourArg(v: string, prev: Behaviour[] | undefined): Behaviour[] {
  if (!(behaviourNames as string[]).includes(v)) {
    throw new InvalidArgumentError(`behaviour must be one of ${behaviourNames.join(', ')}`);
  }
  return [...(prev ?? []), v as Behaviour];
}

function printReport(r: CheckReport, flags: Record<string, unknown>): void {
  if (flags.json === true) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  else if (flags.md === true) process.stdout.write(reportMarkdown(r));
  else process.stdout.write(reportText(r));
}

function formatOptions(cmd: Command): Command {
  return cmd
    .option('--json', 'print the report as JSON')
    .option('--md', 'print the report as Markdown (a findings table, as docs/conformance.md has)');
}

function deviceCommand(): Command {
  return formatOptions(
    new Command('device')
      .description(
        'Judge a vhost-user DEVICE: vqkit is the driver. It negotiates, drives varied traffic (random chains, batch ' +
          'sizes and indirect use) and checks every used entry and notification against the device rules of the ' +
          'spec: buffers used in order under IN_ORDER, batched used entries in their place (split and packed), used ' +
          'lengths within the writable bytes, readable buffers left alone, notifications sent when asked and not ' +
          'otherwise (EVENT_IDX), and the payload (the test pattern, or every frame for net). Exit 0 when no MUST ' +
          'rule was broken.',
      )
      .requiredOption('--vhost-user <path>', "the device's vhost-user socket")
      .addOption(
        new Option('--device <type>', 'the device type behind the socket')
          .choices(['net', 'vsock', 'test'])
          .default('net'),
      )
      .option('--uds-path <path>', 'vsock: where the device joins guest connections to host programs (<path>_<port>)')
      .addOption(new Option('--ring <layout>', 'ring layout to ask for').choices(['split', 'packed']).default('split'))
      .option('--in-order', 'ask for VIRTIO_F_IN_ORDER (default)')
      .option('--no-in-order', 'do not ask for IN_ORDER')
      .option('--indirect', 'ask for INDIRECT_DESC (default)')
      .option('--no-indirect', 'do not ask for INDIRECT_DESC')
      .option('--event-idx', 'ask for EVENT_IDX (default)')
      .option('--no-event-idx', 'do not ask for EVENT_IDX')
      .option('--no-mrg-rxbuf', 'net: do not ask for VIRTIO_NET_F_MRG_RXBUF')
      .option(
        '--rx-buffer-bytes <n>',
        'net, with MRG_RXBUF: receive buffer size (small buffers make frames span several)',
        positiveInt('rx buffer bytes'),
        512,
      )
      .option('--queue-size <n>', 'queue size (split: a power of two)', positiveInt('queue size'), 256)
      .option(
        '--count <n>',
        'buffers (test), frames (net) or KiB per stream (vsock) to send',
        positiveInt('count'),
        20000,
      )
      .option(
        '--stall-ms <ms>',
        'a ring on which nothing moves this long is stalled: stop and look why',
        positiveInt('stall ms'),
        5000,
      )
      .option('--seed <n>', 'PRNG seed of the traffic', seedArg, DEFAULT_RUN.seed)
      .action(async (flags: Record<string, unknown>, cmd: Command) => {
        const report = await checkDevice({
          socket: flags.vhostUser as string,
          device: flags.device as 'net' | 'vsock' | 'test',
          udsPath: flags.udsPath as string | undefined,
          ring: flags.ring as 'split' | 'packed',
          inOrder: flags.inOrder !== false,
          indirect: flags.indirect !== false,
          eventIdx: flags.eventIdx !== false,
          mergeable: flags.mrgRxbuf !== false,
          rxBufferBytes: flags.rxBufferBytes as number,
          queueSize: flags.queueSize as number,
          count: flags.count as number,
          seed: flags.seed as number,
          stallMs: flags.stallMs as number,
          command: commandLine(),
        });
        printReport(report, flags);
        cmd.setOptionValue('exitCode', report.exitCode);
      }),
  );
}

function driverCommand(): Command {
  const list = behaviourNames.map((b) => `${b} (${BEHAVIOURS[b]})`).join('; ');
  return formatOptions(
    ringFeatureOptions(
      new Command('driver')
        .description(
          'Judge a DRIVER: vqkit serves the device on a vhost-user socket (DPDK virtio-user, or QEMU for a guest, ' +
            'connects) and checks what the driver publishes against the driver rules of the spec: IN_ORDER ' +
            'descriptor allocation in ring order, sequential indirect tables, avail idx, no descriptor or Buffer ID ' +
            'reused in flight, readable before writable. Meanwhile it plays every legal device behaviour in turn and ' +
            `reports any that breaks the driver (a stall, changed frames, a broken ring): ${list}. ` +
            'The driver must keep traffic going for the whole check (testpmd --tx-first in io mode, or a guest ' +
            'workload). Exit 0 when no MUST rule was broken and no behaviour broke the driver.',
        )
        .requiredOption('--socket <path>', 'the vhost-user socket to serve the device on')
        .option('--client', 'connect to a driver listening on the socket (DPDK virtio-user server=1)')
        .addOption(
          new Option('--device <type>', 'the device type to serve').choices(['net', 'vsock', 'test']).default('net'),
        )
        .option('--uds-path <path>', 'vsock: where guest connections to host port P go (<path>_P); port 5000 echoes')
        .option('--guest-cid <n>', "vsock: the guest's CID", positiveInt('guest cid'), 3),
    )
      .option('--no-mrg-rxbuf', 'net: do not offer VIRTIO_NET_F_MRG_RXBUF')
      .option('--expect-echo', 'net: the driver sends back every frame it receives (testpmd io): check each one')
      .option('--behaviour <name>', 'play only this behaviour (repeatable; default: all, in turn)', behaviourArg)
      .option('--phase-ms <ms>', 'how long each behaviour is played', positiveInt('phase ms'), 2000)
      .option('--stall-ms <ms>', 'no buffer completed this long: the driver is stalled', positiveInt('stall ms'), 3000)
      .option('--connect-timeout-ms <ms>', 'how long to wait for the driver to start', positiveInt('timeout'), 60000)
      .option(
        '--linger-ms <ms>',
        'after the last behaviour, keep serving until the driver disconnects or this long (a VM powering off)',
        Number,
        0,
      )
      .option('--seed <n>', 'PRNG seed of the random behaviours', seedArg, DEFAULT_RUN.seed)
      .action(async (flags: Record<string, unknown>, cmd: Command) => {
        const report = await checkDriver({
          socket: flags.socket as string,
          client: flags.client === true,
          device: flags.device as 'net' | 'vsock' | 'test',
          udsPath: flags.udsPath as string | undefined,
          guestCid: flags.guestCid as number,
          ringFeatures: offeredRingFeatures(flags),
          mergeable: flags.mrgRxbuf !== false,
          expectEcho: flags.expectEcho === true,
          behaviours: (flags.behaviour as Behaviour[] | undefined) ?? behaviourNames,
          phaseMs: flags.phaseMs as number,
          stallMs: flags.stallMs as number,
          connectTimeoutMs: flags.connectTimeoutMs as number,
          lingerMs: flags.lingerMs as number,
          seed: flags.seed as number,
          command: commandLine(),
          log: (line) => void process.stderr.write(`vq check driver: ${line}\n`),
        });
        printReport(report, flags);
        cmd.setOptionValue('exitCode', report.exitCode);
      }),
  );
}

export function checkCommand(): Command {
  const check = new Command('check').description(
    "Judge a peer's IN_ORDER behaviour against the VIRTIO 1.2 spec, in either role: `vq check device` (vqkit " +
      'drives, the peer is the device) or `vq check driver` (vqkit serves, the peer is the driver). One row per ' +
      'rule with the spec section, the verdict and the first offending event. See docs/conformance.md.',
  );
  check.addCommand(deviceCommand().exitOverride());
  check.addCommand(driverCommand().exitOverride());
  return check;
}
