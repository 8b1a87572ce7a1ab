import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeFd } from '../src/os/fd.js';
import { EventFd } from '../src/os/eventfd.js';
import { recvWithFds, socketPair, trySendWithFds } from '../src/os/fd-passing.js';
import { check, loadLibc, MFD_CLOEXEC, O_CLOEXEC, O_NONBLOCK, O_RDWR } from '../src/os/libc.js';
import { MemFd } from '../src/os/memfd.js';
import { connectUnix } from '../src/os/unix-socket.js';
import { ReadinessLoop } from '../src/runtime/readiness-loop.js';
import { VHOST_USER_F_PROTOCOL_FEATURES, VHOST_USER_VERSION, VhostUserRequest as R } from '../src/spec/vhost-user.js';
import { VhostUserConnection } from '../src/transport/vhost-user/connection.js';
import {
  decodeU64,
  encodeMemTable,
  encodeMessage,
  encodeVringAddr,
  encodeVringFile,
  encodeVringState,
} from '../src/transport/vhost-user/messages.js';
import { runNetTraffic, type NetTrafficOptions } from '../src/transport/vhost-user/net-frontend.js';
import { bit } from '../src/virtqueue/features.js';
import { rawFrontend } from './support/raw-frontend.js';
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

describe('one daemon, several ports: guest memory is checked before it is mapped', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vq-daemon-mem-'));
  const [a, b] = [join(dir, 'a.sock'), join(dir, 'b.sock')];
  let daemon: ServeProcess;
  beforeAll(async () => {
    daemon = new ServeProcess('net', a, ['--socket', b]);
    await daemon.waitFor(new RegExp(`listening on ${b}`));
  });
  afterAll(async () => {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const region = (size: number, mmapOffset = 0) =>
    encodeMemTable([{ guestAddr: 0x10_0000, size, userAddr: 0x7000_0000, mmapOffset }]);

  /** A FIFO's fd (a pipe with a name, opened read-write so opening does not block). */
  function fifoFd(): number {
    const path = join(dir, `fifo${Math.random().toString(16).slice(2)}`);
    execFileSync('mkfifo', [path]);
    return check('open fifo', loadLibc().open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC, 0) as number);
  }

  it('refuses each bad region with its typed error, maps nothing, and every port keeps working', async () => {
    const from = daemon.lines.length;
    const { conn, ask } = await rawFrontend(a);
    const memfd = MemFd.create('vqkit-guest', 0x10000);
    const event = EventFd.create();
    const [s1, s2] = socketPair();
    const fifo = fifoFd();
    try {
      const cases: [string, Uint8Array, number, RegExp][] = [
        ['larger than its file', region(0x20000), memfd.fd, /REGION_PAST_FILE.*past the end of its 65536-byte file/],
        ['offset past the end', region(0x1000, 0x10000), memfd.fd, /REGION_PAST_FILE/],
        ['offset not page-aligned', region(0x1000, 0x800), memfd.fd, /MISALIGNED_REGION/],
        ['an eventfd', region(0x1000), event.fd, /BAD_MEMORY_FD.*non-file descriptor/],
        ['a socket', region(0x1000), s1, /BAD_MEMORY_FD.*socket/],
        ['a pipe', region(0x1000), fifo, /BAD_MEMORY_FD.*fifo/],
      ];
      for (const [what, table, fd, logged] of cases) {
        expect(await ask(R.SET_MEM_TABLE, table, [fd]), what).not.toBe(0n);
        await daemon.waitFor(logged, from);
        expect(daemon.guestMappings(), what).toBe(0);
      }
      // Ring areas that overlap: refused when the queue would start.
      expect(await ask(R.SET_MEM_TABLE, region(0x10000), [memfd.fd])).toBe(0n);
      expect(await ask(R.SET_VRING_NUM, encodeVringState({ index: 0, num: 64 }))).toBe(0n);
      expect(await ask(R.SET_VRING_NUM, encodeVringState({ index: 1, num: 64 }))).toBe(0n);
      const overlapping = { flags: 0, desc: 0x7000_0000, avail: 0x7000_0200, used: 0x7000_2000, log: 0n };
      const apart = { flags: 0, desc: 0x7000_4000, avail: 0x7000_5000, used: 0x7000_6000, log: 0n };
      expect(await ask(R.SET_VRING_ADDR, encodeVringAddr({ index: 0, ...overlapping }))).toBe(0n);
      expect(await ask(R.SET_VRING_ADDR, encodeVringAddr({ index: 1, ...apart }))).toBe(0n);
      for (const index of [0, 1])
        expect(await ask(R.SET_VRING_KICK, encodeVringFile(index, true), [event.fd])).toBe(0n);
      expect(await ask(R.SET_VRING_ENABLE, encodeVringState({ index: 1, num: 1 }))).toBe(0n);
      expect(await ask(R.SET_VRING_ENABLE, encodeVringState({ index: 0, num: 1 }))).not.toBe(0n);
      await daemon.waitFor(/RING_AREAS_OVERLAP: queue 0: descriptor table 0x100000\+1024 overlaps avail ring/, from);
      // The memfd was sealed against shrinking when it was accepted: the front-end can no longer cut it short.
      expect(() => check('ftruncate', loadLibc().ftruncate(memfd.fd, 0x1000) as number)).toThrow(/EPERM/);
      await daemon.waitFor(/memory table: 0x100000\+65536 \(sealed against shrinking\)/, from);
    } finally {
      conn.close();
      [event, memfd].forEach((x) => x.close());
      [s1, s2, fifo].forEach(closeFd);
    }
    await daemon.waitFor(/front-end gone/, from);
    expect(daemon.guestMappings()).toBe(0);
    // Both ports carry verified traffic afterwards, the one that was sent bad memory included.
    for (const socket of [a, b]) {
      const r = await runNetTraffic(socket, traffic);
      expect(r.failure, socket).toBeNull();
      expect(r.pairs[0]).toMatchObject({ sent: 2000, received: 2000, bad: 0 });
    }
  });

  it('says in its log when a region cannot be sealed (a memfd made without MFD_ALLOW_SEALING)', async () => {
    const from = daemon.lines.length;
    const { conn, ask } = await rawFrontend(b);
    const fd = check('memfd_create', loadLibc().memfd_create('unsealable', MFD_CLOEXEC) as number);
    try {
      check('ftruncate', loadLibc().ftruncate(fd, 0x10000) as number);
      expect(await ask(R.SET_MEM_TABLE, region(0x10000), [fd])).toBe(0n);
      await daemon.waitFor(/memory table: 0x100000\+65536 \(NOT sealable/, from);
    } finally {
      conn.close();
      closeFd(fd);
    }
  });
});
