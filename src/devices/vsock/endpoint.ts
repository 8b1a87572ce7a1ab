import {
  VIRTIO_VSOCK_OP_CREDIT_REQUEST,
  VIRTIO_VSOCK_OP_CREDIT_UPDATE,
  VIRTIO_VSOCK_OP_REQUEST,
  VIRTIO_VSOCK_OP_RESPONSE,
  VIRTIO_VSOCK_OP_RST,
  VIRTIO_VSOCK_OP_RW,
  VIRTIO_VSOCK_OP_SHUTDOWN,
  VIRTIO_VSOCK_SEQ_EOM,
  VIRTIO_VSOCK_SEQ_EOR,
  VIRTIO_VSOCK_SHUTDOWN_RCV,
  VIRTIO_VSOCK_SHUTDOWN_SEND,
  VIRTIO_VSOCK_TYPE_SEQPACKET,
  VIRTIO_VSOCK_TYPE_STREAM,
} from '../../spec/vsock.js';
import { VsockPacketError, headerProblem, opName, type VsockErrorCode, type VsockHeader } from './packet.js';

/** Bytes a connection may have received and not yet consumed: what it advertises as buf_alloc. */
export const DEFAULT_BUF_ALLOC = 256 * 1024;
/** Where ports for connections this side opens start (as Firecracker's muxer does: far from well-known ports). */
const FIRST_LOCAL_PORT = 0x4000_0000;
const BOTH = VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND;
const u32 = (n: number): number => n >>> 0;

/** Where a connection is: connecting (we asked), accepting (the peer asked), established, closed. */
export type VsockConnState = 'connecting' | 'accepting' | 'established' | 'closed';

/** How a connection ended: the peer reset it, it closed in order, or this side reset it (refused, error, reset()). */
export type VsockCloseReason = 'reset by peer' | 'closed' | 'reset';

/**
 * One connection of a VsockEndpoint, stream or seqpacket, with virtio-vsock's credit flow control: this side receives
 * at most `bufAlloc` bytes it has not consumed, and sends no more than the peer's buf_alloc minus what is in flight to
 * it (tx_cnt - the peer's fwd_cnt). What the application writes waits here until the peer has room. A seqpacket
 * connection keeps message bounds: writeMessage() sends a message (its last packet carries EOM), and onMessageEnd
 * follows the data of each message received.
 */
export class VsockConnection {
  state: VsockConnState;
  /** Receive side: bytes received and not consumed; bytes consumed (fwd_cnt, modulo 2^32); last fwd_cnt sent. */
  rxQueued = 0;
  fwdCnt = 0;
  fwdCntSent = 0;
  /** Send side: the peer's buffer and what it has consumed; bytes sent (tx_cnt). */
  peerBufAlloc = 0;
  peerFwdCnt = 0;
  txCnt = 0;
  /** SHUTDOWN flags received, and sent (or to send once the send buffer is empty). */
  peerShutdown = 0;
  localShutdown = 0;
  shutdownSent = 0;
  readonly #out: Uint8Array[] = [];
  /** For each chunk in #out: the flags its last packet carries (EOM, EOR: the end of a message), or 0. */
  readonly #outEnds: number[] = [];
  #outOffset = 0;
  outBytes = 0;
  /** @internal The flags of the piece takeOut() returned last (EOM and EOR when it ended a message). */
  takenFlags = 0;

  /** Data received (a copy: the caller may keep it). Call consumed(n) once it is used, to give the credit back. */
  onData: (bytes: Uint8Array) => void = () => {};
  /** Seqpacket: the data received since the last call (onData) completes a message; `eor` if it ends a record. */
  onMessageEnd: (eor: boolean) => void = () => {};
  /** The peer will send no more (SHUTDOWN with SEND). */
  onEnd: () => void = () => {};
  /** Called once the connection is established. */
  onConnected: () => void = () => {};
  /** Called once when it closes, with why. */
  onClose: (reason: VsockCloseReason) => void = () => {};

