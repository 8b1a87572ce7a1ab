import { describe, expect, it } from 'vitest';
import { emptyHeader, readHeader, writeHeader, type VsockHeader } from '../src/devices/vsock/packet.js';
import {
  MAX_SIBLING_CONNECTIONS,
  SIBLING_INBOX_BYTES,
  SiblingPort,
  SiblingRouter,
} from '../src/devices/vsock/sibling-router.js';
import {
  VIRTIO_VSOCK_OP_CREDIT_UPDATE,
  VIRTIO_VSOCK_OP_REQUEST,
  VIRTIO_VSOCK_OP_RESPONSE,
  VIRTIO_VSOCK_OP_RST,
  VIRTIO_VSOCK_OP_RW,
  VIRTIO_VSOCK_OP_SHUTDOWN,
  VIRTIO_VSOCK_SEQ_EOM,
  VIRTIO_VSOCK_SEQ_EOR,
  VIRTIO_VSOCK_TYPE_SEQPACKET,
  VSOCK_HDR_SIZE,
} from '../src/spec/vsock.js';

// The router alone: guests as SiblingPorts, packets as bytes. Over real rings and vhost-user: test/vsock.test.ts.

function packet(fields: Partial<VsockHeader>, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const h: VsockHeader = { ...emptyHeader(), bufAlloc: 262144, ...fields, len: data.length };
  const p = new Uint8Array(VSOCK_HDR_SIZE + data.length);
  writeHeader(p, 0, h);
  p.set(data, VSOCK_HDR_SIZE);
  return p;
}

/** Sends `p` from `port` through the router, as the device does (the header decoded first). */
const send = (r: SiblingRouter, port: SiblingPort, p: Uint8Array): void =>
  r.route(port, readHeader(p, 0, emptyHeader()), p);

/** Everything waiting in a guest's inbox, in receive buffers of `room` data bytes. */
function delivered(port: SiblingPort, room = 65536): { h: VsockHeader; data: Uint8Array }[] {
  const out: { h: VsockHeader; data: Uint8Array }[] = [];
  const buf = new Uint8Array(VSOCK_HDR_SIZE + room);
  for (let n = port.inbox.next(buf, room); n > 0; n = port.inbox.next(buf, room)) {
    out.push({ h: readHeader(buf, 0, emptyHeader()), data: buf.slice(VSOCK_HDR_SIZE, n) });
  }
  return out;
}

function setup(groups: Record<number, string[]>) {
  const r = new SiblingRouter();
  const wakes: Record<number, number> = {};
  const ports: Record<number, SiblingPort> = {};
  for (const [cid, g] of Object.entries(groups)) {
    wakes[Number(cid)] = 0;
    ports[Number(cid)] = new SiblingPort(Number(cid), g, () => wakes[Number(cid)]++);
    r.attach(ports[Number(cid)]);
  }
  return { r, ports, wakes };
}

const A = { srcCid: 3, srcPort: 1025, dstCid: 4, dstPort: 7000 };
const B = { srcCid: 4, srcPort: 7000, dstCid: 3, dstPort: 1025 };

