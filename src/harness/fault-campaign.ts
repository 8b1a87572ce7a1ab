import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killOnExit, stopChild } from '../os/child-guard.js';
import { heldKernelObjects } from '../os/fd.js';
import { runNetTraffic } from '../drivers/net/net-frontend.js';
import { Prng } from '../util/prng.js';
import { machineInfo, type MachineInfo } from './machine.js';
import { procStatus, sleep, startDaemon, traffic, VQ } from './bench-scale.js';

export interface FaultCampaignOptions {
  /** Front-ends started and killed with SIGKILL. */
  cycles: number;
  /** Each is killed this long after it starts, at most (a uniform random delay from the seed). */
  maxDelayMs: number;
  seed: number;
  command: string;
  onProgress?: (done: number, total: number, what: string) => void;
}

/** Where a kill landed, as the daemon's log tells it. */
export type KillMoment = 'before connecting' | 'during setup' | 'during traffic';

export interface FaultCampaignReport {
  suite: 'faults';
  machine: MachineInfo;
  command: string;
  date: string;
  cycles: number;
  seed: number;
  maxDelayMs: number;
  durationMs: number;
  /** How many kills landed where. */
  moments: Record<KillMoment, number>;
  /** The daemon's eventfds, memfds and sockets, and RSS: after the first cycle, at the end, and the highest seen. */
  fds: { first: number; last: number; max: number };
  /**
   * The daemon's fds with no front-end connected: before the campaign, and once it and the other port's traffic
   * have ended (the samples above depend on whether the other port is between runs when taken).
   */
  idleFds: { before: number; after: number };
  rssBytes: { first: number; last: number; max: number };
  /** The daemon's RSS every 100 cycles (flat after warming up, or it leaks). */
  rssEvery100: number[];
  /** The other port, carrying verified traffic all along. */
  bystander: { runs: number; frames: number; failures: string[] };
  /** A new front-end on the port the killed ones used, at the end. */
  fresh: { frames: number; failure: string | null };
  /** Sessions the daemon still had open after a killed front-end's process was gone (should be none). */
  stuckSessions: number;
}

/**
 * The fault campaign: one `vq serve net --backend loop` daemon with two ports. On one, front-ends (`vq net-traffic`
 * processes) are started and killed with SIGKILL after a random delay: before they connect, mid-setup, mid-traffic.
 * On the other, verified traffic runs all along. After each kill the daemon must end that session; at the end a new
 * front-end must work on the same socket, and the daemon's fds and memory must not have grown.
 */
