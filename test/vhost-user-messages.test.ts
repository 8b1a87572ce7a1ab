import { describe, expect, it } from 'vitest';
import { closeFd, isOpenFd } from '../src/os/fd.js';
import { EventFd } from '../src/os/eventfd.js';
import { recvWithFds, sendWithFds, socketPair } from '../src/os/fd-passing.js';
import {
  VHOST_USER_NEED_REPLY,
  VHOST_USER_REPLY,
  VHOST_USER_VERSION,
  VhostUserRequest as R,
} from '../src/spec/vhost-user.js';
import {
  MAX_PAYLOAD,
  VhostUserProtocolError,
  decodeConfig,
  decodeEmpty,
  decodeMemTable,
  decodeRingSize,
  decodeSingleRegion,
  decodeU64,
  decodeVringAddr,
  decodeVringFile,
  decodeVringState,
  encodeConfig,
  encodeMemTable,
  encodeMessage,
  encodeSingleRegion,
  encodeU64,
  encodeVringAddr,
  encodeVringFile,
  encodeVringState,
  type MemoryRegion,
  type ProtocolErrorCode,
  type VhostUserMessage,
} from '../src/transport/vhost-user/messages.js';
import { MessageReader } from '../src/transport/vhost-user/reader.js';

const msg = (request: number, payload: Uint8Array, fds: number[] = []): VhostUserMessage => ({
  request,
  flags: VHOST_USER_VERSION,
  payload,
  fds,
});
const region = (guestAddr: number, size: number, userAddr: number): MemoryRegion => ({
  guestAddr,
  size,
  userAddr,
  mmapOffset: 0,
});

describe('vhost-user payloads round-trip', () => {
  it('u64, vring state, vring address, vring file', () => {
    expect(decodeU64(msg(R.SET_FEATURES, encodeU64(0x8_0000_0001n)))).toBe(0x8_0000_0001n);
    expect(decodeVringState(msg(R.SET_VRING_BASE, encodeVringState({ index: 1, num: 0x8005 })), 2)).toEqual({
      index: 1,
      num: 0x8005,
    });
    const addr = {
      index: 0,
      flags: 0,
      desc: 0x7f00_0000_1000,
      used: 0x7f00_0000_3000,
      avail: 0x7f00_0000_2000,
      log: 0n,
    };
    expect(decodeVringAddr(msg(R.SET_VRING_ADDR, encodeVringAddr(addr)), 1)).toEqual(addr);
    expect(decodeVringFile(msg(R.SET_VRING_KICK, encodeVringFile(1, true), [42]), 2)).toEqual({ index: 1, fd: 42 });
    expect(decodeVringFile(msg(R.SET_VRING_CALL, encodeVringFile(0, false)), 2)).toEqual({ index: 0, fd: null });
  });

  it('memory table, single region, config', () => {
    const regions = [region(0, 0x10_0000, 0x7f00_0000_0000), region(0x10_0000, 0x20_0000, 0x7f10_0000_0000)];
    expect(decodeMemTable(msg(R.SET_MEM_TABLE, encodeMemTable(regions), [10, 11]))).toEqual(regions);
    expect(decodeSingleRegion(msg(R.ADD_MEM_REG, encodeSingleRegion(regions[1]), [12]))).toEqual(regions[1]);
    expect(decodeSingleRegion(msg(R.REM_MEM_REG, encodeSingleRegion(regions[1])))).toEqual(regions[1]);
    const cfg = decodeConfig(msg(R.GET_CONFIG, encodeConfig({ offset: 4, flags: 0, bytes: new Uint8Array([1, 2]) })));
    expect([cfg.offset, cfg.size, ...cfg.bytes]).toEqual([4, 2, 1, 2]);
  });

  it('accepts any ring size for packed rings and powers of two for split ones', () => {
    expect(decodeRingSize(msg(R.SET_VRING_NUM, encodeVringState({ index: 0, num: 250 })), 1, 32768, true).num).toBe(
      250,
    );
    expect(decodeRingSize(msg(R.SET_VRING_NUM, encodeVringState({ index: 0, num: 256 })), 1, 32768, false).num).toBe(
      256,
    );
  });
});

