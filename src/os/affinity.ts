import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { loadLibc } from './libc.js';

type SetAffinity = (pid: number, size: number, mask: Uint8Array) => number;
let setAffinity: SetAffinity | null | undefined;

/** sched_setaffinity(2) through koffi, loaded on first use; null where it cannot be had. */
function loadSetAffinity(): SetAffinity | null {
  if (setAffinity !== undefined) return setAffinity;
  try {
    const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
    const libc = koffi.load('libc.so.6');
    setAffinity = libc.func('int sched_setaffinity(int pid, size_t size, uint8_t *mask)') as SetAffinity;
  } catch {
    setAffinity = null;
  }
  return setAffinity;
}

/**
 * Pins the calling thread (pid 0 means the caller's thread id on Linux) to one CPU. Returns false where pinning is
 * not possible (no such CPU, no koffi, not Linux); the caller reports it rather than failing.
 */
export function pinCurrentThread(cpu: number): boolean {
  if (process.platform !== 'linux' || cpu < 0 || cpu >= availableParallelism()) return false;
  const fn = loadSetAffinity();
  if (fn === null) return false;
  const mask = new Uint8Array(128);
  mask[cpu >> 3] = 1 << (cpu & 7);
  return fn(0, mask.length, mask) === 0;
}

/**
 * Blocks every signal in the calling thread, so that signals (SIGINT, SIGTERM) go to the main thread, whose event
 * loop handles them, and never interrupt a data-plane thread asleep in a system call. Faults (SIGBUS, SIGSEGV) are
 * delivered to the faulting thread whatever the mask.
 */
export function blockSignalsInThisThread(): boolean {
  const all = new Uint8Array(128).fill(0xff);
  return Number(loadLibc().pthread_sigmask(0 /* SIG_BLOCK */, all, new Uint8Array(128))) === 0;
}
