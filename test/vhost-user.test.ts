import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RUN, type RunOptions } from '../src/harness/options.js';
import { runOverVhostUser } from '../src/harness/run.js';
import { EventFd } from '../src/os/eventfd.js';
import { MemFd } from '../src/os/memfd.js';
import { connectUnix, listenUnix } from '../src/os/unix-socket.js';
import { acceptConnection } from '../src/runtime/accept.js';
import { closeFd, heldKernelObjects } from '../src/os/fd.js';
import { VIRTIO_F_IN_ORDER, VIRTIO_F_RING_PACKED, VIRTIO_F_VERSION_1 } from '../src/spec/features.js';
import { VHOST_USER_NEED_REPLY, VHOST_USER_VERSION, VhostUserRequest as R } from '../src/spec/vhost-user.js';
import { VhostUserConnection } from '../src/transport/vhost-user/connection.js';
import { VhostUserFrontendError, runFrontend } from '../src/drivers/test/test-frontend.js';
import {
  decodeU64,
  encodeMemTable,
  encodeSingleRegion,
  encodeU64,
  encodeVringAddr,
  encodeVringFile,
  encodeVringState,
} from '../src/transport/vhost-user/messages.js';
import { featureMask } from '../src/virtqueue/features.js';
import { ServeProcess, VQ } from './support/serve-process.js';
import { rawFrontend as connectRaw } from './support/raw-frontend.js';

const dir = mkdtempSync(join(tmpdir(), 'vq-vhost-'));

/** `vq serve test` as a real second process. */
class Daemon extends ServeProcess {
  constructor(socket: string, args: string[] = []) {
    super('test', socket, args);
  }
}

/** This process's open eventfds, memfds and sockets, by what each fd refers to. */
const kernelObjects = (): Set<string> => new Set(heldKernelObjects('self').map((o) => o.target));

const run = (path: string, o: Partial<RunOptions>) =>
  runOverVhostUser(path, { ...DEFAULT_RUN, buffers: 5000, batch: 'random', ...o });

/** A run against `daemon`, returning once the daemon has finished cleaning up after it. */
async function runAndSettle(daemon: Daemon, o: Partial<RunOptions>) {
  const from = daemon.lines.length;
  const r = await run(daemon.socket, o);
  await daemon.sessionEnded(from);
  return r;
}

describe('vhost-user: vqkit front-end and vqkit back-end in two processes', () => {
  let daemon: Daemon;
  beforeAll(async () => {
    daemon = new Daemon(join(dir, 'test.sock'));
    await daemon.waitFor(/listening on/);
  });
  afterAll(async () => {
    await daemon.stop();
  });

  for (const ring of ['split', 'packed'] as const) {
    for (const inOrder of [true, false]) {
      for (const indirect of [true, false]) {
        for (const eventIdx of [true, false]) {
          const name = `${ring} ${inOrder ? 'in-order' : 'no-in-order'}${indirect ? ' indirect' : ''}${eventIdx ? ' event-idx' : ''}`;
          it(name, async () => {
            const r = await run(daemon.socket, {
              ring,
              inOrder,
              indirect,
              eventIdx,
              queueSize: ring === 'packed' ? 250 : 256,
            });
            expect(r.failure).toBeNull();
            expect(r.buffers).toBe(5000);
            expect(r.negotiated.includes('IN_ORDER')).toBe(inOrder);
            expect(r.negotiated.includes('RING_PACKED')).toBe(ring === 'packed');
            // IN_ORDER with the server's default batched used entries: fewer used entries than buffers.
            if (inOrder) expect(r.usedEntries).toBeLessThan(5000);
            else expect(r.usedEntries).toBe(5000);
          });
        }
      }
    }
  }

  it('a ring disabled and re-enabled mid-run resumes where it stopped: every buffer still verifies', async () => {
    for (const ring of ['split', 'packed'] as const) {
      // Small batches: the driver's progress hook (every 256 rounds) then gets to ask for several restarts.
      const o: RunOptions = {
        ...DEFAULT_RUN,
        ring,
        buffers: 12000,
        batch: 4,
        queueSize: ring === 'packed' ? 250 : 256,
      };
      const r = await runFrontend(daemon.socket, o, undefined, 2000);
      expect(r.result.failure).toBeNull();
      expect(r.result.completed).toBe(12000);
      expect(r.restarts).toBeGreaterThanOrEqual(2);
    }
  });

  it('a queue the back-end finds broken is reported through its error eventfd, not waited on forever', async () => {
    // The daemon checks data; this driver writes none, so the device refuses the first buffer it reads.
    await expect(run(daemon.socket, { ring: 'split', verifyData: false, buffers: 100_000 })).rejects.toThrow(
      /reported an error on queue 0/,
    );
    await daemon.waitFor(/queue 0: TestDataError/);
  });

  it('logs what each front-end negotiated', async () => {
    expect(await daemon.waitFor(/negotiated .*IN_ORDER/)).toMatch(/VERSION_1/);
  });
});

