import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { killOnExit } from '../../src/os/child-guard.js';

const SCRIPT = fileURLToPath(new URL('../../scripts/guest-env.sh', import.meta.url));

/** Every ring layout with IN_ORDER on and off: what each guest test runs. */
export const GUEST_CASES = (['split', 'packed'] as const).flatMap((ring) =>
  [true, false].map((inOrder) => ({ ring, inOrder })),
);

/**
 * For a test file: a temporary folder (removed after) and the guest environment (built before the tests, which may
 * take minutes on a fresh machine).
 */
export function useGuestEnv(prefix: string): { dir: string; env: string } {
  const dirs = { dir: mkdtempSync(join(tmpdir(), prefix)), env: '' };
  beforeAll(() => {
    dirs.env = guestEnv();
  }, 600_000);
  afterAll(() => rmSync(dirs.dir, { recursive: true, force: true }));
  return dirs;
}

/** The guest environment's cache folder (scripts/guest-env.sh builds it on first use). */
export function guestEnv(): string {
  const out = execFileSync('bash', [SCRIPT], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return out.trim().split('\n').pop()!;
}

export interface GuestOptions {
  /** What test/guest/init runs and its arguments: vq.mode=... vq.KEY=VALUE. */
  args: Record<string, string | number>;
  /** More kernel command-line parameters. */
  kernelArgs?: string[];
  /** QEMU's device options for the vhost-user socket. */
  device: string[];
}

/** A Linux guest under QEMU (TCG) on the serial console; its "VQ-" lines are what tests read. */
export class Guest {
  readonly proc: ChildProcess;
  output = '';

  constructor(env: string, o: GuestOptions) {
    const append = [
      'console=ttyS0',
      'quiet',
      'panic=-1',
      ...(o.kernelArgs ?? []),
      ...Object.entries(o.args).map(([k, v]) => `vq.${k}=${v}`),
    ];
    this.proc = killOnExit(
      spawn(
        'qemu-system-x86_64',
        [
          '-accel',
          'tcg',
          '-m',
          '512',
          '-smp',
          '1',
          '-object',
          'memory-backend-memfd,id=mem,size=512M,share=on',
          '-numa',
          'node,memdev=mem',
          '-kernel',
          join(env, 'kernel/vmlinuz'),
          '-initrd',
          join(env, 'initramfs.gz'),
          '-append',
          append.join(' '),
          '-display',
          'none',
          '-serial',
          'stdio',
          '-monitor',
          'none',
          '-no-reboot',
          ...o.device,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      ),
    );
    const take = (c: Buffer): void => void (this.output += c.toString());
    this.proc.stdout!.on('data', take);
    this.proc.stderr!.on('data', take);
  }

  /** The first line matching `re`, waiting for it (rejects when QEMU exits first or after `ms`). */
  async line(re: RegExp, ms = 240_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + ms;
    for (;;) {
      for (const l of this.output.split(/\r?\n/)) {
        const m = l.match(re);
        if (m !== null) return m;
      }
      if (this.proc.exitCode !== null) throw new Error(`the guest stopped before ${re}:\n${this.output.slice(-3000)}`);
      if (Date.now() > deadline) throw new Error(`no ${re} from the guest:\n${this.output.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The negotiated feature bits the guest reported for virtio device `id` (1 net, 19 vsock). */
  async features(id: number): Promise<bigint> {
    const m = await this.line(new RegExp(`^VQ-FEATURES device=0x${id.toString(16).padStart(4, '0')} ([01]+)`));
    return [...m[1]].reduce((acc, c, i) => (c === '1' ? acc | (1n << BigInt(i)) : acc), 0n);
  }

  /**
   * The end of every guest test: how many virtio, vsock or vhost errors the guest found in its kernel log; then it
   * powers off and QEMU exits.
   */
  async finish(): Promise<number> {
    const errors = Number((await this.line(/^VQ-KERNEL-ERRORS (\d+)/))[1]);
    await this.line(/^VQ-DONE/);
    await this.exited();
    return errors;
  }

  /** Waits for QEMU to exit (the guest powers off after its test), killing it after `ms`. */
  exited(ms = 240_000): Promise<number | null> {
    return new Promise((resolve) => {
      if (this.proc.exitCode !== null) return resolve(this.proc.exitCode);
      const kill = setTimeout(() => this.proc.kill('SIGKILL'), ms);
      this.proc.once('exit', (code) => {
        clearTimeout(kill);
        resolve(code);
      });
    });
  }
}
