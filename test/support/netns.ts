import { execFileSync, spawn } from 'node:child_process';
import { killOnExit } from '../../src/os/child-guard.js';

// Network namespaces a test creates, and commands run in them.

export const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8' });

/** Runs `command` in namespace `ns` and resolves with its output; rejects if it exits non-zero. */
export function inNamespace(ns: string, command: string[], onLine?: (line: string) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = killOnExit(spawn('ip', ['netns', 'exec', ns, ...command], { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    let err = '';
    p.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (onLine !== undefined) c.toString().split('\n').forEach(onLine);
    });
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    p.once('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${command.join(' ')} in ${ns} exited ${code}: ${err}${out}`)),
    );
  });
}
