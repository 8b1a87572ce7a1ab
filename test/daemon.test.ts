import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeFd } from '../src/os/fd.js';
import { recvWithFds, trySendWithFds } from '../src/os/fd-passing.js';
import { connectUnix } from '../src/os/unix-socket.js';
import { ReadinessLoop } from '../src/runtime/readiness-loop.js';
import { VHOST_USER_F_PROTOCOL_FEATURES, VHOST_USER_VERSION, VhostUserRequest as R } from '../src/spec/vhost-user.js';
import { VhostUserConnection } from '../src/transport/vhost-user/connection.js';
import { decodeU64, encodeMessage } from '../src/transport/vhost-user/messages.js';
import { runNetTraffic, type NetTrafficOptions } from '../src/transport/vhost-user/net-frontend.js';
import { bit } from '../src/virtqueue/features.js';
import { ServeProcess } from './support/serve-process.js';

const traffic: NetTrafficOptions = {
  ring: 'split',
  inOrder: true,
  mergeable: true,
  indirect: false,
  eventIdx: false,
  control: true,
  queueSize: 256,
  pairs: 1,
  frames: 2000,
  frameSize: 'random',
  window: 64,
  idleTimeoutMs: 20_000,
  seed: 5,
};

describe('one daemon, several ports: the control plane', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vq-daemon-'));
  const sockets = [0, 1, 2].map((i) => join(dir, `p${i}.sock`));
  let daemon: ServeProcess;
  beforeAll(async () => {
    daemon = new ServeProcess(
      'net',
      sockets[0],
      sockets.slice(1).flatMap((s) => ['--socket', s]),
    );
    for (const s of sockets) await daemon.waitFor(new RegExp(`listening on ${s}`));
  });
  afterAll(async () => {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers 10,000 pipelined requests, every one, in order', async () => {
    const conn = new VhostUserConnection(connectUnix(sockets[0]), false);
    try {
      // All sent before any reply is read: the socket fills both ways and both sides must queue, not fail.
      for (let i = 0; i < 10_000; i++) conn.send(i % 2 === 0 ? R.GET_FEATURES : R.GET_PROTOCOL_FEATURES);
      const seen = new Map<number, Set<bigint>>();
      for (let i = 0; i < 10_000; i++) {
        const m = await conn.receive();
        expect(m, `reply ${i}`).not.toBeNull();
        expect(m!.request).toBe(i % 2 === 0 ? R.GET_FEATURES : R.GET_PROTOCOL_FEATURES);
        const values = seen.get(m!.request) ?? new Set();
        values.add(decodeU64(m!));
        seen.set(m!.request, values);
      }
      // Every answer to the same question is the same answer.
      expect(seen.get(R.GET_FEATURES)!.size).toBe(1);
      expect(seen.get(R.GET_PROTOCOL_FEATURES)!.size).toBe(1);
      expect([...seen.get(R.GET_FEATURES)!][0] & bit(VHOST_USER_F_PROTOCOL_FEATURES)).not.toBe(0n);
    } finally {
      conn.close();
    }
  });

  it('a front-end that floods requests and reads no reply stalls only its own port', async () => {
    // A raw socket: it writes GET_FEATURES until its socket buffer is full and never reads.
    const fd = connectUnix(sockets[1]);
    const request = encodeMessage(R.GET_FEATURES, VHOST_USER_VERSION);
    let sent = 0;
    try {
      const loop = ReadinessLoop.shared();
      // Write until the socket is full, a few times over while the daemon reads what it can (it stops reading once
      // the replies it cannot send pile up; how far it gets does not matter).
      for (let round = 0; round < 5; round++) {
        while (trySendWithFds(fd, request) === request.length) sent++;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(sent).toBeGreaterThan(1000);

      // Meanwhile another port of the same daemon carries verified traffic.
      const r = await runNetTraffic(sockets[2], traffic);
      expect(r.failure).toBeNull();
      expect(r.pairs[0]).toMatchObject({ sent: 2000, received: 2000, bad: 0 });

      // And the flooding front-end, once it reads, gets every reply it asked for.
      // Reading makes room: the daemon reads the rest of what was written and answers it too.
      let replies = 0;
      let pending = new Uint8Array(0);
      while (replies < sent) {
        if (!(await loop.readable(fd))) break;
        const got = recvWithFds(fd, 65536);
        if (got === null) continue;
        expect(got.data.length).toBeGreaterThan(0);
        const all = new Uint8Array(pending.length + got.data.length);
        all.set(pending);
        all.set(got.data, pending.length);
        const whole = Math.floor(all.length / 20);
        for (let i = 0; i < whole; i++)
          expect(new DataView(all.buffer, i * 20).getUint32(0, true)).toBe(R.GET_FEATURES);
        replies += whole;
        pending = all.slice(whole * 20);
      }
      expect(replies).toBe(sent);
    } finally {
      closeFd(fd);
    }
  });
});
