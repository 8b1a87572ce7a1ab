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

/** Sends `signal` (SIGINT: the programs here stop cleanly on it) and resolves once `child` has exited. */
export function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGINT'): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}
