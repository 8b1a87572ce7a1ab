import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { killOnExit, stopChild } from '../../src/os/child-guard.js';
import { heldKernelObjects } from '../../src/os/fd.js';

export const VQ = fileURLToPath(new URL('../../bin/vq.js', import.meta.url));

/** A `vq` command (or another node script) as a real second process; its output lines are events tests wait for. */
export class VqProcess {
  readonly proc: ChildProcess;
  readonly lines: string[] = [];
  #waiters: { re: RegExp; from: number; resolve: (line: string) => void }[] = [];

  /**
   * `netns`: a network namespace to run in (`ip netns exec` replaces itself with vq: the pid is vq's). `script`: a
   * node script to run instead of vq.
   */
  constructor(args: string[], netns?: string, script = VQ) {
    const command = [process.execPath, script, ...args];
    if (netns !== undefined) command.unshift('ip', 'netns', 'exec', netns);
    this.proc = killOnExit(spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] }));
    let partial = '';
    this.proc.stdout!.on('data', (chunk: Buffer) => {
      partial += chunk.toString();
      const parts = partial.split('\n');
      partial = parts.pop()!;
      for (const line of parts) {
        this.lines.push(line);
        this.#waiters = this.#waiters.filter((w) => {
          const hit = this.lines.slice(w.from).find((l) => w.re.test(l));
          if (hit !== undefined) w.resolve(hit);
          return hit === undefined;
        });
      }
    });
  }

  /** The first log line matching `re` from line `from` on (default: any). */
  waitFor(re: RegExp, from = 0): Promise<string> {
    const hit = this.lines.slice(from).find((l) => re.test(l));
    if (hit !== undefined) return Promise.resolve(hit);
    return new Promise((resolve) => this.#waiters.push({ re, from, resolve }));
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /** Ends the process with SIGINT (it finishes its work and prints its summary) and waits for it. */
  stop(): Promise<void> {
    return stopChild(this.proc);
  }
}

/** `vq serve KIND` as a real second process. */
export class ServeProcess extends VqProcess {
  constructor(
    kind: string,
    readonly socket: string,
    args: string[] = [],
    netns?: string,
  ) {
    super(['serve', kind, '--socket', socket, ...args], netns);
  }

  /** Waits until the session that connected after log line `from` has ended (its own "gone" line, not another's). */
  async sessionEnded(from: number): Promise<void> {
    const connected = await this.waitFor(/front-end connected \(session \d+/, from);
    const n = /session (\d+)/.exec(connected)![1];
    await this.waitFor(new RegExp(`front-end gone \\(session ${n}\\)`), from);
  }

  /**
   * The daemon's open eventfds, memfds and sockets: what a front-end can make it hold. Plain files are left out (a
   * data-plane thread loading a module opens them for a moment).
   */
  openFds(): number {
    return this.#fdLinks().length;
  }

  #fdLinks(): string[] {
    return heldKernelObjects(this.pid).map(({ fd, target }) => `${fd} -> ${target}`);
  }

  /**
   * Waits (up to 10 s) for the daemon to hold `n` such fds, and returns what it holds then: a session's fds are
   * released when it ends, but the check must not race the last close.
   */
  async settledFds(n: number): Promise<{ count: number; links: string }> {
    const deadline = Date.now() + 10_000;
    let links = this.#fdLinks();
    while (links.length !== n && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      links = this.#fdLinks();
    }
    return { count: links.length, links: links.join('\n') };
  }

  guestMappings(): number {
    return readFileSync(`/proc/${this.pid}/maps`, 'utf8')
      .split('\n')
      .filter((l) => l.includes('memfd:vqkit-guest')).length;
  }
}