describe('vhost-user: busy-polling before sleeping, on both sides', () => {
  it('verifies every buffer, split and packed', async () => {
    const daemon = new Daemon(join(dir, 'busy.sock'), ['--busy-poll', '50']);
    try {
      await daemon.waitFor(/listening on/);
      for (const ring of ['split', 'packed'] as const) {
        const r = await run(daemon.socket, { ring, busyPollUs: 50, buffers: 20000 });
        expect(r.failure).toBeNull();
        expect(r.buffers).toBe(20000);
      }
    } finally {
      await daemon.stop();
    }
  });
});

describe('vhost-user: a daemon survives bad front-ends', () => {
  let daemon: Daemon;
  beforeAll(async () => {
    daemon = new Daemon(join(dir, 'survive.sock'), ['--no-packed']);
    await daemon.waitFor(/listening on/);
  });
  afterAll(async () => {
    await daemon.stop();
  });

  const rawFrontend = () => connectRaw(daemon.socket);

  it('answers each malformed request with an error (REPLY_ACK), keeps no fd it brought, and keeps serving', async () => {
    const from = daemon.lines.length;
    const { conn, ask } = await rawFrontend();
    const fdsBefore = daemon.openFds();
    const e1 = EventFd.create();
    const m1 = MemFd.create('vqkit-guest', 0x10000);
    const m2 = MemFd.create('vqkit-guest', 0x10000);
    try {
      expect(await ask(R.SET_OWNER)).toBe(0n);
      expect(await ask(R.SET_FEATURES, new Uint8Array(4))).not.toBe(0n); // wrong size
      expect(await ask(R.SET_VRING_NUM, encodeVringState({ index: 3, num: 64 }))).not.toBe(0n); // no queue 3
      expect(await ask(R.SET_VRING_NUM, encodeVringState({ index: 0, num: 100 }))).not.toBe(0n); // split: not 2^n
      expect(await ask(R.SET_VRING_NUM, encodeVringState({ index: 0, num: 64 }), [e1.fd])).not.toBe(0n); // extra fd
      expect(await ask(R.SET_VRING_KICK, encodeVringFile(0, true))).not.toBe(0n); // missing fd
      const overlapping = encodeMemTable([
        { guestAddr: 0, size: 0x10000, userAddr: 0x10_0000, mmapOffset: 0 },
        { guestAddr: 0x8000, size: 0x10000, userAddr: 0x20_0000, mmapOffset: 0 },
      ]);
      expect(await ask(R.SET_MEM_TABLE, overlapping, [m1.fd, m2.fd])).not.toBe(0n);
      expect(await ask(99)).not.toBe(0n); // unknown request
      // A ring address outside every region: the request that would start the queue is refused.
      expect(
        await ask(
          R.SET_MEM_TABLE,
          encodeMemTable([{ guestAddr: 0, size: 0x10000, userAddr: 0x10_0000, mmapOffset: 0 }]),
          [m1.fd],
        ),
      ).toBe(0n);
      expect(await ask(R.SET_VRING_NUM, encodeVringState({ index: 0, num: 64 }))).toBe(0n);
      expect(
        await ask(
          R.SET_VRING_ADDR,
          encodeVringAddr({ index: 0, flags: 0, desc: 0x90_0000, used: 0x90_2000, avail: 0x90_1000, log: 0n }),
        ),
      ).toBe(0n);
      expect(await ask(R.SET_VRING_KICK, encodeVringFile(0, true), [e1.fd])).toBe(0n);
      expect(await ask(R.SET_VRING_ENABLE, encodeVringState({ index: 0, num: 1 }))).not.toBe(0n);
      await daemon.waitFor(/refused SET_VRING_ENABLE: .*outside all regions/);
    } finally {
      conn.close();
      e1.close();
      m1.close();
      m2.close();
    }
    await daemon.sessionEnded(from);
    // The raw front-end's own socket is gone too.
    const fds = await daemon.settledFds(fdsBefore - 1);
    expect(fds.count, fds.links).toBe(fdsBefore - 1);
    expect(daemon.guestMappings()).toBe(0);
    expect((await runAndSettle(daemon, { ring: 'split' })).failure).toBeNull();
  });

  it('memory slots: ADD_MEM_REG and REM_MEM_REG are checked against the table, and release their fds', async () => {
    const from = daemon.lines.length;
    const { conn, ask } = await rawFrontend();
    const fdsBefore = daemon.openFds();
    const a = MemFd.create('vqkit-guest', 0x10000);
    const b = MemFd.create('vqkit-guest', 0x10000);
    const regionA = { guestAddr: 0, size: 0x10000, userAddr: 0x10_0000, mmapOffset: 0 };
    const regionB = { guestAddr: 0x10000, size: 0x10000, userAddr: 0x20_0000, mmapOffset: 0 };
    try {
      conn.send(R.GET_MAX_MEM_SLOTS);
      const max = await conn.receive();
      expect(decodeU64({ ...max!, fds: [] })).toBe(32n);
      expect(await ask(R.ADD_MEM_REG, encodeSingleRegion(regionA), [a.fd])).toBe(0n);
      expect(await ask(R.ADD_MEM_REG, encodeSingleRegion({ ...regionB, guestAddr: 0x8000 }), [b.fd])).not.toBe(0n);
      expect(await ask(R.ADD_MEM_REG, encodeSingleRegion(regionB), [b.fd])).toBe(0n);
      expect(daemon.openFds()).toBe(fdsBefore + 2);
      expect(await ask(R.REM_MEM_REG, encodeSingleRegion({ ...regionB, size: 0x1000 }))).not.toBe(0n);
      // QEMU sends the region's fd with REM_MEM_REG: it must not stay open either.
      expect(await ask(R.REM_MEM_REG, encodeSingleRegion(regionB), [b.fd])).toBe(0n);
      expect(daemon.openFds()).toBe(fdsBefore + 1);
      await daemon.waitFor(/memory region removed: 0x10000\+65536/);
    } finally {
      conn.close();
      a.close();
      b.close();
    }
    await daemon.sessionEnded(from);
    const fds = await daemon.settledFds(fdsBefore - 1);
    expect(fds.count, fds.links).toBe(fdsBefore - 1);
  });

  it('refuses features it did not offer, or without VERSION_1 (BAD_FEATURES)', async () => {
    const from = daemon.lines.length;
    const { conn, ask } = await rawFrontend();
    try {
      // This daemon runs with --no-packed.
      const packed = featureMask(VIRTIO_F_VERSION_1, VIRTIO_F_RING_PACKED);
      expect(await ask(R.SET_FEATURES, encodeU64(packed))).not.toBe(0n);
      await daemon.waitFor(/refused SET_FEATURES: SET_FEATURES: BAD_FEATURES/, from);
      expect(await ask(R.SET_FEATURES, encodeU64(featureMask(VIRTIO_F_IN_ORDER)))).not.toBe(0n);
      expect(await ask(R.SET_FEATURES, encodeU64(featureMask(VIRTIO_F_VERSION_1, VIRTIO_F_IN_ORDER)))).toBe(0n);
    } finally {
      conn.close();
    }
    await daemon.sessionEnded(from);
  });

  it('refuses ADD_MEM_REG once every memory slot is in use (TOO_MANY_REGIONS), keeping none of its fds', async () => {
    const from = daemon.lines.length;
    const { conn, ask } = await rawFrontend();
    const mem = MemFd.create('vqkit-guest', 0x1000);
    try {
      const region = (i: number) => ({
        guestAddr: i * 0x1000,
        size: 0x1000,
        userAddr: 0x100_0000 + i * 0x1000,
        mmapOffset: 0,
      });
      for (let i = 0; i < 32; i++) expect(await ask(R.ADD_MEM_REG, encodeSingleRegion(region(i)), [mem.fd])).toBe(0n);
      const fdsFull = daemon.openFds();
      expect(await ask(R.ADD_MEM_REG, encodeSingleRegion(region(32)), [mem.fd])).not.toBe(0n);
      await daemon.waitFor(/refused ADD_MEM_REG: .*TOO_MANY_REGIONS/, from);
      expect(daemon.openFds()).toBe(fdsFull);
    } finally {
      conn.close();
      mem.close();
    }
    await daemon.sessionEnded(from);
    expect(daemon.guestMappings()).toBe(0);
  });

  it('survives a front-end that asks for a reply to a bad request and vanishes before it comes', async () => {
    for (let i = 0; i < 5; i++) {
      const { conn } = await rawFrontend();
      conn.send(
        R.SET_VRING_NUM,
        encodeVringState({ index: 9, num: 64 }),
        [],
        VHOST_USER_VERSION | VHOST_USER_NEED_REPLY,
      );
      conn.close();
    }
    expect((await runAndSettle(daemon, { ring: 'split' })).failure).toBeNull();
    expect(daemon.proc.exitCode).toBeNull();
  });

  it('drops a front-end that sends a malformed request without asking for a reply', async () => {
    const conn = new VhostUserConnection(connectUnix(daemon.socket), false);
    conn.send(R.SET_VRING_NUM, new Uint8Array(3));
    expect(await conn.receive()).toBeNull();
    conn.close();
    expect((await runAndSettle(daemon, { ring: 'split', inOrder: false })).failure).toBeNull();
  });

  it('a front-end killed mid-traffic: the daemon frees its fds and mappings and serves the next one', async () => {
    const fdsIdle = daemon.openFds();
    const from = daemon.lines.length;
    const frontend = spawn(
      process.execPath,
      [VQ, 'run', '--vhost-user', daemon.socket, '--ring', 'split', '--buffers', '1000000000'],
      {
        stdio: 'ignore',
      },
    );
    await daemon.waitFor(/queue 0 started/, from);
    expect(daemon.openFds()).toBeGreaterThan(fdsIdle); // the connection, the memory table's fd, kick and call
    frontend.kill('SIGKILL');
    await daemon.sessionEnded(from);
    // No more than before it came (the count before may still have held the last test's session closing).
    const after = await daemon.settledFds(fdsIdle);
    expect(after.count, after.links).toBeLessThanOrEqual(fdsIdle);
    expect(daemon.guestMappings()).toBe(0);
    const r = await run(daemon.socket, { ring: 'split', buffers: 20000 });
    expect(r.failure).toBeNull();
  });
});

