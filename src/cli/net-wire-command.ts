import { Command } from 'commander';
import { NetWire } from '../drivers/net/net-wire.js';
import { netDriverOptions, netDriverOptionsOf } from './net-traffic-command.js';
import { positiveInt } from './run-command.js';

const collect = (v: string, all: string[]): string[] => [...all, v];

export function netWireCommand(): Command {
  const command = new Command('net-wire')
    .description(
      "Join two vhost-user virtio-net back-ends with a patch cable: vqkit's net driver on both, every frame received " +
        'on one sent on the other (for example two `vq serve net --backend tap:NAME` ports, joining two network ' +
        'namespaces). Runs until SIGINT or SIGTERM, or until a back-end goes away; then prints the frames carried.',
    )
    .requiredOption('--vhost-user <path>', 'a back-end socket; give it twice', collect, [])
    .option('--timeout <ms>', 'how long to wait for a control command answer', positiveInt('timeout'), 5000);
  return netDriverOptions(command).action(async (flags: Record<string, unknown>, cmd: Command) => {
    const paths = flags.vhostUser as string[];
    if (paths.length !== 2)
      cmd.error('error: net-wire joins exactly two back-ends (--vhost-user twice)', { exitCode: 2 });
    const out = (line: string): void => void process.stdout.write(`vq net-wire: ${line}\n`);
    const wire = await NetWire.open([paths[0], paths[1]], {
      ...netDriverOptionsOf(flags),
      idleTimeoutMs: flags.timeout as number,
    });
    let stopping = false;
    const stop = (): void => void (stopping = true);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    wire.ports.forEach((p, i) =>
      out(`port ${i} (${paths[i]}): mac ${p.mac ?? '(none)'}, mtu ${p.mtu}, negotiated ${p.described}`),
    );
    out('carrying frames');
    const problem = await wire.run(() => stopping);
    wire.close();
    const c = wire.counts;
    out(`carried ${c.frames[0]} frames (${c.bytes[0]} bytes) 0->1, ${c.frames[1]} frames (${c.bytes[1]} bytes) 1->0`);
    if (problem !== null) {
      out(`stopped: ${problem}`);
      cmd.setOptionValue('exitCode', 1);
    }
  });
}
