import { Command, CommanderError } from 'commander';
import { RunOptionsError } from '../harness/run.js';
import { benchCommand } from './bench-command.js';
import { runCommand } from './run-command.js';

export function buildProgram(): Command {
  const program = new Command('vq')
    .description(
      'vqkit: virtio virtqueues with VIRTIO_F_IN_ORDER, in TypeScript.\n' +
        'Split rings (driver and device) with IN_ORDER, INDIRECT_DESC and EVENT_IDX, and a test harness.',
    )
    .version(process.env.npm_package_version ?? '0.1.0')
    .exitOverride()
    .showHelpAfterError();
  program.addCommand(runCommand().exitOverride());
  program.addCommand(benchCommand().exitOverride());
  return program;
}

/** Runs the `vq` command line; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    if (e instanceof RunOptionsError) {
      process.stderr.write(`vq: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
  const done = all(program).find((c) => c.getOptionValue('exitCode') !== undefined);
  return (done?.getOptionValue('exitCode') as number | undefined) ?? 0;
}
