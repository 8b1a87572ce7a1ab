import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Surface } from './target.js';

/** Where the campaign keeps its inputs, from the project root: the corpus and the regression cases are committed. */
export const fuzzDirs = (root: string, surface: Surface) => ({
  corpus: join(root, 'fuzz', 'corpus', surface),
  regressions: join(root, 'fuzz', 'regressions', surface),
  crashes: join(root, 'fuzz', 'crashes', surface),
});

/** Every input file in `dir` (none if it does not exist), by name. */
export function readInputs(dir: string): { name: string; data: Uint8Array }[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => !name.endsWith('.txt'))
    .sort()
    .map((name) => ({ name, data: new Uint8Array(readFileSync(join(dir, name))) }));
}

/** An input's file name: a hash of its bytes, so the same input is stored once. */
export const inputName = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex').slice(0, 16);

/** Replaces the inputs in `dir` with `inputs`. */
export function writeInputs(dir: string, inputs: readonly Uint8Array[]): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const data of inputs) writeFileSync(join(dir, inputName(data)), data);
}

/** Saves a failing input with a note of how it failed; returns its path. */
export function saveFailure(dir: string, data: Uint8Array, message: string): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, inputName(data));
  writeFileSync(path, data);
  writeFileSync(`${path}.txt`, `${message}\n`);
  return path;
}