describe('vhost-user: setup messages are checked before a queue starts', () => {
  it.each(['split', 'packed'] as const)(
    '%s: misaligned ring areas and bases outside the ring are refused at their message (MISALIGNED_RING, BAD_RING_BASE)',
    async (ring) => {
      const daemon = new Daemon(join(dir, `setup-${ring}.sock`));
      try {
        await daemon.waitFor(/listening on/);
        const packed = ring === 'packed';
        const { conn, ask } = await connectRaw(daemon.socket, packed ? featureMask(VIRTIO_F_RING_PACKED) : 0n);
        try {
          expect(await ask(R.SET_VRING_NUM, encodeVringState({ index: 0, num: 64 }))).toBe(0n);
          const addr = { index: 0, flags: 0, desc: 0x90_0000, avail: 0x90_1000, used: 0x90_2000, log: 0n };
          // The descriptor area needs 16 bytes, the used ring (split) and both event areas (packed) 4.
          expect(await ask(R.SET_VRING_ADDR, encodeVringAddr({ ...addr, desc: addr.desc + 8 }))).not.toBe(0n);
          expect(await ask(R.SET_VRING_ADDR, encodeVringAddr({ ...addr, used: addr.used + 2 }))).not.toBe(0n);
          await daemon.waitFor(
            /refused SET_VRING_ADDR: .*MISALIGNED_RING: queue 0: (used ring|device event area) at 0x902002 is not 4-byte aligned/,
          );
          if (packed) {
            expect(await ask(R.SET_VRING_ADDR, encodeVringAddr({ ...addr, avail: addr.avail + 2 }))).not.toBe(0n);
          } else {
            // The avail ring needs only 2.
            expect(await ask(R.SET_VRING_ADDR, encodeVringAddr({ ...addr, avail: addr.avail + 2 }))).toBe(0n);
          }
          expect(await ask(R.SET_VRING_ADDR, encodeVringAddr(addr))).toBe(0n);
          if (packed) {
            // Position 64 is outside a ring of 64; 63 with the wrap bit is the last one; used outside is refused too.
            expect(await ask(R.SET_VRING_BASE, encodeVringState({ index: 0, num: 64 }))).not.toBe(0n);
            expect(await ask(R.SET_VRING_BASE, encodeVringState({ index: 0, num: 0x8000 | 63 }))).toBe(0n);
            const usedOutside = ((0x8000 | 64) << 16) | 0x8000;
            expect(await ask(R.SET_VRING_BASE, encodeVringState({ index: 0, num: usedOutside >>> 0 }))).not.toBe(0n);
            await daemon.waitFor(
              /refused SET_VRING_BASE: .*BAD_RING_BASE: queue 0: base 0x40: the next descriptor 64 is outside/,
            );
          } else {
            // A split ring's avail index runs free over 16 bits: 100 on a ring of 64 is fine, 65536 is not.
            expect(await ask(R.SET_VRING_BASE, encodeVringState({ index: 0, num: 100 }))).toBe(0n);
            expect(await ask(R.SET_VRING_BASE, encodeVringState({ index: 0, num: 0x1_0000 }))).not.toBe(0n);
            await daemon.waitFor(
              /refused SET_VRING_BASE: .*BAD_RING_BASE: queue 0: base 0x10000: a split ring resumes/,
            );
          }
        } finally {
          conn.close();
        }
        // The daemon serves the next front-end.
        expect((await runAndSettle(daemon, { ring })).failure).toBeNull();
      } finally {
        await daemon.stop();
      }
    },
  );
});

