import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { VsockEndpoint, type VsockConnection } from '../src/devices/vsock/endpoint.js';
import { emptyHeader, readHeader, writeHeader, type VsockHeader } from '../src/devices/vsock/packet.js';
import {
  VIRTIO_VSOCK_OP_CREDIT_REQUEST,
  VIRTIO_VSOCK_OP_RW,
  VIRTIO_VSOCK_OP_REQUEST,
  VIRTIO_VSOCK_OP_RST,
  VIRTIO_VSOCK_SHUTDOWN_SEND,
  VIRTIO_VSOCK_TYPE_SEQPACKET,
  VIRTIO_VSOCK_TYPE_STREAM,
  VSOCK_HDR_SIZE,
} from '../src/spec/vsock.js';

// The stream protocol alone: two endpoints (host CID 2, guest CID 3) whose packets are passed through encoded
// headers, no rings. The rings and real processes are in vsock.test.ts.

const HOST = 2;
const GUEST = 3;
const MAX_PAYLOAD = 4096;

function pair(bufAlloc = 64 * 1024, seqpacket = false) {
  const host = new VsockEndpoint({ name: 'host', localCid: HOST, peerCid: GUEST, bufAlloc, seqpacket });
  const guest = new VsockEndpoint({ name: 'guest', localCid: GUEST, peerCid: HOST, bufAlloc, seqpacket });
  const wire = new Uint8Array(VSOCK_HDR_SIZE + 65536);
  const out = emptyHeader();
  const read = emptyHeader();
  /** Moves packets both ways until neither side has any; returns the packets moved. */
  const pump = (): number => {
    let moved = 0;
    for (let again = true; again;) {
      again = false;
      for (const [from, to] of [
        [host, guest],
        [guest, host],
      ] as const) {
        while (from.next(out, MAX_PAYLOAD)) {
          writeHeader(wire, 0, out);
          if (from.data !== null) wire.set(from.data, VSOCK_HDR_SIZE);
          to.receive(readHeader(wire, 0, read), wire, VSOCK_HDR_SIZE, out.len);
          moved++;
          again = true;
        }
      }
    }
    return moved;
  };
  /** Hands `h` (with `data`) to `to` as if the other side had sent it. */
  const inject = (to: VsockEndpoint, h: Partial<VsockHeader>, data = new Uint8Array(0)): void => {
    const packet = { ...emptyHeader(), ...h };
    wire.set(data, VSOCK_HDR_SIZE);
    to.receive(packet, wire, VSOCK_HDR_SIZE, data.length);
  };
  return { host, guest, pump, inject };
}

/** Collects what a connection receives, consuming it at once (or not, for a slow reader). */
function collect(conn: VsockConnection, consume = true) {
  const got: Uint8Array[] = [];
  const state = { ended: false, closed: '' as string, bytes: 0 };
  conn.onData = (b) => {
    got.push(b);
    state.bytes += b.length;
    if (consume) conn.consumed(b.length);
  };
  conn.onEnd = () => (state.ended = true);
  conn.onClose = (why) => (state.closed = why);
  return { got, state, all: () => Buffer.concat(got) };
}

