import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { VsockPort } from '../drivers/vsock/vsock-port.js';
import { killOnExit, stopChild } from '../os/child-guard.js';
import { Prng } from '../util/prng.js';
import { VQ, procStatus } from './bench-scale.js';
import { machineInfo, type MachineInfo } from './machine.js';
import { hostConnect, readAll } from './vsock-host.js';

export interface VsockFaultOptions {
  /** Host connections that send `bytesEach` and check the guest's digest of it. */
  survivors: number;
  bytesEach: number;
  /** Host connections closed mid-transfer (destroyed after a random part of `bytesEach`). */
  closed: number;
  seed: number;
  command: string;
}

export interface VsockFaultReport {
  suite: 'vsock-faults';
  machine: MachineInfo;
  command: string;
  date: string;
  survivors: number;
  bytesEach: number;
  closed: number;
  seed: number;
  durationMs: number;
  /** Survivors whose digest from the guest matched what they sent. */
  matched: number;
  mismatches: string[];
  /** Connections closed mid-transfer, and the bytes they had written when closed. */
  closedBytes: number;
  /** The daemon was still running at the end, and a new host connection echoed 1 MiB intact. */
  daemonUp: boolean;
  fresh: string | null;
  /** Guest connections still open once everything ended (should be none). */
  guestConnectionsLeft: number;
  daemonRssBytes: number;
  daemonLogErrors: string[];
}

const GUEST_PORT = 7000;
const CHUNK = 256 * 1024;

/**
 * vsock under faults: one `vq serve vsock` daemon, vqkit's vsock driver as the guest (in this process) hashing each
 * stream it receives and answering with the digest. `survivors` host connections each send `bytesEach` random bytes
 * and check the digest; meanwhile `closed` others are destroyed part-way through. Every survivor's digest must match,
 * and the daemon must stay up and serve a new connection.
 */
