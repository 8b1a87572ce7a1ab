import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RUN } from '../src/harness/options.js';
import { EventFd } from '../src/os/eventfd.js';
import { closeFd, isOpenFd } from '../src/os/fd.js';
import { FdOverflowError, recvWithFds, sendWithFds, socketPair } from '../src/os/fd-passing.js';
import { Mapping } from '../src/os/mapping.js';
import { MemFd } from '../src/os/memfd.js';
import { GuestMemory } from '../src/memory/guest-memory.js';
import { buildDeviceSide, buildDriverSide, planLocal } from '../src/transport/local/plan.js';

const openFds = (): number => readdirSync('/proc/self/fd').length;
const mapsMention = (name: string): number =>
  readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((l) => l.includes(`memfd:${name}`)).length;

describe('memfd and shared mappings', () => {
  it('two mappings of one memfd are the same memory; closing releases the fd and both mappings', () => {
    const fdsBefore = openFds();
    const mem = MemFd.create('vq-os-test-a', 64 * 1024);
    const a = Mapping.map(mem.fd, 64 * 1024);
    const b = Mapping.map(mem.fd, 64 * 1024);
    expect(mapsMention('vq-os-test-a')).toBe(2);
    new Uint8Array(a.buffer).set([1, 2, 3], 4096);
    expect([...new Uint8Array(b.buffer, 4096, 3)]).toEqual([1, 2, 3]);
    Atomics.store(new Uint32Array(b.buffer), 10, 0xdeadbeef);
    expect(Atomics.load(new Uint32Array(a.buffer), 10)).toBe(0xdeadbeef);

    const view = new Uint8Array(a.buffer);
    a.close();
    b.close();
    const fd = mem.fd;
    mem.close();
    expect(mapsMention('vq-os-test-a')).toBe(0);
    expect(isOpenFd(fd)).toBe(false);
    expect(openFds()).toBe(fdsBefore);
    // A view kept after close reads private zero pages: the shared memory is gone, nothing faults.
    expect(view[4096]).toBe(0);
    expect(a.closed).toBe(true);
    expect(() => a.address).toThrow(/after close/);
  });

  it('rejects bad sizes and offsets before calling the kernel', () => {
    expect(() => MemFd.create('x', 0)).toThrow(RangeError);
    expect(() => Mapping.map(0, 4096, 100)).toThrow(/multiple of the page size/);
  });

  it('the split and packed rings run the test driver and device over mmap’d memory', () => {
    for (const ring of ['split', 'packed'] as const) {
      const o = { ...DEFAULT_RUN, ring, queueSize: 64, buffers: 2000, batch: 16 };
      const plan = planLocal(o);
      const mem = MemFd.create('vq-os-test-ring', plan.memoryBytes);
      const driverView = Mapping.map(mem.fd, plan.memoryBytes);
      const deviceView = Mapping.map(mem.fd, plan.memoryBytes);
      try {
        const region = (m: Mapping) =>
          new GuestMemory([{ guestAddr: plan.guestBase, size: plan.memoryBytes, buffer: m.buffer }]);
        const driver = buildDriverSide(plan, region(driverView));
        const device = buildDeviceSide(plan, region(deviceView));
        while (!driver.done) {
          driver.fill(16);
          driver.queue.kickPrepare();
          device.serve(64);
          device.flush();
          driver.reap();
        }
        expect(driver.failure ?? driver.queue.error ?? device.failure ?? device.queue.error).toBeNull();
        expect(driver.stats.buffers).toBe(2000);
        expect(device.stats.bytesRead).toBe(driver.stats.bytesOut);
      } finally {
        driverView.close();
        deviceView.close();
        mem.close();
      }
    }
  });
});

describe('eventfd', () => {
  it('counts signals, resets on take, and wakes a waiter off the main thread', async () => {
    const e = EventFd.create();
    try {
      expect(e.take()).toBe(0);
      e.signal();
      e.signal();
      expect(e.take()).toBe(2);
      expect(e.take()).toBe(0);
      const woken = e.whenReadable(60_000);
      setImmediate(() => e.signal());
      expect(await woken).toBe(true);
      expect(e.take()).toBe(1);
    } finally {
      e.close();
    }
    expect(e.closed).toBe(true);
    expect(() => e.fd).toThrow(/after close/);
  });

  it('reports no signal when none comes within the timeout', async () => {
    const e = EventFd.create();
    try {
      expect(await e.whenReadable(1)).toBe(false);
    } finally {
      e.close();
    }
  });
});

describe('fd passing over AF_UNIX (SCM_RIGHTS)', () => {
  it('a memfd sent to the other end maps the same memory there', () => {
    const fdsBefore = openFds();
    const [a, b] = socketPair();
    const mem = MemFd.create('vq-os-test-pass', 8192);
    const ours = Mapping.map(mem.fd, 8192);
    const call = EventFd.create();
    try {
      expect(sendWithFds(a, new TextEncoder().encode('mem+call'), [mem.fd, call.fd])).toBe(8);
      const got = recvWithFds(b, 64)!;
      expect(new TextDecoder().decode(got.data)).toBe('mem+call');
      expect(got.fds).toHaveLength(2);
      expect(got.fds).not.toContain(mem.fd);
      const theirs = Mapping.map(got.fds[0], 8192);
      new Uint8Array(ours.buffer)[100] = 77;
      expect(new Uint8Array(theirs.buffer)[100]).toBe(77);
      // The received eventfd is the same counter.
      const theirCall = new EventFd(got.fds[1]);
      theirCall.signal();
      expect(call.take()).toBe(1);
      theirs.close();
      theirCall.close();
      closeFd(got.fds[0]);
    } finally {
      ours.close();
      mem.close();
      call.close();
      closeFd(a);
      closeFd(b);
    }
    expect(openFds()).toBe(fdsBefore);
  });

  it('returns null when nothing is waiting, and empty data when the peer closed', () => {
    const [a, b] = socketPair();
    expect(recvWithFds(b, 16)).toBeNull();
    closeFd(a);
    expect(recvWithFds(b, 16)?.data.length).toBe(0);
    closeFd(b);
  });

  it('refuses a message with more fds than allowed, closing the ones that arrived', () => {
    const [a, b] = socketPair();
    const events = [EventFd.create(), EventFd.create(), EventFd.create()];
    try {
      sendWithFds(
        a,
        new Uint8Array([1]),
        events.map((e) => e.fd),
      );
      const before = openFds();
      expect(() => recvWithFds(b, 16, 1)).toThrow(FdOverflowError);
      expect(openFds()).toBe(before);
    } finally {
      events.forEach((e) => e.close());
      closeFd(a);
      closeFd(b);
    }
  });
});