describe('vsock stream protocol (two endpoints, no rings)', () => {
  it('carries many concurrent streams both ways, every byte in order', () => {
    const { host, guest, pump } = pair();
    const accepted: VsockConnection[] = [];
    host.listen(5000, (c) => {
      accepted.push(c);
      c.accept();
    });
    const streams = Array.from({ length: 16 }, (_, i) => ({
      up: randomBytes(200_000 + i * 997),
      down: randomBytes(150_000 + i),
    }));
    const conns = streams.map(() => guest.connect(5000));
    const guestSide = conns.map((c) => collect(c));
    pump();
    expect(accepted).toHaveLength(16);
    expect(conns.every((c) => c.state === 'established')).toBe(true);
    const hostSide = accepted.map((c) => collect(c));
    streams.forEach((s, i) => {
      conns[i].write(s.up);
      accepted[i].write(s.down);
    });
    pump();
    streams.forEach((s, i) => {
      expect(hostSide[i].all().equals(s.up)).toBe(true);
      expect(guestSide[i].all().equals(s.down)).toBe(true);
    });
    expect(host.stats.errors + guest.stats.errors).toBe(0);
  });

  it('a slow reader holds the writer back at its buf_alloc; nothing is lost or duplicated when it reads', () => {
    const bufAlloc = 32 * 1024;
    const { host, guest, pump } = pair(bufAlloc);
    let server!: VsockConnection;
    host.listen(7, (c) => {
      server = c;
      c.accept();
    });
    const client = guest.connect(7);
    pump();
    const reader = collect(server, false);
    const data = randomBytes(10 * bufAlloc + 123);
    client.write(data);
    pump();
    // Exactly the credit arrived; the rest waits on the writer's side.
    expect(reader.state.bytes).toBe(bufAlloc);
    expect(server.rxQueued).toBe(bufAlloc);
    expect(client.outBytes).toBe(data.length - bufAlloc);
    // The reader takes what it has, a piece at a time; each credit update lets more through.
    let consumed = 0;
    while (consumed < data.length) {
      const have = reader.state.bytes - consumed;
      expect(have).toBeGreaterThan(0);
      expect(server.rxQueued).toBeLessThanOrEqual(bufAlloc);
      server.consumed(have);
      consumed += have;
      pump();
    }
    expect(reader.all().equals(data)).toBe(true);
    expect(host.stats.errors + guest.stats.errors).toBe(0);
  });

  it('a connection to a port nobody listens on is refused with RST', () => {
    const { guest, pump } = pair();
    const c = guest.connect(9999);
    const s = collect(c);
    pump();
    expect(s.state.closed).toBe('reset by peer');
    expect(c.state).toBe('closed');
    expect(guest.connections).toBe(0);
  });

  it('shutdown: SEND half-closes one way while the other still flows; both ways ends with RST for both', () => {
    const { host, guest, pump } = pair();
    let server!: VsockConnection;
    host.listen(80, (c) => {
      server = c;
      c.accept();
    });
    const client = guest.connect(80);
    const clientSide = collect(client);
    pump();
    const serverSide = collect(server);
    client.write(Buffer.from('request'));
    client.shutdown(VIRTIO_VSOCK_SHUTDOWN_SEND);
    pump();
    expect(serverSide.all().toString()).toBe('request');
    expect(serverSide.state.ended).toBe(true);
    expect(() => client.write(Buffer.from('more'))).toThrow(/write after shutdown/);
    server.write(Buffer.from('response'));
    server.shutdown();
    pump();
    expect(clientSide.all().toString()).toBe('response');
    expect(clientSide.state.ended).toBe(true);
    client.shutdown();
    pump();
    expect(serverSide.state.closed).toBe('closed');
    expect(clientSide.state.closed).toBe('closed');
    expect(host.connections + guest.connections).toBe(0);
  });

  it('a transport reset ends every connection on the side that sees it', () => {
    const { host, guest, pump } = pair();
    host.listen(1, (c) => c.accept());
    const conns = [guest.connect(1), guest.connect(1)];
    const sides = conns.map((c) => collect(c));
    pump();
    guest.resetAll();
    expect(sides.map((s) => s.state.closed)).toEqual(['reset by peer', 'reset by peer']);
    expect(guest.connections).toBe(0);
  });

  describe('malformed packets are refused with their errors; other connections go on', () => {
    function established() {
      const p = pair(8192);
      let server!: VsockConnection;
      p.host.listen(10, (c) => {
        server = c;
        c.accept();
      });
      const victim = p.guest.connect(10);
      const bystander = p.guest.connect(10);
      const bystanderSide = collect(bystander);
      p.pump();
      const serverOfBystander = server;
      return { ...p, victim, bystander, bystanderSide, serverOfBystander };
    }
    const base = (victim: VsockConnection): Partial<VsockHeader> => ({
      srcCid: GUEST,
      dstCid: HOST,
      srcPort: victim.localPort,
      dstPort: victim.peerPort,
      type: VIRTIO_VSOCK_TYPE_STREAM,
      bufAlloc: 8192,
    });
    const cases: {
      what: string;
      build: (v: VsockConnection) => [Partial<VsockHeader>, number];
      code: string;
      resetsVictim: boolean;
    }[] = [
      // A packet that cannot be taken resets the connection it names: the stream would otherwise go on with a hole.
      { what: 'an undefined op', build: (v) => [{ ...base(v), op: 9 }, 0], code: 'BAD_OP', resetsVictim: true },
      {
        what: 'a seqpacket type (unknown to a stream device: RST, as the spec asks)',
        build: (v) => [{ ...base(v), op: VIRTIO_VSOCK_OP_RW, type: 2, len: 4 }, 4],
        code: 'BAD_TYPE',
        resetsVictim: true,
      },
      {
        what: 'len beyond the buffer',
        build: (v) => [{ ...base(v), op: VIRTIO_VSOCK_OP_RW, len: 5000 }, 100],
        code: 'BAD_LENGTH',
        resetsVictim: true,
      },
      {
        what: 'data on a credit request',
        build: (v) => [{ ...base(v), op: VIRTIO_VSOCK_OP_CREDIT_REQUEST, len: 4 }, 4],
        code: 'BAD_LENGTH',
        resetsVictim: true,
      },
      {
        what: 'an unknown type for no connection (answered with RST)',
        build: (v) => [{ ...base(v), op: VIRTIO_VSOCK_OP_REQUEST, type: 7, srcPort: 515151 }, 0],
        code: 'BAD_TYPE',
        resetsVictim: false,
      },
      {
        what: 'a guest claiming another CID',
        build: (v) => [{ ...base(v), op: VIRTIO_VSOCK_OP_RW, srcCid: 7, len: 1 }, 1],
        code: 'BAD_CID',
        resetsVictim: false,
      },
      {
        what: 'an unknown connection (answered with RST)',
        build: (v) => [{ ...base(v), op: VIRTIO_VSOCK_OP_RW, srcPort: 424242, len: 1 }, 1],
        code: 'UNKNOWN_CONNECTION',
        resetsVictim: false,
      },
      {
        what: 'more data than the credit given (a credit lie)',
        build: (v) => [{ ...base(v), op: VIRTIO_VSOCK_OP_RW, len: 4096 }, 4096],
        code: 'CREDIT_EXCEEDED',
        resetsVictim: true,
      },
      {
        what: 'a second REQUEST on a live connection',
        build: (v) => [{ ...base(v), op: VIRTIO_VSOCK_OP_REQUEST }, 0],
        code: 'BAD_STATE',
        resetsVictim: true,
      },
    ];
    it.each(cases)('$what: $code', ({ build, code, resetsVictim }) => {
      const t = established();
      // For a credit lie, the victim's reader first gets 5000 of its 8192 bytes of credit and does not read them.
      if (code === 'CREDIT_EXCEEDED') {
        t.inject(t.host, { ...base(t.victim), op: VIRTIO_VSOCK_OP_RW, len: 5000 }, new Uint8Array(5000));
        expect(t.host.stats.errors).toBe(0);
      }
      const [h, bytes] = build(t.victim);
      const resetsBefore = t.host.stats.resetsSent;
      t.inject(t.host, h, new Uint8Array(bytes));
      expect(t.host.lastError?.code).toBe(code);
      expect(t.host.stats.errors).toBe(1);
      t.pump();
      const answered = resetsVictim || code === 'UNKNOWN_CONNECTION' || h.srcPort === 515151;
      expect(t.host.stats.resetsSent).toBe(resetsBefore + (answered ? 1 : 0));
      expect(t.victim.state).toBe(resetsVictim ? 'closed' : 'established');
      // The bystander connection still carries data both ways.
      const serverSide = collect(t.serverOfBystander);
      t.bystander.write(Buffer.from('still here'));
      t.serverOfBystander.write(Buffer.from('and here'));
      t.pump();
      expect(serverSide.all().toString()).toBe('still here');
      expect(t.bystanderSide.all().toString()).toBe('and here');
    });
  });
});