/**
 * A packed queue set up over a raw front-end (memory at user 0x100000, 64 KiB) whose SET_VRING_ENABLE must be refused
 * with `refusal`, no queue starting; afterwards the daemon serves the next front-end. `baseFirst`: a SET_VRING_BASE sent
 * before SET_VRING_NUM.
 */
async function packedStartRefused(
  name: string,
  ring: { baseFirst?: number; size: number; avail: number; used: number },
  refusal: RegExp,
): Promise<void> {
  const daemon = new Daemon(join(dir, `${name}.sock`));
  const mem = MemFd.create('vqkit-guest', 0x10000);
  const kick = EventFd.create();
  try {
    await daemon.waitFor(/listening on/);
    const from = daemon.lines.length;
    const { conn, ask } = await connectRaw(daemon.socket, featureMask(VIRTIO_F_RING_PACKED));
    try {
      const table = encodeMemTable([{ guestAddr: 0, size: 0x10000, userAddr: 0x10_0000, mmapOffset: 0 }]);
      expect(await ask(R.SET_MEM_TABLE, table, [mem.fd])).toBe(0n);
      if (ring.baseFirst !== undefined) {
        expect(await ask(R.SET_VRING_BASE, encodeVringState({ index: 0, num: ring.baseFirst }))).toBe(0n);
      }
      expect(await ask(R.SET_VRING_NUM, encodeVringState({ index: 0, num: ring.size }))).toBe(0n);
      const addr = { index: 0, flags: 0, desc: 0x10_0000, avail: ring.avail, used: ring.used, log: 0n };
      expect(await ask(R.SET_VRING_ADDR, encodeVringAddr(addr))).toBe(0n);
      expect(await ask(R.SET_VRING_KICK, encodeVringFile(0, true), [kick.fd])).toBe(0n);
      expect(await ask(R.SET_VRING_ENABLE, encodeVringState({ index: 0, num: 1 }))).not.toBe(0n);
      await daemon.waitFor(refusal, from);
      expect(daemon.lines.slice(from).some((l) => /queue 0 started/.test(l))).toBe(false);
    } finally {
      conn.close();
    }
    await daemon.sessionEnded(from);
    expect((await runAndSettle(daemon, { ring: 'packed' })).failure).toBeNull();
  } finally {
    mem.close();
    kick.close();
    await daemon.stop();
  }
}

