import { spawn } from 'node:child_process';
import { closeFd } from '../os/fd.js';

/** A connection served by a child process of its own. */
export interface SessionChild {
  readonly pid: number;
  /** How the child ended, in words ("exited with code 0", "killed by SIGBUS"). */
  readonly ended: Promise<string>;
  /** Asks the child to finish its session and exit (SIGTERM). */
  stop(): void;
}

/**
 * Serves one connection from a child process: the same program (`argv`, run by this Node) gets the connection as
 * its fd 3 and this process lets go of it. Whatever the child meets - a front-end that truncates the memory it
 * shared (SIGBUS), a crash - ends that child alone.
 */
export function spawnSessionChild(fd: number, argv: readonly string[]): SessionChild {
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'inherit', 'inherit', fd] });
  // The child has its own copy now (or spawning failed, and the connection is dropped either way).
  closeFd(fd);
  const ended = new Promise<string>((resolve) => {
    child.once('error', (e) => resolve(`could not start: ${e.message}`));
    child.once('exit', (code, signal) => resolve(signal !== null ? `killed by ${signal}` : `exited with code ${code}`));
  });
  return {
    pid: child.pid ?? -1,
    ended,
    stop: () => void child.kill('SIGTERM'),
  };
}
