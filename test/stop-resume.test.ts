import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { VsockConnection } from '../src/devices/vsock/endpoint.js';
import { VsockPort } from '../src/drivers/vsock/vsock-port.js';
import { hostConnect, hostListen, readAll } from '../src/harness/vsock-host.js';
import { VhostUserRequest as R } from '../src/spec/vhost-user.js';
import type { VhostUserConnection } from '../src/transport/vhost-user/connection.js';
import { encodeVringState } from '../src/transport/vhost-user/messages.js';
import { ServeProcess } from './support/serve-process.js';
import { runNetTraffic } from '../src/drivers/net/net-frontend.js';
import { traffic } from '../src/harness/bench-scale.js';

// Stop and resume under traffic (issue #20, part 5): the front-end disables and re-enables every ring many times
// while streams run (what a VM stop/resume does to a vhost-user back-end). Each stop must remember where the ring
// really stopped, so the resumed ring neither re-reads consumed buffers nor skips any: every stream arrives whole.

const dir = mkdtempSync(join(tmpdir(), 'vq-stop-resume-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const MiB = 1 << 20;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Disables and re-enables rings `queues` every `everyMs` until stopped; returns how many cycles it made. */
function cycleRings(conn: VhostUserConnection, queues: number[], everyMs: number) {
  let cycles = 0;
  const send = (request: number, payload: Uint8Array): void => conn.send(request, payload);
  const timer = setInterval(() => {
    if (conn.closed) return;
    for (const index of queues) send(R.SET_VRING_ENABLE, encodeVringState({ index, num: 0 }));
    for (const index of queues) send(R.SET_VRING_ENABLE, encodeVringState({ index, num: 1 }));
    cycles++;
  }, everyMs);
  return { stop: () => (clearInterval(timer), cycles) };
}

describe('stop and resume under traffic', () => {
  it.each(['split', 'packed'] as const)(
    'vsock (%s, IN_ORDER): streams both ways and host connections opening and closing, rings stopped and resumed throughout',
    async (ring) => {
      const socket = join(dir, `vsock-${ring}.sock`);
      const uds = join(dir, `vsock-${ring}.uds`);
      const d = new ServeProcess('vsock', socket, ['--uds-path', uds, '--guest-cid', '42']);
      let port: VsockPort | null = null;
      let cycler: ReturnType<typeof cycleRings> | null = null;
      try {
        await d.waitFor(/listening on/);
        port = await VsockPort.open(socket, {
          ring,
          inOrder: true,
          indirect: false,
          eventIdx: true,
          queueSize: 128,
          idleTimeoutMs: 30_000,
        });
        const running = port.run();
        await d.waitFor(/host programs connect to/);
        const from = d.lines.length;
        cycler = cycleRings(port.conn, [0, 1, 2], 3);

        // Host to guest: the guest echoes a digest of each stream.
        port.endpoint.listen(6000, (g: VsockConnection) => {
          g.accept();
          const hash = createHash('sha256');
          g.onData = (b) => {
            hash.update(b);
            g.consumed(b.length);
          };
          g.onEnd = () => {
            g.write(Buffer.from(`${hash.digest('hex')}\n`));
            g.shutdown();
          };
          g.onClose = () => {};
        });
        const down = Array.from({ length: 4 }, () => randomBytes(4 * MiB));
        const downChecks = down.map(async (data) => {
          const { socket: s } = await hostConnect(uds, 6000);
          const reply = readAll(s);
          s.resume();
          s.end(data);
          return (await reply).toString().trim() === sha(data);
        });
        // Host connections opened and dropped meanwhile (their close handlers run while rings are stopped).
        const drops = Array.from({ length: 20 }, async () => {
          const { socket: s } = await hostConnect(uds, 6000);
          s.on('error', () => {});
          s.write(randomBytes(64 * 1024));
          s.destroy();
        });
        // Guest to host: the host program answers with a digest.
        const server = await hostListen(uds, 5000, (s) => {
          void readAll(s).then((got) => s.end(`${sha(got)}\n`));
        });
        const up = randomBytes(8 * MiB);
        const conn = port.endpoint.connect(5000);
        const answer = new Promise<string>((resolve, reject) => {
          const parts: Buffer[] = [];
          conn.onConnected = () => {
            conn.write(up);
            conn.shutdown(2);
          };
          conn.onData = (b) => {
            parts.push(Buffer.from(b));
            conn.consumed(b.length);
          };
          conn.onEnd = () => resolve(Buffer.concat(parts).toString().trim());
          conn.onClose = (why) =>
            why === 'closed' ? resolve(Buffer.concat(parts).toString().trim()) : reject(new Error(why));
        });

        const downs = await Promise.all(downChecks.map((p) => p.catch((e: Error) => e.message)));
        // Why a stream broke, if one did: what the guest refused last.
        expect({ downs, guestRefused: port.endpoint.lastError?.message ?? null }).toEqual({
          downs: [true, true, true, true],
          guestRefused: null,
        });
        expect(await answer).toBe(sha(up));
        await Promise.all(drops);
        const cycles = cycler.stop();
        server.close();
        expect(cycles).toBeGreaterThanOrEqual(10);
        // Every ring was stopped and started again many times, and none failed.
        const log = d.lines.slice(from);
        expect(log.filter((l) => /queue 1 started/.test(l)).length).toBeGreaterThanOrEqual(10);
        expect(log.filter((l) => /queue \d+: |internal error|used after close/.test(l))).toEqual([]);
        port.close();
        expect(await running).toBeNull();
      } finally {
        cycler?.stop();
        port?.close();
        await d.stop();
      }
    },
  );

  it.each([
    { ring: 'split', mergeable: false },
    { ring: 'split', mergeable: true },
    { ring: 'packed', mergeable: false },
    { ring: 'packed', mergeable: true },
  ] as const)(
    'net ($ring, IN_ORDER, mergeable $mergeable): numbered frames through a loop back-end arrive once each, in order, while every ring is stopped and resumed',
    async (c) => {
      const socket = join(dir, `net-${c.ring}-${c.mergeable}.sock`);
      const d = new ServeProcess('net', socket, ['--backend', 'loop']);
      try {
        await d.waitFor(/listening on/);
        const from = d.lines.length;
        const r = await runNetTraffic(socket, {
          ...traffic,
          ring: c.ring,
          mergeable: c.mergeable,
          frames: 200_000,
          restartRingsEveryMs: 2,
        });
        // The driver checks every frame's number and bytes: none lost, repeated or reordered.
        expect(r.failure).toBeNull();
        expect(r.ringRestarts).toBeGreaterThanOrEqual(10);
        const log = d.lines.slice(from);
        expect(log.filter((l) => /queue 1 started/.test(l)).length).toBeGreaterThanOrEqual(10);
        expect(log.filter((l) => /queue \d+(,\d+)*: |internal error/.test(l))).toEqual([]);
      } finally {
        await d.stop();
      }
    },
  );
});