  constructor(
    readonly endpoint: VsockEndpoint,
    readonly localPort: number,
    readonly peerPort: number,
    state: VsockConnState,
    /** The CID at the other end: the link's peer, or (on a guest side with siblings) another guest. */
    readonly peerCid: number = endpoint.o.peerCid,
    /** VIRTIO_VSOCK_TYPE_STREAM or VIRTIO_VSOCK_TYPE_SEQPACKET. */
    readonly type: number = VIRTIO_VSOCK_TYPE_STREAM,
  ) {
    this.state = state;
  }

  /** Bytes the peer can take now. */
  get peerFree(): number {
    return this.peerBufAlloc - u32(this.txCnt - this.peerFwdCnt);
  }

  /** Queues bytes to send on a stream (kept by reference: do not change them). */
  write(bytes: Uint8Array): void {
    if (this.type !== VIRTIO_VSOCK_TYPE_STREAM)
      throw new Error(`vsock ${this.localPort}: write() on a seqpacket connection`);
    this.#queue(bytes, 0);
  }

  /** Queues one message on a seqpacket connection (kept by reference); `eor` marks the end of a record too. */
  writeMessage(bytes: Uint8Array, eor = false): void {
    if (this.type !== VIRTIO_VSOCK_TYPE_SEQPACKET)
      throw new Error(`vsock ${this.localPort}: writeMessage() on a stream`);
    // An empty message has no packet of its own to carry EOM: it is not sent (as a host socket cannot tell it from EOF).
    this.#queue(bytes, VIRTIO_VSOCK_SEQ_EOM | (eor ? VIRTIO_VSOCK_SEQ_EOR : 0));
  }