export async function runVsockFaults(o: VsockFaultOptions): Promise<VsockFaultReport> {
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'vq-vsock-faults-'));
  const socket = join(dir, 'vsock.sock');
  const uds = join(dir, 'vsock.uds');
  const log: string[] = [];
  const daemon = killOnExit(
    spawn(process.execPath, [VQ, 'serve', 'vsock', '--socket', socket, '--uds-path', uds, '--guest-cid', '42'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  const waitLog = (re: RegExp): Promise<void> =>
    new Promise((resolve, reject) => {
      if (log.some((l) => re.test(l))) return resolve();
      const onData = (): void => {
        if (log.some((l) => re.test(l))) {
          daemon.stdout!.off('data', onData);
          resolve();
        }
      };
      daemon.stdout!.on('data', onData);
      daemon.once('exit', (code) => reject(new Error(`vq serve vsock exited (${code}) before ${re}`)));
    });
  let partial = '';
  daemon.stdout!.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop()!;
    log.push(...lines);
  });
  let port: VsockPort | null = null;
  try {
    await waitLog(/listening on/);
    port = await VsockPort.open(socket, {
      ring: 'split',
      inOrder: true,
      indirect: false,
      eventIdx: true,
      queueSize: 256,
      idleTimeoutMs: 120_000,
    });
    const running = port.run();
    await waitLog(/host programs connect to/);
    port.endpoint.listen(GUEST_PORT, (conn) => {
      conn.accept();
      const hash = createHash('sha256');
      let bytes = 0;
      conn.onData = (b) => {
        hash.update(b);
        bytes += b.length;
        conn.consumed(b.length);
      };
      conn.onEnd = () => {
        conn.write(Buffer.from(`${hash.digest('hex')} ${bytes}\n`));
        conn.shutdown();
      };
      conn.onClose = () => {};
    });

    const rng = new Prng(o.seed);
    const survivors = Array.from({ length: o.survivors }, (_, i) => sendAndCheck(uds, o.bytesEach, i));
    let closedBytes = 0;
    const victims = Array.from({ length: o.closed }, async () => {
      const cut = rng.int(1, o.bytesEach);
      // Awaited first: `closedBytes += await ...` would read closedBytes before the wait and lose the others' sums.
      const written = await sendAndDestroy(uds, cut);
      closedBytes += written;
    });
    const results = await Promise.all(survivors);
    await Promise.all(victims);
    const mismatches = results.filter((r) => r !== null) as string[];

    const fresh = await sendAndCheck(uds, 1 << 20, -1);
    // Streams the guest still holds once every host socket has ended (RST or orderly close arrive first).
    let left = port.endpoint.connections;
    for (let i = 0; i < 50 && left > 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      left = port.endpoint.connections;
    }
    const daemonUp = daemon.exitCode === null && daemon.signalCode === null;
    const rss = daemonUp ? procStatus(daemon.pid!).rssBytes : 0;
    port.close();
    await running;
    return {
      suite: 'vsock-faults',
      machine: machineInfo(),
      command: o.command,
      date: new Date().toISOString(),
      survivors: o.survivors,
      bytesEach: o.bytesEach,
      closed: o.closed,
      seed: o.seed,
      durationMs: Date.now() - started,
      matched: o.survivors - mismatches.length,
      mismatches,
      closedBytes,
      daemonUp,
      fresh,
      guestConnectionsLeft: left,
      daemonRssBytes: rss,
      daemonLogErrors: log.filter((l) => /internal error|uncaught|fatal/i.test(l)),
    };
  } finally {
    port?.close();
    await stopChild(daemon);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Sends `bytes` random bytes to the guest port and checks its digest; null if it matched, else what went wrong. */
async function sendAndCheck(uds: string, bytes: number, which: number): Promise<string | null> {
  const { socket, reply } = await hostConnect(uds, GUEST_PORT);
  if (!reply.startsWith('OK')) return `connection ${which}: CONNECT answered ${JSON.stringify(reply)}`;
  const answer = readAll(socket);
  socket.resume();
  const hash = createHash('sha256');
  for (let sent = 0; sent < bytes;) {
    const chunk = randomBytes(Math.min(CHUNK, bytes - sent));
    hash.update(chunk);
    sent += chunk.length;
    if (!socket.write(chunk)) await new Promise((r) => socket.once('drain', r));
  }
  socket.end();
  const expected = `${hash.digest('hex')} ${bytes}\n`;
  const got = (await answer).toString();
  return got === expected
    ? null
    : `connection ${which}: the guest got ${JSON.stringify(got.trim())}, sent ${expected.trim()}`;
}

/** Sends up to `cut` bytes and destroys the socket mid-transfer; returns the bytes written. */
async function sendAndDestroy(uds: string, cut: number): Promise<number> {
  const { socket } = await hostConnect(uds, GUEST_PORT);
  socket.on('error', () => {});
  socket.resume();
  let sent = 0;
  while (sent < cut && !socket.destroyed) {
    const chunk = randomBytes(Math.min(CHUNK, cut - sent));
    sent += chunk.length;
    if (!socket.write(chunk)) await drainOrClose(socket);
  }
  socket.destroy();
  return sent;
}

const drainOrClose = (s: Socket): Promise<void> =>
  new Promise((resolve) => {
    const done = (): void => {
      s.off('drain', done);
      s.off('close', done);
      resolve();
    };
    s.on('drain', done);
    s.on('close', done);
  });

/** The report as text: what `vq bench vsock-faults` prints. */
export function renderVsockFaults(r: VsockFaultReport): string {
  const mib = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MiB`;
  return [
    `vsock under faults: ${r.survivors} host connections of ${mib(r.bytesEach)} each, ${r.closed} more closed mid-transfer (${mib(r.closedBytes)} written before they were), ${(r.durationMs / 1000).toFixed(1)} s`,
    `  survivors whose digest matched: ${r.matched} of ${r.survivors}${r.mismatches.length > 0 ? `\n    ${r.mismatches.join('\n    ')}` : ''}`,
    `  daemon: ${r.daemonUp ? 'still running' : 'GONE'}, RSS ${mib(r.daemonRssBytes)}, errors in its log: ${r.daemonLogErrors.length === 0 ? 'none' : r.daemonLogErrors.join('; ')}`,
    `  a new host connection afterwards: ${r.fresh === null ? '1 MiB, digest matched' : r.fresh}`,
    `  guest connections left open: ${r.guestConnectionsLeft}`,
  ].join('\n');
}
