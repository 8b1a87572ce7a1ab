import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, release } from 'node:os';

/** Where and with what a benchmark ran: every report carries it, so a figure can be traced to its machine. */
export interface MachineInfo {
  cpus: number;
  model: string;
  kernel: string;
  node: string;
  vqkit: string;
  /** The installed DPDK package, for suites that run it. */
  dpdk?: string;
}

export function machineInfo(withDpdk = false): MachineInfo {
  const info: MachineInfo = {
    cpus: availableParallelism(),
    model: cpus()[0]?.model ?? 'unknown',
    kernel: release(),
    node: process.version,
    vqkit: vqkitVersion(),
  };
  if (withDpdk) info.dpdk = dpdkVersion();
  return info;
}

function vqkitVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** The installed DPDK package's version. */
function dpdkVersion(): string {
  try {
    return execFileSync('dpkg-query', ['-W', '-f', '${Version}', 'dpdk'], { encoding: 'utf8' });
  } catch {
    return 'not installed';
  }
}
