import type { ChildProcess } from 'node:child_process';

const live = new Set<ChildProcess>();
let hooked = false;

/**
 * Kills `child` (SIGKILL) if this process exits while it still runs: a benchmark or test that stops early (an error,
 * a timeout) must not leave daemons, testpmd or QEMU behind holding sockets and the output pipe.
 */
export function killOnExit<C extends ChildProcess>(child: C): C {
  if (!hooked) {
    hooked = true;
    process.on('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}