describe('vhost-user: a packed base checked again when the queue starts', () => {
  it('a base given before the ring size, outside the ring it then gets, is refused at the message that would start it (found by the fuzz campaign)', async () => {
    // No size yet when the base comes: position 0x7fff (wrap 1) cannot be judged, and is taken.
    await packedStartRefused(
      'packed-late-base',
      { baseFirst: 0xffff, size: 8, avail: 0x10_1000, used: 0x10_2000 },
      /refused SET_VRING_ENABLE: .*BAD_RING_BASE: queue 0: base 0xffff: the next descriptor 32767 is outside a ring of 8/,
    );
  });
});

describe('vhost-user: packed ring areas outside guest memory', () => {
  it.each(['device', 'driver'] as const)(
    'a %s event area outside every region is refused at the message that would start the queue; the next front-end is served',
    async (area) => {
      // The descriptor ring is inside; one event area is past the region's end (user 0x110000).
      const outside = 0x11_0000;
      await packedStartRefused(
        `packed-${area}-outside`,
        { size: 64, avail: area === 'driver' ? outside : 0x10_1000, used: area === 'device' ? outside : 0x10_2000 },
        new RegExp(`refused SET_VRING_ENABLE: .*${area} event area 0x110000 is outside all regions`),
      );
    },
  );
});

