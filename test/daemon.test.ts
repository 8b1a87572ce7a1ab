import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeFd } from '../src/os/fd.js';
import { EventFd, signalEventFd } from '../src/os/eventfd.js';
import { askControl } from '../src/runtime/control-server.js';
import type { DaemonStatus } from '../src/transport/vhost-user/daemon.js';
import { QueueControl } from '../src/transport/vhost-user/queue-control.js';
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
import { runNetTraffic, type NetTrafficOptions } from '../src/drivers/net/net-frontend.js';
import { bit } from '../src/virtqueue/features.js';
import { rawFrontend } from './support/raw-frontend.js';
import { openNetTestPort } from './support/net-test-port.js';
import { ServeProcess, VQ } from './support/serve-process.js';

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

describe('64 ports on one daemon', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vq-daemon-64-'));
  const sockets = Array.from({ length: 64 }, (_, i) => join(dir, `p${i}.sock`));
  const control = join(dir, 'ctl');
  let daemon: ServeProcess;
  const ports: Awaited<ReturnType<typeof openNetTestPort>>[] = [];
  const status = async () => (await askControl(control, 'status')) as DaemonStatus;
  beforeAll(async () => {
    const more = sockets.slice(1).flatMap((s) => ['--socket', s]);
    daemon = new ServeProcess('net', sockets[0], [...more, '--threads', '2', '--control', control]);
    await daemon.waitFor(/net63: listening on/);
    await daemon.waitFor(/control socket/);
  });
  afterAll(async () => {
    ports.forEach((p) => p.close());
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('all carry verified traffic at once; the daemon keeps its two data-plane threads and adds none per port', async () => {
    const idle = await status();
    expect(idle.threads).toBe(2);
    expect(idle.ports.filter((p) => p.connected)).toHaveLength(0);
    for (const s of sockets) ports.push(await openNetTestPort(s, { ...traffic, queueSize: 64 }));
    // Every port at once: 8 tagged frames out on each, then each port's 8 back, MACs swapped by the loop backend.
    ports.forEach((p) => {
      for (let tag = 0; tag < 8; tag++) p.send('02:00:00:00:00:02', '02:00:00:00:00:01', tag);
    });
    for (const p of ports) {
      for (let tag = 0; tag < 8; tag++) {
        expect(await p.next()).toMatchObject({ tag, src: '02:00:00:00:00:02', dst: '02:00:00:00:00:01' });
      }
    }
    const busy = await status();
    expect(busy.ports.filter((p) => p.connected)).toHaveLength(64);
    // A queue pair and a control queue per port, spread evenly over the two threads.
    expect(busy.unitsPerThread.reduce((a, b) => a + b)).toBe(128);
    expect(Math.max(...busy.unitsPerThread) - Math.min(...busy.unitsPerThread)).toBeLessThanOrEqual(1);
    expect(busy.processThreads).toBe(idle.processThreads);
    // The counters come from the threads: each port's pair moved exactly its 8 frames each way.
    for (const p of busy.ports) {
      const pair = p.units.find((u) => u.queues.length === 2)!;
      expect(pair.counters).toMatchObject({ net: { txFrames: 8, rxFrames: 8 } });
      expect(p.frontendPid).toBe(process.pid);
    }
  });

  it('vq status prints the ports, their front-end, negotiated features, threads and counters, as text and JSON', () => {
    const text = execFileSync(process.execPath, [VQ, 'status', '--control', control], { encoding: 'utf8' });
    expect(text).toMatch(/^vq daemon pid \d+: 64 port\(s\); 2 data-plane thread\(s\) serving 64, 64 unit\(s\)/);
    expect(text).toContain(`${sockets[5]} (net): connected, front-end pid ${process.pid}, session 1`);
    expect(text).toMatch(/negotiated: .*IN_ORDER \(0x[0-9a-f]+\)$/m);
    expect(text).toMatch(/queues 0,1 on data-plane thread [01]: .*net\.txFrames 8/);
    const json = JSON.parse(
      execFileSync(process.execPath, [VQ, 'status', '--socket', sockets[0], '--control', control, '--json'], {
        encoding: 'utf8',
      }),
    ) as DaemonStatus;
    expect(json.ports).toHaveLength(64);
    expect(json.ports[0]).toMatchObject({ socket: sockets[0], device: 'net', connected: true, sessions: 1 });
    expect(json.ports[0].negotiated).toContain('IN_ORDER');
  });

  it('a queue broken on one port stops alone: the other ports keep carrying traffic', async () => {
    const from = daemon.lines.length;
    const victim = ports[3];
    // The driver side turns hostile: the transmit queue's avail idx jumps past everything the ring can hold.
    const tx = victim.port.plan.queues[1];
    const ring = new DataView(victim.port.memory.mapping.buffer, tx.addresses.driver - victim.port.plan.guestBase);
    ring.setUint16(2, (ring.getUint16(2, true) + 1000) & 0xffff, true);
    signalEventFd(Atomics.load(new Int32Array(tx.control), QueueControl.KICK_FD));
    await daemon.waitFor(/net3: queue 0,1: VirtqueueError: net3.pair0.tx: AVAIL_IDX_AHEAD/, from);
    for (const p of ports.filter((_, i) => i !== 3)) {
      p.send('02:00:00:00:00:02', '02:00:00:00:00:01', 99);
      expect(await p.next()).toMatchObject({ tag: 99 });
    }
    const s = await status();
    expect(s.ports[3].units.map((u) => u.queues)).toEqual([[2]]);
    expect(s.unitsPerThread.reduce((a, b) => a + b)).toBe(127);
  });
});

describe('a front-end that truncates its memory after the daemon mapped it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vq-daemon-trunc-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Shares memory the daemon cannot seal, passes a frame, then cuts the memory to nothing and kicks. */
  async function truncateUnderTheDaemon(socket: string) {
    const victim = await openNetTestPort(socket, { ...traffic, queueSize: 64, unsealedMemory: true });
    victim.send('02:00:00:00:00:02', '02:00:00:00:00:01', 1);
    expect(await victim.next()).toMatchObject({ tag: 1 });
    check('ftruncate', loadLibc().ftruncate(victim.port.memory.memfd.fd, 0) as number);
    const tx = victim.port.plan.queues[1];
    signalEventFd(Atomics.load(new Int32Array(tx.control), QueueControl.KICK_FD));
    return victim;
  }

  it('default mode: memory the daemon has sealed cannot be cut short, and the port keeps carrying traffic', async () => {
    const socket = join(dir, 'thread.sock');
    const d = new ServeProcess('net', socket);
    try {
      await d.waitFor(/listening on/);
      const port = await openNetTestPort(socket, { ...traffic, queueSize: 64 });
      await d.waitFor(/memory region added: .*\(sealed against shrinking\)/);
      expect(() => check('ftruncate', loadLibc().ftruncate(port.port.memory.memfd.fd, 0) as number)).toThrow(/EPERM/);
      port.send('02:00:00:00:00:02', '02:00:00:00:00:01', 5);
      expect(await port.next()).toMatchObject({ tag: 5 });
      port.close();
    } finally {
      await d.stop();
    }
  });

  it("--isolation process: the SIGBUS ends only that front-end's child; the other port, and the same port afterwards, carry traffic", async () => {
    const [a, b] = [join(dir, 'a.sock'), join(dir, 'b.sock')];
    const control = join(dir, 'iso.ctl');
    const d = new ServeProcess('net', a, ['--socket', b, '--isolation', 'process', '--control', control]);
    const ports: Awaited<ReturnType<typeof openNetTestPort>>[] = [];
    try {
      await d.waitFor(/net1: listening on/);
      const other = await openNetTestPort(b, { ...traffic, queueSize: 64 });
      ports.push(other);
      const from = d.lines.length;
      ports.push(await truncateUnderTheDaemon(a));
      await d.waitFor(/net0: front-end gone \(session 1\): child pid \d+ killed by SIGBUS/, from);
      await ports[1].port.gone;
      // The daemon and its other front-end go on.
      other.send('02:00:00:00:00:02', '02:00:00:00:00:01', 7);
      expect(await other.next()).toMatchObject({ tag: 7 });
      const s = (await askControl(control, 'status')) as DaemonStatus;
      expect(s.isolation).toBe('process');
      expect(s.ports[1]).toMatchObject({ connected: true, frontendPid: process.pid });
      expect(s.ports[1].childPid).toBeGreaterThan(0);
      expect(s.ports[0]).toMatchObject({ connected: false, sessions: 1 });
      // The port whose child died serves its next front-end.
      const again = await openNetTestPort(a, { ...traffic, queueSize: 64 });
      ports.push(again);
      again.send('02:00:00:00:00:02', '02:00:00:00:00:01', 9);
      expect(await again.next()).toMatchObject({ tag: 9 });
    } finally {
      ports.forEach((p) => p.close());
      await d.stop();
    }
  });

  it('--isolation process refuses backends its children would share', () => {
    const r = spawnSync(
      process.execPath,
      [VQ, 'serve', 'net', '--socket', join(dir, 'x.sock'), '--isolation', 'process', '--backend', 'switch'],
      { encoding: 'utf8' },
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--isolation process serves the loop, sink and copy backends/);
  });
});

describe('a daemon process that ends without closing its data plane', () => {
  it('exits (an uncaught error or process.exit with pool threads asleep in epoll_wait used to hang it)', () => {
    const pool = new URL('../dist/runtime/thread-pool.js', import.meta.url).href;
    const code = `import { ThreadPool } from '${pool}'; new ThreadPool({ threads: 2 }); setTimeout(() => process.exit(3), 200);`;
    // A hang shows as the deadline's kill (status null), far beyond the moment it takes.
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { timeout: 60_000 });
    expect(r.status).toBe(3);
  });
});
