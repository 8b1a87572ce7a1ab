import { spawn, type ChildProcess } from 'node:child_process';
import { killOnExit } from '../os/child-guard.js';

let prefixes = 0;

/** dpdk-testpmd as a child process, run without hugepages or PCI; stopped with SIGINT, as it expects. */
export class Testpmd {
  readonly proc: ChildProcess;
  output = '';

  /**
   * `mainLcore`: testpmd forwards on the other of lcores 0-1, so two testpmds with different main lcores forward on
   * different CPUs.
   */
  constructor(
    vdev: string,
    forward: string[],
    extraEal: string[] = [],
    mainLcore: 0 | 1 = 0,
    /** Interactive (`-i`): commands go in through command() instead of forwarding starting by itself. */
    interactive = false,
  ) {
    const eal = ['-l', '0-1', '--main-lcore', String(mainLcore), '--no-huge', '-m', '512', '--no-pci'];
    const prefix = `vqkit-${process.pid}-${prefixes++}`;
    this.proc = killOnExit(
      spawn(
        'dpdk-testpmd',
        [
          ...eal,
          '--file-prefix',
          prefix,
          '--vdev',
          vdev,
          ...extraEal,
          '--',
          ...(interactive ? ['-i'] : ['--stats-period', '1']),
          '--nb-cores',
          '1',
          '--total-num-mbufs',
          '8192',
          ...forward,
        ],
        { stdio: [interactive ? 'pipe' : 'ignore', 'pipe', 'pipe'] },
      ),
    );
    const take = (chunk: Buffer): void => void (this.output += chunk.toString());
    this.proc.stdout!.on('data', take);
    this.proc.stderr!.on('data', take);
  }

  /** Resolves once the output matches `re` (or rejects after `ms`, with the output so far). */
  async waitFor(re: RegExp, ms = 30_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = this.output.match(re);
      if (m !== null) return m;
      if (this.proc.exitCode !== null)
        throw new Error(`testpmd exited (${this.proc.exitCode}):\n${this.output.slice(-3000)}`);
      if (Date.now() > deadline) throw new Error(`testpmd never printed ${re}:\n${this.output.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Types a command at the interactive prompt. */
  command(line: string): void {
    this.proc.stdin!.write(`${line}\n`);
  }

  /** Stops testpmd (SIGINT) and returns everything it printed. */
  stop(): Promise<string> {
    return new Promise((resolve) => {
      if (this.proc.exitCode !== null) return resolve(this.output);
      const kill = setTimeout(() => this.proc.kill('SIGKILL'), 15_000);
      this.proc.once('exit', () => {
        clearTimeout(kill);
        resolve(this.output);
      });
      this.proc.kill('SIGINT');
    });
  }
}

export interface PortTotals {
  rxPackets: number;
  rxDropped: number;
  txPackets: number;
  txDropped: number;
  rxErrors: number;
}

/** The "Accumulated forward statistics for all ports" block testpmd prints when it stops. */
export function accumulated(output: string): PortTotals {
  const block = output.slice(output.lastIndexOf('Accumulated forward statistics'));
  const num = (re: RegExp, text = block): number => {
    const m = text.match(re);
    if (m === null) throw new Error(`no ${re} in testpmd's totals:\n${block.slice(0, 800)}`);
    return Number(m[1]);
  };
  const errors = [...output.matchAll(/RX-errors:\s+(\d+)/g)].map((m) => Number(m[1]));
  return {
    rxPackets: num(/RX-packets:\s+(\d+)/),
    rxDropped: num(/RX-dropped:\s+(\d+)/),
    txPackets: num(/TX-packets:\s+(\d+)/),
    txDropped: num(/TX-dropped:\s+(\d+)/),
    rxErrors: errors.length === 0 ? 0 : errors[errors.length - 1],
  };
}