describe('vhost-user: the back-end as a client (front-end in server mode, as DPDK virtio-user server=1)', () => {
  it('connects to the listening front-end and answers it', async () => {
    const socket = join(dir, 'server-mode.sock');
    const listenFd = listenUnix(socket);
    const daemon = new Daemon(socket, ['--client', '--no-packed']);
    try {
      const fd = (await acceptConnection(listenFd))!;
      const conn = new VhostUserConnection(fd!, false);
      conn.send(R.GET_FEATURES);
      const reply = await conn.receive();
      const offered = decodeU64({ ...reply!, fds: [] });
      expect(offered & featureMask(VIRTIO_F_VERSION_1, VIRTIO_F_IN_ORDER)).toBe(
        featureMask(VIRTIO_F_VERSION_1, VIRTIO_F_IN_ORDER),
      );
      expect(offered & featureMask(VIRTIO_F_RING_PACKED)).toBe(0n);
      conn.close();
      await daemon.waitFor(/front-end gone/);
    } finally {
      await daemon.stop();
      closeFd(listenFd);
    }
  });
});

describe('vhost-user: the back-end goes away', () => {
  it('the front-end reports it clearly and releases what it held', async () => {
    const daemon = new Daemon(join(dir, 'dies.sock'));
    await daemon.waitFor(/listening on/);
    const fdsBefore = kernelObjects();
    const running = run(daemon.socket, { ring: 'packed', buffers: 1_000_000_000 });
    await daemon.waitFor(/queue 0 started/);
    daemon.proc.kill('SIGKILL');
    await expect(running).rejects.toThrow(VhostUserFrontendError);
    await expect(running).rejects.toThrow(/went away/);
    // Nothing the run opened is still open (the dead daemon's stdio socket is gone too, so compare sets).
    expect([...kernelObjects()].filter((o) => !fdsBefore.has(o))).toEqual([]);
    expect(
      readFileSync('/proc/self/maps', 'utf8')
        .split('\n')
        .filter((l) => l.includes('memfd:vqkit-guest')).length,
    ).toBe(0);
    // Restarted on the same socket path, the back-end serves a new front-end.
    const restarted = new Daemon(daemon.socket);
    try {
      await restarted.waitFor(/listening on/);
      expect((await run(restarted.socket, { ring: 'packed' })).failure).toBeNull();
    } finally {
      await restarted.stop();
    }
  });

  it('with nothing listening, the front-end says so', async () => {
    await expect(run(join(dir, 'nobody.sock'), {})).rejects.toThrow(/cannot connect to a vhost-user back-end/);
  });
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});
