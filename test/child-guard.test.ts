import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { stopChild } from '../src/os/child-guard.js';

describe('killOnExit', () => {
  it('kills a child still running when its parent exits (nothing left behind after an early stop)', () => {
    // A parent that starts `sleep 60` under killOnExit, prints its pid and exits at once.
    const script = `
      import { spawn } from 'node:child_process';
      import { killOnExit } from '${new URL('../dist/os/child-guard.js', import.meta.url).href}';
      const c = killOnExit(spawn('sleep', ['60'], { stdio: 'ignore' }));
      console.log(c.pid);
      process.exit(0);
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const pid = Number(r.stdout.trim());
    expect(pid).toBeGreaterThan(0);
    // SIGKILL is delivered before the parent's exit returns; /proc shows at most a zombie being reaped by init.
    const state = existsSync(`/proc/${pid}/stat`) ? readState(pid) : 'gone';
    expect(['gone', 'Z']).toContain(state);
  });
});

describe('stopChild', () => {
  it('sends SIGINT and resolves once the child has exited, at once if it already has', async () => {
    const code =
      "process.on('SIGINT', () => { console.log('stopping'); process.exit(3); }); setInterval(() => {}, 1000); console.log('up');";
    const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => void (out += d.toString()));
    while (!out.includes('up')) await new Promise((r) => setTimeout(r, 10));
    await stopChild(child);
    expect(child.exitCode).toBe(3);
    expect(out).toContain('stopping');
    await stopChild(child);
    expect(child.exitCode).toBe(3);
  });
});

function readState(pid: number): string {
  // The file may vanish between the two looks: then it is gone.
  const stat = spawnSync('cat', [`/proc/${pid}/stat`], { encoding: 'utf8' }).stdout;
  return stat === '' ? 'gone' : stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
}