  #queue(bytes: Uint8Array, ends: number): void {
    if (this.state === 'closed' || this.localShutdown & VIRTIO_VSOCK_SHUTDOWN_SEND) {
      throw new Error(`vsock ${this.localPort}->${this.peerPort}: write after shutdown`);
    }
    if (bytes.length === 0) return;
    this.#out.push(bytes);
    this.#outEnds.push(ends);
    this.outBytes += bytes.length;
    this.endpoint.wake();
  }

  /** The application used `n` received bytes: their credit goes back to the peer. */
  consumed(n: number): void {
    this.rxQueued -= n;
    this.fwdCnt = u32(this.fwdCnt + n);
    this.endpoint.afterConsumed(this);
  }

  /** Accepts a connection handed to a listener: RESPONSE. */
  accept(): void {
    if (this.state !== 'accepting') return;
    this.state = 'established';
    this.endpoint.control(this, VIRTIO_VSOCK_OP_RESPONSE);
  }

  /** Sends no more (after what is queued), receives no more, or both. Both: the peer answers with RST. */
  shutdown(flags: number = BOTH): void {
    this.localShutdown |= flags & BOTH;
    this.endpoint.wake();
  }

  /** Ends the connection at once: RST, queued data dropped. */
  reset(): void {
    this.endpoint.resetConnection(this, 'reset');
  }

  /** @internal The next piece of queued data, at most `max` bytes (and within the peer's credit). */
  takeOut(max: number): Uint8Array | null {
    const n = Math.min(max, this.peerFree, this.outBytes);
    if (n <= 0) return null;
    const chunk = this.#out[0];
    const take = Math.min(n, chunk.length - this.#outOffset);
    const piece = chunk.subarray(this.#outOffset, this.#outOffset + take);
    this.#outOffset += take;
    this.takenFlags = 0;
    if (this.#outOffset === chunk.length) {
      this.#out.shift();
      this.takenFlags = this.#outEnds.shift()!;
      this.#outOffset = 0;
    }
    this.outBytes -= take;
    this.txCnt = u32(this.txCnt + take);
    return piece;
  }

  /** @internal */
  dropOut(): void {
    this.#out.length = 0;
    this.#outEnds.length = 0;
    this.#outOffset = 0;
    this.outBytes = 0;
  }
}

/** One side of the vsock link: its CID, its receive buffer, and how inbound connections are taken. */
export interface VsockEndpointOptions {
  /** For errors: "vsock.tx". */
  name: string;
  localCid: number;
  /** The peer on this link: the guest for a device, the host for a driver. */
  peerCid: number;
  /**
   * A guest side whose device forwards between guests: packets may also come from, and connections go to, other
   * guests' CIDs (connect(port, cid)). Without it, a packet from any CID but peerCid is refused.
   */
  siblings?: boolean;
  bufAlloc?: number;
  /** Take seqpacket connections too (VIRTIO_VSOCK_F_SEQPACKET negotiated). */
  seqpacket?: boolean;
  /** Something to send appeared: the transport should call next() (it may be called often). */
  onWork?: () => void;
}

/** Exact counts of what an endpoint sent, received and refused. */
export interface VsockEndpointStats {
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Packets refused (see lastError). */
  errors: number;
  resetsSent: number;
}

/** Where a packet goes, and for which kind of socket: a connection, or the packet a reply answers. */
interface PacketAddress {
  peerCid: number;
  localPort: number;
  peerPort: number;
  /** The socket type (an RST to a seqpacket REQUEST must say seqpacket, or the guest never matches it). */
  type: number;
}

interface ControlPacket extends PacketAddress {
  op: number;
  flags: number;
  conn: VsockConnection | null;
}

const addressOf = (c: VsockConnection): PacketAddress => ({
  peerCid: c.peerCid,
  localPort: c.localPort,
  peerPort: c.peerPort,
  type: c.type,
});

/**
 * The virtio-vsock stream protocol for one side of one link, independent of the rings: packets in (receive), packets
 * out (next), connections with credit flow control. The device runs one for the host side, the driver one for the
 * guest side. Every bad packet is refused with a VsockPacketError (counted, remembered in lastError, and answered
 * with RST where the spec says so); the other connections go on.
 */
export class VsockEndpoint {
  readonly stats: VsockEndpointStats = {
    packetsIn: 0,
    packetsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    errors: 0,
    resetsSent: 0,
  };
  lastError: VsockPacketError | null = null;
  /** The data of the packet next() produced, or null. */
  data: Uint8Array | null = null;
  readonly bufAlloc: number;
  readonly #conns = new Map<string, VsockConnection>();
  readonly #listeners = new Map<number, (conn: VsockConnection) => void>();
  readonly #control: ControlPacket[] = [];
  #nextLocalPort = FIRST_LOCAL_PORT;
  #anyListener: ((conn: VsockConnection) => void) | null = null;

  constructor(readonly o: VsockEndpointOptions) {
    this.bufAlloc = o.bufAlloc ?? DEFAULT_BUF_ALLOC;
  }

  get connections(): number {
    return this.#conns.size;
  }

  /** Control packets (replies, RSTs, credit updates) waiting for receive buffers. */
  get controlBacklog(): number {
    return this.#control.length;
  }

  /** Whether next() may have a packet: a control packet, or a connection with data or a shutdown to send. */
  get pending(): boolean {
    if (this.#control.length > 0) return true;
    for (const conn of this.#conns.values()) {
      if (conn.state !== 'established') continue;
      if (conn.outBytes > 0 && conn.peerFree > 0 && !(conn.peerShutdown & VIRTIO_VSOCK_SHUTDOWN_RCV)) return true;
      if (conn.localShutdown !== conn.shutdownSent && conn.outBytes === 0) return true;
    }
    return false;
  }

  /** Connections to ports nobody listens on are handed to `onAccept` instead of being refused (a bridge's rule). */
  listenAny(onAccept: (conn: VsockConnection) => void): void {
    this.#anyListener = onAccept;
  }

  /** Connections to `port` are handed to `onAccept`, which calls accept() (now or later) or reset(). */
  listen(port: number, onAccept: (conn: VsockConnection) => void): void {
    this.#listeners.set(port, onAccept);
  }

  /**
   * Opens a connection to `peerPort` of the peer (or, with `siblings`, of guest `peerCid`) from a free port: REQUEST.
   * `type` VIRTIO_VSOCK_TYPE_SEQPACKET (with the `seqpacket` option) for message bounds.
   */
  connect(peerPort: number, peerCid = this.o.peerCid, type = VIRTIO_VSOCK_TYPE_STREAM): VsockConnection {
    if (peerCid !== this.o.peerCid && this.o.siblings !== true) {
      throw new RangeError(`${this.o.name}: CID ${peerCid} is not on this link (its peer is CID ${this.o.peerCid})`);
    }
    if (type !== VIRTIO_VSOCK_TYPE_STREAM && !(type === VIRTIO_VSOCK_TYPE_SEQPACKET && this.o.seqpacket === true)) {
      throw new RangeError(`${this.o.name}: socket type ${type} is not negotiated on this link`);
    }
    let localPort = this.#nextLocalPort;
    while (this.#conns.has(key(localPort, peerCid, peerPort))) localPort = u32(localPort + 1);
    this.#nextLocalPort = u32(localPort + 1) || FIRST_LOCAL_PORT;
    const conn = new VsockConnection(this, localPort, peerPort, 'connecting', peerCid, type);
    this.#conns.set(key(localPort, peerCid, peerPort), conn);
    this.control(conn, VIRTIO_VSOCK_OP_REQUEST);
    return conn;
  }

  /** Every connection ends (a transport reset): each is told it was reset; nothing is sent. */
  resetAll(): void {
    for (const conn of [...this.#conns.values()]) this.#forget(conn, 'reset by peer');
    this.#control.length = 0;
  }

  /** Takes one packet from the peer: `h` and the `h.len` bytes at `payload[at..]` (valid during the call). */
  receive(h: VsockHeader, payload: Uint8Array, at: number, available: number): void {
    this.stats.packetsIn++;
    const fromPeer = h.srcCid === this.o.peerCid || (this.o.siblings === true && h.srcCid !== this.o.localCid);
    if (!fromPeer || h.dstCid !== this.o.localCid) {
      return this.#refuse('BAD_CID', `${opName(h.op)} from CID ${h.srcCid} to CID ${h.dstCid}`);
    }
    const problem = headerProblem(h, available, this.o.seqpacket === true);
    if (problem !== null) return this.refusePacket(h, problem[0], problem[1]);
    if (h.op !== VIRTIO_VSOCK_OP_RW && h.len !== 0) {
      return this.refusePacket(h, 'BAD_LENGTH', `${opName(h.op)} with ${h.len} bytes of data`);
    }
    const conn = this.#conns.get(key(h.dstPort, h.srcCid, h.srcPort));
    if (h.op === VIRTIO_VSOCK_OP_REQUEST) return this.#request(h, conn);
    if (conn === undefined) {
      if (h.op === VIRTIO_VSOCK_OP_RST) return;
      this.#refuse('UNKNOWN_CONNECTION', `${opName(h.op)} for port ${h.dstPort} from port ${h.srcPort}`);
      return this.#reply(h, VIRTIO_VSOCK_OP_RST);
    }
    if (h.type !== conn.type)
      return this.#broken(conn, 'BAD_TYPE', `type ${h.type} on a connection of type ${conn.type}`);
    conn.peerBufAlloc = h.bufAlloc;
    conn.peerFwdCnt = h.fwdCnt;
    switch (h.op) {
      case VIRTIO_VSOCK_OP_RESPONSE:
        if (conn.state !== 'connecting') return this.#broken(conn, 'BAD_STATE', `RESPONSE while ${conn.state}`);
        conn.state = 'established';
        conn.onConnected();
        break;
      case VIRTIO_VSOCK_OP_RW: {
        if (conn.state !== 'established') return this.#broken(conn, 'BAD_STATE', `RW while ${conn.state}`);
        if (conn.peerShutdown & VIRTIO_VSOCK_SHUTDOWN_SEND)
          return this.#broken(conn, 'BAD_STATE', 'RW after SHUTDOWN(SEND)');
        if (conn.rxQueued + h.len > this.bufAlloc) {
          return this.#broken(
            conn,
            'CREDIT_EXCEEDED',
            `${h.len} bytes with ${conn.rxQueued} of ${this.bufAlloc} unconsumed`,
          );
        }
        if (h.len > 0) {
          conn.rxQueued += h.len;
          this.stats.bytesIn += h.len;
          conn.onData(payload.slice(at, at + h.len));
        }
        // onData may have reset the connection.
        const open = (conn.state as VsockConnState) !== 'closed';
        if (open && conn.type === VIRTIO_VSOCK_TYPE_SEQPACKET && h.flags & VIRTIO_VSOCK_SEQ_EOM) {
          conn.onMessageEnd((h.flags & VIRTIO_VSOCK_SEQ_EOR) !== 0);
        }
        break;
      }
      case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
        this.control(conn, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
        break;
      case VIRTIO_VSOCK_OP_SHUTDOWN: {
        const before = conn.peerShutdown;
        conn.peerShutdown |= h.flags & BOTH;
        if (!(before & VIRTIO_VSOCK_SHUTDOWN_SEND) && conn.peerShutdown & VIRTIO_VSOCK_SHUTDOWN_SEND) conn.onEnd();
        this.#maybeFinish(conn);
        break;
      }
      case VIRTIO_VSOCK_OP_RST:
        this.#forget(conn, conn.localShutdown === BOTH ? 'closed' : 'reset by peer');
        return;
    }
    // New credit from the peer may let queued data go.
    if (conn.outBytes > 0 || conn.localShutdown !== conn.shutdownSent) this.wake();
  }

  /**
   * Writes the next packet to send into `h` (with this side's credit on it) and returns true, or false when there is
   * nothing to send. Its data, if any, is in `data` (h.len bytes, valid until the next call); `maxPayload` is the
   * room after the header.
   */
  next(h: VsockHeader, maxPayload: number): boolean {
    const c = this.#control.shift();
    if (c !== undefined) {
      this.#fill(h, c, c.op, c.flags, c.conn);
      if (c.op === VIRTIO_VSOCK_OP_RST) this.stats.resetsSent++;
      this.stats.packetsOut++;
      this.data = null;
      return true;
    }
    for (const conn of this.#conns.values()) {
      if (conn.state !== 'established') continue;
      if (conn.outBytes > 0 && !(conn.peerShutdown & VIRTIO_VSOCK_SHUTDOWN_RCV)) {
        const data = conn.takeOut(maxPayload);
        if (data !== null) {
          this.#fill(h, conn, VIRTIO_VSOCK_OP_RW, conn.takenFlags, conn);
          h.len = data.length;
          this.stats.packetsOut++;
          this.stats.bytesOut += data.length;
          this.data = data;
          return true;
        }
        continue;
      }
      // Shutdown goes after the data queued before it.
      const pending = conn.localShutdown & ~conn.shutdownSent;
      if (pending !== 0 && conn.outBytes === 0) {
        conn.shutdownSent |= pending;
        this.#fill(h, conn, VIRTIO_VSOCK_OP_SHUTDOWN, conn.localShutdown, conn);
        this.stats.packetsOut++;
        this.data = null;
        return true;
      }
    }
    return false;
  }

  /** @internal Queues a header-only packet for `conn`. */
  control(conn: VsockConnection, op: number, flags = 0): void {
    this.#control.push({ ...addressOf(conn), op, flags, conn });
    this.wake();
  }

  /** @internal */
  wake(): void {
    this.o.onWork?.();
  }

  /** @internal After the application consumed data: credit back to the peer when enough has gathered. */
  afterConsumed(conn: VsockConnection): void {
    if (conn.state === 'established' && u32(conn.fwdCnt - conn.fwdCntSent) >= this.bufAlloc / 4) {
      this.control(conn, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
    }
    this.#maybeFinish(conn);
  }

  /** @internal */
  resetConnection(conn: VsockConnection, reason: VsockCloseReason): void {
    if (conn.state === 'closed') return;
    this.#control.push({ ...addressOf(conn), op: VIRTIO_VSOCK_OP_RST, flags: 0, conn: null });
    this.#forget(conn, reason);
    this.wake();
  }

  #request(h: VsockHeader, existing: VsockConnection | undefined): void {
    if (existing !== undefined) return this.#broken(existing, 'BAD_STATE', `REQUEST while ${existing.state}`);
    const onAccept = this.#listeners.get(h.dstPort) ?? this.#anyListener ?? undefined;
    if (onAccept === undefined) return this.#reply(h, VIRTIO_VSOCK_OP_RST);
    const conn = new VsockConnection(this, h.dstPort, h.srcPort, 'accepting', h.srcCid, h.type);
    conn.peerBufAlloc = h.bufAlloc;
    conn.peerFwdCnt = h.fwdCnt;
    this.#conns.set(key(h.dstPort, h.srcCid, h.srcPort), conn);
    onAccept(conn);
  }

  /** The peer closed both ways and everything received was consumed: RST ends it (as Linux expects). */
  #maybeFinish(conn: VsockConnection): void {
    if (conn.state === 'closed' || conn.peerShutdown !== BOTH || conn.rxQueued > 0) return;
    this.resetConnection(conn, 'closed');
  }

  /** A header for `to`, with this side's credit (and `conn`'s fwd_cnt, if any). */
  #fill(h: VsockHeader, to: PacketAddress, op: number, flags: number, conn: VsockConnection | null) {
    h.srcCid = this.o.localCid;
    h.dstCid = to.peerCid;
    h.srcPort = to.localPort;
    h.dstPort = to.peerPort;
    h.len = 0;
    h.type = to.type;
    h.op = op;
    h.flags = flags;
    h.bufAlloc = this.bufAlloc;
    h.fwdCnt = conn?.fwdCnt ?? 0;
    if (conn !== null) conn.fwdCntSent = conn.fwdCnt;
  }

  /**
   * A packet that cannot be taken (a bad length, an unknown op or type, a buffer the device refused): nothing is lost
   * silently. The connection it names is reset, as a stream with a hole in it would be worse; with no connection
   * behind it the peer gets an RST (VIRTIO 1.2 section 5.10.6.4: an unknown type is answered with RST).
   */
  refusePacket(h: VsockHeader, code: VsockErrorCode, detail: string): void {
    const conn = this.#conns.get(key(h.dstPort, h.srcCid, h.srcPort));
    if (conn !== undefined) return this.#broken(conn, code, detail);
    this.#refuse(code, detail);
    if (h.op !== VIRTIO_VSOCK_OP_RST) this.#reply(h, VIRTIO_VSOCK_OP_RST);
  }

  /** A reply to a packet with no connection behind it (RST to a refused REQUEST or an unknown connection). */
  #reply(h: VsockHeader, op: number): void {
    this.#control.push({
      peerCid: h.srcCid,
      op,
      flags: 0,
      type: h.type,
      localPort: h.dstPort,
      peerPort: h.srcPort,
      conn: null,
    });
    this.wake();
  }

  #broken(conn: VsockConnection, code: VsockErrorCode, detail: string): void {
    this.#refuse(code, `port ${conn.localPort} from port ${conn.peerPort}: ${detail}`);
    this.resetConnection(conn, 'reset');
  }

  #forget(conn: VsockConnection, reason: VsockCloseReason): void {
    if (conn.state === 'closed') return;
    conn.state = 'closed';
    conn.dropOut();
    this.#conns.delete(key(conn.localPort, conn.peerCid, conn.peerPort));
    conn.onClose(reason);
  }

  #refuse(code: VsockErrorCode, detail: string): void {
    this.stats.errors++;
    this.lastError = new VsockPacketError(code, this.o.name, detail);
  }
}

const key = (localPort: number, peerCid: number, peerPort: number): string => `${localPort}:${peerCid}:${peerPort}`;