describe('vsock sibling router', () => {
  it('forwards every op between guests of a shared group with the header intact, and wakes the receiver', () => {
    const { r, ports, wakes } = setup({ 3: ['g'], 4: ['g', 'h'] });
    const sent = [
      packet({ ...A, op: VIRTIO_VSOCK_OP_REQUEST, fwdCnt: 0 }),
      packet({ ...A, op: VIRTIO_VSOCK_OP_RW, fwdCnt: 0 }, new Uint8Array([1, 2, 3])),
      packet({ ...A, op: VIRTIO_VSOCK_OP_CREDIT_UPDATE, fwdCnt: 77, bufAlloc: 100000 }),
      packet({ ...A, op: VIRTIO_VSOCK_OP_SHUTDOWN, flags: 3, fwdCnt: 77 }),
    ];
    const back = [packet({ ...B, op: VIRTIO_VSOCK_OP_RESPONSE, fwdCnt: 3 })];
    send(r, ports[3], sent[0]);
    send(r, ports[4], back[0]);
    for (const p of sent.slice(1)) send(r, ports[3], p);
    const toB = delivered(ports[4]);
    expect(toB.map((x) => x.h)).toEqual(sent.map((p) => readHeader(p, 0, emptyHeader())));
    expect(toB[1].data).toEqual(new Uint8Array([1, 2, 3]));
    expect(delivered(ports[3]).map((x) => x.h)).toEqual([readHeader(back[0], 0, emptyHeader())]);
    expect(wakes[4]).toBe(4);
    expect(r.connections).toBe(1);
    send(r, ports[4], packet({ ...B, op: VIRTIO_VSOCK_OP_RST }));
    expect(delivered(ports[3]).map((x) => x.h.op)).toEqual([VIRTIO_VSOCK_OP_RST]);
    expect(r.connections).toBe(0);
    expect(r.stats).toMatchObject({ forwarded: 6, forwardedBytes: 3, refused: 0, resets: 0 });
  });

  it('splits a packet larger than the receive buffer; a SEQPACKET message keeps EOM and EOR on its last piece only', () => {
    const { r, ports } = setup({ 3: ['g'], 4: ['g'] });
    const seq = { ...A, type: VIRTIO_VSOCK_TYPE_SEQPACKET };
    send(r, ports[3], packet({ ...seq, op: VIRTIO_VSOCK_OP_REQUEST }));
    send(r, ports[4], packet({ ...B, type: VIRTIO_VSOCK_TYPE_SEQPACKET, op: VIRTIO_VSOCK_OP_RESPONSE }));
    const message = Uint8Array.from({ length: 10000 }, (_, i) => i & 0xff);
    const flags = VIRTIO_VSOCK_SEQ_EOM | VIRTIO_VSOCK_SEQ_EOR;
    send(r, ports[3], packet({ ...seq, op: VIRTIO_VSOCK_OP_RW, flags }, message));
    const got = delivered(ports[4], 4096).slice(1);
    expect(got.map((x) => x.h.len)).toEqual([4096, 4096, 1808]);
    expect(got.map((x) => x.h.flags)).toEqual([0, 0, flags]);
    expect(got.every((x) => x.h.type === VIRTIO_VSOCK_TYPE_SEQPACKET && x.h.srcPort === 1025)).toBe(true);
    expect(new Uint8Array(Buffer.concat(got.map((x) => x.data)))).toEqual(message);
    expect(ports[4].inbox.bytes).toBe(0);
  });

  it('answers RST (of the same socket type) to a guest outside a shared group, an unknown CID, and no group at all', () => {
    const { r, ports } = setup({ 3: ['g'], 4: ['g'], 5: ['other'], 6: [] });
    for (const [from, to] of [
      [5, 3],
      [3, 99],
      [6, 4],
      [4, 6],
      [3, 3],
    ]) {
      send(
        r,
        ports[from],
        packet({
          srcCid: from,
          srcPort: 9,
          dstCid: to,
          dstPort: 7000,
          op: VIRTIO_VSOCK_OP_REQUEST,
          type: VIRTIO_VSOCK_TYPE_SEQPACKET,
        }),
      );
      const answer = delivered(ports[from]);
      expect(answer.map((x) => [x.h.op, x.h.type, x.h.srcCid, x.h.srcPort, x.h.dstCid, x.h.dstPort])).toEqual([
        [VIRTIO_VSOCK_OP_RST, VIRTIO_VSOCK_TYPE_SEQPACKET, to, 7000, from, 9],
      ]);
      expect(ports[from].lastError?.code).toBe('BAD_CID');
    }
    expect(r.stats.forwarded).toBe(0);
    expect([3, 4].map((c) => ports[c].inbox.count)).toEqual([0, 0]);
  });

  it('a REQUEST on a connection it still follows starts that connection anew (its credit counts from 0)', () => {
    const { r, ports } = setup({ 3: ['g'], 4: ['g'] });
    send(r, ports[3], packet({ ...A, op: VIRTIO_VSOCK_OP_REQUEST }));
    send(r, ports[4], packet({ ...B, op: VIRTIO_VSOCK_OP_RESPONSE, bufAlloc: 8192 }));
    send(r, ports[3], packet({ ...A, op: VIRTIO_VSOCK_OP_RW }, new Uint8Array(8192)));
    // The same ports again (the guest lost the first connection without an RST passing here).
    send(r, ports[3], packet({ ...A, op: VIRTIO_VSOCK_OP_REQUEST }));
    send(r, ports[4], packet({ ...B, op: VIRTIO_VSOCK_OP_RESPONSE, bufAlloc: 8192 }));
    send(r, ports[3], packet({ ...A, op: VIRTIO_VSOCK_OP_RW }, new Uint8Array(8192)));
    expect(r.stats.resets).toBe(0);
    expect(r.connections).toBe(1);
  });

  it('answers RST to a packet for no connection, and drops an RST for none', () => {
    const { r, ports } = setup({ 3: ['g'], 4: ['g'] });
    send(r, ports[3], packet({ ...A, op: VIRTIO_VSOCK_OP_RW }, new Uint8Array(10)));
    expect(delivered(ports[3]).map((x) => x.h.op)).toEqual([VIRTIO_VSOCK_OP_RST]);
    expect(ports[3].lastError?.code).toBe('UNKNOWN_CONNECTION');
    send(r, ports[3], packet({ ...A, op: VIRTIO_VSOCK_OP_RST }));
    expect(ports[3].inbox.count + ports[4].inbox.count).toBe(0);
  });

  it('resets a connection whose sender goes past the largest credit its peer granted; other connections go on', () => {
    const { r, ports } = setup({ 3: ['g'], 4: ['g'] });
    const other = { ...A, srcPort: 2000 };
    for (const a of [A, other]) send(r, ports[3], packet({ ...a, op: VIRTIO_VSOCK_OP_REQUEST }));
    send(r, ports[4], packet({ ...B, op: VIRTIO_VSOCK_OP_RESPONSE, bufAlloc: 8192 }));
    send(r, ports[4], packet({ ...B, dstPort: 2000, op: VIRTIO_VSOCK_OP_RESPONSE, bufAlloc: 8192 }));
    delivered(ports[3]);
    delivered(ports[4]);
    // 8192 bytes in flight is the whole credit: fine. One more byte is not.
    send(r, ports[3], packet({ ...A, op: VIRTIO_VSOCK_OP_RW }, new Uint8Array(8192)));
    expect(delivered(ports[4], 8192).map((x) => x.h.len)).toEqual([8192]);
    send(r, ports[3], packet({ ...A, op: VIRTIO_VSOCK_OP_RW }, new Uint8Array(1)));
    expect(delivered(ports[3]).map((x) => [x.h.op, x.h.srcPort, x.h.dstPort])).toEqual([
      [VIRTIO_VSOCK_OP_RST, 7000, 1025],
    ]);
    expect(delivered(ports[4]).map((x) => [x.h.op, x.h.srcPort, x.h.dstPort])).toEqual([
      [VIRTIO_VSOCK_OP_RST, 1025, 7000],
    ]);
    expect(ports[3].lastError?.code).toBe('CREDIT_EXCEEDED');
    expect(r.stats.resets).toBe(1);
    // The peer consumed: credit is back, on the connection that is still open.
    send(r, ports[3], packet({ ...other, op: VIRTIO_VSOCK_OP_RW }, new Uint8Array(8192)));
    send(r, ports[4], packet({ ...B, dstPort: 2000, op: VIRTIO_VSOCK_OP_CREDIT_UPDATE, bufAlloc: 8192, fwdCnt: 8192 }));
    send(r, ports[3], packet({ ...other, op: VIRTIO_VSOCK_OP_RW }, new Uint8Array(8192)));
    expect(delivered(ports[4], 8192).map((x) => [x.h.op, x.h.len])).toEqual([
      [VIRTIO_VSOCK_OP_RW, 8192],
      [VIRTIO_VSOCK_OP_RW, 8192],
    ]);
    expect(r.connections).toBe(1);
  });

  it('resets the connections that send more to a guest that takes nothing, and blames that guest', () => {
    const { r, ports } = setup({ 3: ['g'], 4: ['g'] });
    const conns = 600;
    for (let i = 0; i < conns; i++) {
      send(r, ports[3], packet({ ...A, srcPort: 5000 + i, op: VIRTIO_VSOCK_OP_REQUEST }));
      send(r, ports[4], packet({ ...B, dstPort: 5000 + i, op: VIRTIO_VSOCK_OP_RESPONSE, bufAlloc: 65536 }));
    }
    delivered(ports[3]);
    for (let i = 0; i < conns; i++)
      send(r, ports[3], packet({ ...A, srcPort: 5000 + i, op: VIRTIO_VSOCK_OP_RW }, new Uint8Array(65536)));
    expect(ports[4].inbox.full).toBe(true);
    expect(ports[4].inbox.bytes).toBeLessThanOrEqual(SIBLING_INBOX_BYTES + 600 * VSOCK_HDR_SIZE);
    expect(ports[4].lastError?.message).toMatch(/CID 4 is not taking its packets/);
    const resets = r.stats.resets;
    expect(resets).toBeGreaterThan(0);
    expect(delivered(ports[3]).filter((x) => x.h.op === VIRTIO_VSOCK_OP_RST)).toHaveLength(resets);
  });

  it('a guest that goes: its peers get RST for each connection, what waited for it is dropped, and a new REQUEST gets RST', () => {
    const { r, ports } = setup({ 3: ['g'], 4: ['g'] });
    send(r, ports[3], packet({ ...A, op: VIRTIO_VSOCK_OP_REQUEST }));
    send(r, ports[3], packet({ ...A, srcPort: 1026, op: VIRTIO_VSOCK_OP_REQUEST }));
    r.detach(4);
    expect(ports[4].inbox.count).toBe(0);
    expect(delivered(ports[3]).map((x) => [x.h.op, x.h.srcCid, x.h.dstPort])).toEqual([
      [VIRTIO_VSOCK_OP_RST, 4, 1025],
      [VIRTIO_VSOCK_OP_RST, 4, 1026],
    ]);
    expect(r.connections).toBe(0);
    send(r, ports[3], packet({ ...A, op: VIRTIO_VSOCK_OP_REQUEST }));
    expect(delivered(ports[3]).map((x) => x.h.op)).toEqual([VIRTIO_VSOCK_OP_RST]);
  });

  it(`refuses more than ${MAX_SIBLING_CONNECTIONS} connections opened by one guest with RST, and only its own`, () => {
    const { r, ports } = setup({ 3: ['g'], 4: ['g'] });
    for (let i = 0; i < MAX_SIBLING_CONNECTIONS; i++)
      send(r, ports[3], packet({ ...A, srcPort: 10000 + i, op: VIRTIO_VSOCK_OP_REQUEST }));
    expect(ports[3].inbox.count).toBe(0);
    send(r, ports[3], packet({ ...A, srcPort: 1, op: VIRTIO_VSOCK_OP_REQUEST }));
    expect(delivered(ports[3]).map((x) => x.h.op)).toEqual([VIRTIO_VSOCK_OP_RST]);
    expect(r.connections).toBe(MAX_SIBLING_CONNECTIONS);
    expect(ports[4].inbox.count).toBe(MAX_SIBLING_CONNECTIONS);
    // They count against the guest that opened them: the other can still open its own.
    send(r, ports[4], packet({ ...B, srcPort: 1, op: VIRTIO_VSOCK_OP_REQUEST }));
    expect(delivered(ports[3]).map((x) => [x.h.op, x.h.srcCid])).toEqual([[VIRTIO_VSOCK_OP_REQUEST, 4]]);
    expect(r.connections).toBe(MAX_SIBLING_CONNECTIONS + 1);
  });
});
