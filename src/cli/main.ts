import { Command, CommanderError } from 'commander';
import { RunOptionsError } from '../harness/run.js';
import { ReportFormatError } from '../report/load.js';
import { BenchSetupError } from '../harness/bench-dpdk.js';
import { OsError } from '../os/libc.js';
import { VhostUserFrontendError } from '../drivers/test/test-frontend.js';
import { FeatureNegotiationError } from '../virtqueue/features.js';
import { benchCommand } from './bench-command.js';
import { checkCommand } from './check-command.js';
import { CheckSetupError } from '../harness/check-driver.js';
import { netTrafficCommand } from './net-traffic-command.js';
import { netWireCommand } from './net-wire-command.js';
import { runCommand } from './run-command.js';
import { serveCommand } from './serve-command.js';
import { statusCommand } from './status-command.js';
import { explainCommand } from './explain-command.js';
import { ControlError } from '../runtime/control-server.js';

export function buildProgram(): Command {
  const program = new Command('vq')
    .description(
      'vqkit: virtio virtqueues with VIRTIO_F_IN_ORDER, in TypeScript. Split and packed rings (driver and device) ' +
        'with IN_ORDER, INDIRECT_DESC and EVENT_IDX, a test harness, and the test device served over vhost-user.',
    )
    .version(process.env.npm_package_version ?? '0.1.0')
    .exitOverride()
    .showHelpAfterError();
  program.addCommand(runCommand().exitOverride());
  program.addCommand(benchCommand().exitOverride());
  program.addCommand(serveCommand().exitOverride());
  program.addCommand(netTrafficCommand().exitOverride());
  program.addCommand(netWireCommand().exitOverride());
  program.addCommand(checkCommand().exitOverride());
  program.addCommand(statusCommand().exitOverride());
  program.addCommand(explainCommand().exitOverride());
  return program;
}

/** Runs the `vq` command line; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    if (
      e instanceof RunOptionsError ||
      e instanceof VhostUserFrontendError ||
      e instanceof FeatureNegotiationError ||
      e instanceof ReportFormatError ||
      e instanceof BenchSetupError ||
      e instanceof ControlError ||
      e instanceof CheckSetupError
    ) {
      process.stderr.write(`vq: ${e.message}\n`);
      return 2;
    }
    if (e instanceof OsError) {
      // A system call failed (a socket path that cannot be bound, say): say which, without a stack trace.
      process.stderr.write(`vq: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
  const done = all(program).find((c) => c.getOptionValue('exitCode') !== undefined);
  return (done?.getOptionValue('exitCode') as number | undefined) ?? 0;
}