describe('malformed vhost-user messages', () => {
  const cases: { name: string; code: ProtocolErrorCode; run: () => unknown }[] = [
    {
      name: 'a u64 payload of 4 bytes',
      code: 'BAD_SIZE',
      run: () => decodeU64(msg(R.SET_FEATURES, new Uint8Array(4))),
    },
    {
      name: 'an fd with SET_VRING_NUM',
      code: 'BAD_FD_COUNT',
      run: () => decodeVringState(msg(R.SET_VRING_NUM, encodeVringState({ index: 0, num: 8 }), [5]), 1),
    },
    {
      name: 'SET_VRING_KICK without its fd',
      code: 'BAD_FD_COUNT',
      run: () => decodeVringFile(msg(R.SET_VRING_KICK, encodeVringFile(0, true)), 1),
    },
    {
      name: 'SET_VRING_CALL with the no-fd bit and an fd',
      code: 'BAD_FD_COUNT',
      run: () => decodeVringFile(msg(R.SET_VRING_CALL, encodeVringFile(0, false), [7]), 1),
    },
    {
      name: 'a queue index out of range',
      code: 'BAD_QUEUE_INDEX',
      run: () => decodeVringState(msg(R.SET_VRING_BASE, encodeVringState({ index: 2, num: 0 })), 2),
    },
    {
      name: 'a split ring size that is not a power of two',
      code: 'BAD_RING_SIZE',
      run: () => decodeRingSize(msg(R.SET_VRING_NUM, encodeVringState({ index: 0, num: 250 })), 1, 32768, false),
    },
    {
      name: 'a ring size of 0',
      code: 'BAD_RING_SIZE',
      run: () => decodeRingSize(msg(R.SET_VRING_NUM, encodeVringState({ index: 0, num: 0 })), 1, 32768, true),
    },
    {
      name: 'a ring larger than the device allows',
      code: 'BAD_RING_SIZE',
      run: () => decodeRingSize(msg(R.SET_VRING_NUM, encodeVringState({ index: 0, num: 2048 })), 1, 1024, true),
    },
    {
      name: 'a vring address payload of the wrong size',
      code: 'BAD_SIZE',
      run: () => decodeVringAddr(msg(R.SET_VRING_ADDR, new Uint8Array(32)), 1),
    },
    {
      name: 'overlapping regions (guest addresses)',
      code: 'REGIONS_OVERLAP',
      run: () =>
        decodeMemTable(
          msg(R.SET_MEM_TABLE, encodeMemTable([region(0, 0x2000, 0x10000), region(0x1000, 0x2000, 0x20000)]), [3, 4]),
        ),
    },
    {
      name: 'overlapping regions (front-end addresses)',
      code: 'REGIONS_OVERLAP',
      run: () =>
        decodeMemTable(
          msg(R.SET_MEM_TABLE, encodeMemTable([region(0, 0x2000, 0x10000), region(0x4000, 0x2000, 0x11000)]), [3, 4]),
        ),
    },
    {
      name: 'a memory table with one fd missing',
      code: 'BAD_FD_COUNT',
      run: () =>
        decodeMemTable(
          msg(R.SET_MEM_TABLE, encodeMemTable([region(0, 0x1000, 0x1000), region(0x1000, 0x1000, 0x2000)]), [3]),
        ),
    },
    {
      name: 'a memory table with an extra fd',
      code: 'BAD_FD_COUNT',
      run: () => decodeMemTable(msg(R.SET_MEM_TABLE, encodeMemTable([region(0, 0x1000, 0x1000)]), [3, 4])),
    },
    {
      name: 'nine regions',
      code: 'TOO_MANY_REGIONS',
      run: () => {
        const regions = Array.from({ length: 9 }, (_, i) => region(i * 0x1000, 0x1000, 0x100000 + i * 0x1000));
        return decodeMemTable(msg(R.SET_MEM_TABLE, encodeMemTable(regions), [...Array(9).keys()]));
      },
    },
    {
      name: 'no regions',
      code: 'TOO_MANY_REGIONS',
      run: () => decodeMemTable(msg(R.SET_MEM_TABLE, encodeMemTable([]))),
    },
    {
      name: 'a memory table whose size disagrees with its count',
      code: 'BAD_SIZE',
      run: () => decodeMemTable(msg(R.SET_MEM_TABLE, encodeMemTable([region(0, 0x1000, 0x1000)]).subarray(0, 30), [3])),
    },
    {
      name: 'an empty region',
      code: 'BAD_REGION',
      run: () => decodeMemTable(msg(R.SET_MEM_TABLE, encodeMemTable([region(0, 0, 0x1000)]), [3])),
    },
    {
      name: 'a region reaching 2^53',
      code: 'BAD_REGION',
      run: () => decodeMemTable(msg(R.SET_MEM_TABLE, encodeMemTable([region(2 ** 53 - 0x1000, 0x2000, 0)]), [3])),
    },
    {
      name: 'ADD_MEM_REG without its fd',
      code: 'BAD_FD_COUNT',
      run: () => decodeSingleRegion(msg(R.ADD_MEM_REG, encodeSingleRegion(region(0, 0x1000, 0x1000)))),
    },
    {
      name: 'a config size that disagrees with the payload',
      code: 'BAD_CONFIG',
      run: () => {
        const p = encodeConfig({ offset: 0, flags: 0, bytes: new Uint8Array(4) });
        new DataView(p.buffer).setUint32(4, 8, true);
        return decodeConfig(msg(R.SET_CONFIG, p));
      },
    },
    {
      name: 'a config access beyond config space',
      code: 'BAD_CONFIG',
      run: () => decodeConfig(msg(R.GET_CONFIG, encodeConfig({ offset: 250, flags: 0, bytes: new Uint8Array(8) }))),
    },
    { name: 'a payload on SET_OWNER', code: 'BAD_SIZE', run: () => decodeEmpty(msg(R.SET_OWNER, new Uint8Array(8))) },
  ];
  for (const c of cases) {
    it(`rejects ${c.name} with ${c.code}`, () => {
      let error: unknown;
      try {
        c.run();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(VhostUserProtocolError);
      expect((error as VhostUserProtocolError).code).toBe(c.code);
    });
  }
});

describe('MessageReader', () => {
  const a = encodeMessage(R.SET_FEATURES, VHOST_USER_VERSION, encodeU64(7n));
  const b = encodeMessage(R.SET_VRING_KICK, VHOST_USER_VERSION | VHOST_USER_NEED_REPLY, encodeVringFile(0, true));

  /** Feeds a byte stream as a socket reader would: never more than wanted() at a time. */
  function feed(r: MessageReader, bytes: Uint8Array, chunk: number, fdsAt: Map<number, number[]> = new Map()) {
    const got: VhostUserMessage[] = [];
    for (let at = 0; at < bytes.length;) {
      const n = Math.min(chunk, r.wanted(), bytes.length - at);
      r.push(bytes.subarray(at, at + n), fdsAt.get(at) ?? []);
      at += n;
      const m = r.next();
      if (m !== null) got.push(m);
    }
    return got;
  }

  it('reassembles messages fed a byte at a time, or as large reads as it allows', () => {
    const all = new Uint8Array([...a, ...b]);
    for (const chunk of [1, 5, 4096]) {
      const got = feed(new MessageReader(true), all, chunk);
      expect(got.map((m) => m.request)).toEqual([R.SET_FEATURES, R.SET_VRING_KICK]);
      expect(decodeU64(got[0])).toBe(7n);
    }
  });

  it('never asks for bytes past the message it is reading', () => {
    const r = new MessageReader(true);
    expect(r.wanted()).toBe(12);
    r.push(a.subarray(0, 12));
    expect(r.wanted()).toBe(8);
    expect(() => r.push(new Uint8Array(9))).toThrow(RangeError);
  });

  it('gives each message the fds that came with its bytes', () => {
    const got = feed(new MessageReader(true), new Uint8Array([...a, ...b]), 4096, new Map([[a.length, [9]]]));
    expect(got.map((m) => m.fds)).toEqual([[], [9]]);
  });

  it('refuses a bad version, a reply from the front-end and an oversized payload', () => {
    const bad = (request: number, flags: number, size: number): ProtocolErrorCode | undefined => {
      const h = new Uint8Array(12);
      const v = new DataView(h.buffer);
      v.setUint32(0, request, true);
      v.setUint32(4, flags, true);
      v.setUint32(8, size, true);
      try {
        new MessageReader(true).push(h);
      } catch (e) {
        return (e as VhostUserProtocolError).code;
      }
      return undefined;
    };
    expect(bad(R.SET_OWNER, 2, 0)).toBe('BAD_VERSION');
    expect(bad(R.SET_OWNER, VHOST_USER_VERSION | VHOST_USER_REPLY, 0)).toBe('UNEXPECTED_REPLY');
    expect(bad(R.SET_OWNER, VHOST_USER_VERSION, MAX_PAYLOAD + 1)).toBe('PAYLOAD_TOO_LARGE');
    expect(bad(R.SET_OWNER, VHOST_USER_VERSION, 0)).toBeUndefined();
  });

  it('over a real socket, reading only what it wants: the kick eventfd comes with SET_VRING_KICK', () => {
    const [front, back] = socketPair();
    const kick = EventFd.create();
    try {
      // Sent back to back: a reader that read past the first message would take the second one's fd with it.
      sendWithFds(front, encodeMessage(R.GET_FEATURES, VHOST_USER_VERSION));
      sendWithFds(front, encodeMessage(R.SET_VRING_KICK, VHOST_USER_VERSION, encodeVringFile(0, true)), [kick.fd]);
      const reader = new MessageReader(true);
      const messages: VhostUserMessage[] = [];
      while (messages.length < 2) {
        const got = recvWithFds(back, reader.wanted())!;
        reader.push(got.data, got.fds);
        const m = reader.next();
        if (m !== null) messages.push(m);
      }
      expect(messages[0]).toMatchObject({ request: R.GET_FEATURES, fds: [] });
      const { fd } = decodeVringFile(messages[1], 1);
      expect(isOpenFd(fd!)).toBe(true);
      new EventFd(fd!).signal();
      expect(kick.take()).toBe(1);
      closeFd(fd!);
    } finally {
      kick.close();
      closeFd(front);
      closeFd(back);
    }
  });
});