describe('vsock endpoint, seqpacket connections', () => {
  /** Messages a connection receives: data joined up to each onMessageEnd, with its EOR. */
  function messages(conn: VsockConnection, consume = true) {
    const got: { bytes: Buffer; eor: boolean }[] = [];
    let parts: Buffer[] = [];
    conn.onData = (b) => {
      parts.push(Buffer.from(b));
      if (consume) conn.consumed(b.length);
    };
    conn.onMessageEnd = (eor) => {
      got.push({ bytes: Buffer.concat(parts), eor });
      parts = [];
    };
    return got;
  }

  /** A seqpacket connection from the guest to host port 9, established. */
  function connected(bufAlloc: number) {
    const p = pair(bufAlloc, true);
    let server!: VsockConnection;
    p.host.listen(9, (c) => {
      server = c;
      c.accept();
    });
    const client = p.guest.connect(9, HOST, VIRTIO_VSOCK_TYPE_SEQPACKET);
    p.pump();
    return { ...p, server, client };
  }

  it('keeps message bounds both ways, across packets of 4 KiB and past the credit, with EOR where asked', () => {
    const { server, client, pump } = connected(16 * 1024);
    expect(server.type).toBe(VIRTIO_VSOCK_TYPE_SEQPACKET);
    const atServer = messages(server);
    const atClient = messages(client);
    const sizes = [1, 4095, 4096, 4097, 15_000, 40_000];
    const sent = sizes.map((n) => randomBytes(n));
    sent.forEach((m, i) => client.writeMessage(m, i === 2));
    const replies = sizes.map((n) => randomBytes(n));
    replies.forEach((m) => server.writeMessage(m));
    pump();
    expect(atServer.map((m) => [m.bytes.length, m.eor])).toEqual(sizes.map((n, i) => [n, i === 2]));
    expect(atServer.map((m) => m.bytes)).toEqual(sent);
    expect(atClient.map((m) => m.bytes)).toEqual(replies);
  });

  it('refuses a seqpacket REQUEST where seqpacket is not negotiated with an RST of that type (BAD_TYPE)', () => {
    const { host, inject } = pair(64 * 1024, false);
    host.listen(9, (c) => c.accept());
    inject(host, {
      srcCid: GUEST,
      dstCid: HOST,
      srcPort: 5,
      dstPort: 9,
      op: VIRTIO_VSOCK_OP_REQUEST,
      type: VIRTIO_VSOCK_TYPE_SEQPACKET,
    });
    expect(host.lastError?.code).toBe('BAD_TYPE');
    const h = emptyHeader();
    expect(host.next(h, 4096)).toBe(true);
    expect([h.op, h.type, h.dstPort]).toEqual([VIRTIO_VSOCK_OP_RST, VIRTIO_VSOCK_TYPE_SEQPACKET, 5]);
  });

  it('resets a connection whose packets change socket type (BAD_TYPE)', () => {
    const { host, server, client, inject } = connected(64 * 1024);
    inject(
      host,
      {
        srcCid: GUEST,
        dstCid: HOST,
        srcPort: client.localPort,
        dstPort: 9,
        op: VIRTIO_VSOCK_OP_RW,
        type: VIRTIO_VSOCK_TYPE_STREAM,
      },
      new Uint8Array(10),
    );
    expect(host.lastError?.code).toBe('BAD_TYPE');
    expect(server.state).toBe('closed');
  });
});