export async function runFaultCampaign(o: FaultCampaignOptions): Promise<FaultCampaignReport> {
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'vq-faults-'));
  const log: string[] = [];
  const daemon = await startDaemon(dir, 2, 2, (line) => log.push(line));
  const [victimSocket, bystanderSocket] = daemon.sockets;
  const random = new Prng(o.seed);
  const moments: Record<KillMoment, number> = { 'before connecting': 0, 'during setup': 0, 'during traffic': 0 };
  const bystander = { runs: 0, frames: 0, failures: [] as string[] };
  const pid = daemon.proc.pid!;
  // The idle baseline after one front-end has come and gone: the daemon makes some fds once, at its first session.
  const warmUp = log.length;
  await runNetTraffic(victimSocket, { ...traffic, frames: 1000 });
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(2)) {
    if (log.slice(warmUp).some((l) => /net0: front-end gone/.test(l))) break;
  }
  const idleFds = { before: heldKernelObjects(pid).length, after: 0 };
  /** The daemon's fds once they have fallen to `atMost` (or after 10 s, however many are left). */
  const idle = async (atMost: number): Promise<number> => {
    const deadline = Date.now() + 10_000;
    let n = heldKernelObjects(pid).length;
    while (n > atMost && Date.now() < deadline) {
      await sleep(20);
      n = heldKernelObjects(pid).length;
    }
    return n;
  };
  let campaignOver = false;
  const bystanderRuns = (async () => {
    while (!campaignOver) {
      const r = await runNetTraffic(bystanderSocket, { ...traffic, frames: 20_000 });
      bystander.runs++;
      bystander.frames += r.pairs[0]?.received ?? 0;
      if (r.failure !== null || r.pairs[0]?.bad !== 0) bystander.failures.push(r.failure ?? 'bad frames');
    }
  })();
  const fds = { first: 0, last: 0, max: 0 };
  const rss = { first: 0, last: 0, max: 0 };
  let stuckSessions = 0;
  const rssEvery100: number[] = [];
  try {
    for (let cycle = 0; cycle < o.cycles; cycle++) {
      o.onProgress?.(cycle, o.cycles, 'kill cycles');
      const from = log.length;
      const frontend = killOnExit(
        spawn(process.execPath, [VQ, 'net-traffic', '--vhost-user', victimSocket, '--frames', '1000000'], {
          stdio: 'ignore',
        }),
      );
      await sleep(random.int(0, o.maxDelayMs));
      const exited = new Promise((r) => frontend.once('exit', r));
      frontend.kill('SIGKILL');
      await exited;
      // The daemon ends the session when it sees the socket close; wait for it (and say so if it never does).
      const mine = log.slice(from).find((l) => /p0\.sock|net0:/.test(l) && /front-end connected/.test(l));
      if (mine === undefined) moments['before connecting']++;
      else {
        moments[log.slice(from).some((l) => /net0: queue 1 started/.test(l)) ? 'during traffic' : 'during setup']++;
        const deadline = Date.now() + 10_000;
        while (!log.slice(from).some((l) => /net0: front-end gone/.test(l))) {
          if (Date.now() > deadline) {
            stuckSessions++;
            break;
          }
          await sleep(2);
        }
      }
      const f = heldKernelObjects(pid).length;
      const m = procStatus(pid).rssBytes;
      if (cycle === 0) [fds.first, rss.first] = [f, m];
      [fds.last, rss.last] = [f, m];
      fds.max = Math.max(fds.max, f);
      if ((cycle + 1) % 100 === 0) rssEvery100.push(m);
      rss.max = Math.max(rss.max, m);
    }
    campaignOver = true;
    await bystanderRuns;
    // The other port's last session ends when the daemon sees its socket close.
    idleFds.after = await idle(idleFds.before);
    const r = await runNetTraffic(victimSocket, { ...traffic, frames: 20_000 });
    return {
      suite: 'faults',
      machine: machineInfo(),
      command: o.command,
      date: new Date().toISOString(),
      cycles: o.cycles,
      seed: o.seed,
      maxDelayMs: o.maxDelayMs,
      durationMs: Date.now() - started,
      moments,
      fds,
      idleFds,
      rssBytes: rss,
      rssEvery100,
      bystander,
      fresh: { frames: r.pairs[0]?.received ?? 0, failure: r.failure },
      stuckSessions,
    };
  } finally {
    campaignOver = true;
    await bystanderRuns.catch(() => {});
    await stopChild(daemon.proc);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The campaign's figures as text, with whether each holds. */
export function renderFaultCampaign(r: FaultCampaignReport): string {
  const mb = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;
  const ok = (b: boolean): string => (b ? 'ok' : 'FAILED');
  const secs = (r.durationMs / 1000).toFixed(0);
  return [
    `Fault campaign: ${r.cycles} front-ends killed with SIGKILL (delay 0-${r.maxDelayMs} ms, seed ${r.seed}) in ${secs} s`,
    `  killed ${Object.entries(r.moments)
      .map(([k, n]) => `${k}: ${n}`)
      .join(', ')}`,
    `  daemon fds (eventfd, memfd, socket): after the first ${r.fds.first}, at the end ${r.fds.last}, highest ` +
      `${r.fds.max}; with no front-end connected ${r.idleFds.before} before, ${r.idleFds.after} after: ` +
      `${ok(r.idleFds.after <= r.idleFds.before)}`,
    `  daemon RSS: after the first ${mb(r.rssBytes.first)}, at the end ${mb(r.rssBytes.last)}, highest ` +
      `${mb(r.rssBytes.max)}`,
    `  daemon RSS every 100 cycles: ${r.rssEvery100.map(mb).join(', ') || '-'}`,
    `  sessions not ended after their front-end died: ${r.stuckSessions}: ${ok(r.stuckSessions === 0)}`,
    `  the other port: ${r.bystander.runs} verified runs, ${r.bystander.frames} frames, ` +
      `${r.bystander.failures.length} failures: ${ok(r.bystander.failures.length === 0 && r.bystander.runs > 0)}`,
    `  a new front-end on the same socket: ${r.fresh.frames} frames back, ${r.fresh.failure ?? 'verified'}: ` +
      `${ok(r.fresh.failure === null)}`,
  ].join('\n');
}
