import {
  VIRTIO_VSOCK_OP_REQUEST,
  VIRTIO_VSOCK_OP_RST,
  VIRTIO_VSOCK_OP_RW,
  VIRTIO_VSOCK_SEQ_EOM,
  VIRTIO_VSOCK_SEQ_EOR,
  VSOCK_HDR_FLAGS,
  VSOCK_HDR_LEN,
  VSOCK_HDR_SIZE,
} from '../../spec/vsock.js';
import { VsockPacketError, emptyHeader, opName, writeHeader, type VsockErrorCode, type VsockHeader } from './packet.js';
import { VSOCK_MAX_PAYLOAD } from './vsock-device.js';

/**
 * Bytes (headers and data) forwarded to one guest and not yet in its receive buffers. Past this the guest is not
 * taking what it is sent: a packet that would go over it resets its connection instead of growing the daemon, and the
 * guest's own transmit queue waits (its replies back up). The credit each guest grants bounds what an honest sender
 * can have queued: 32 MiB is 128 connections each holding Linux's default 256 KiB of credit.
 */
export const SIBLING_INBOX_BYTES = 32 * 1024 * 1024;
/** Packets forwarded to one guest and waiting, at most (the same rule as the bytes). */
export const SIBLING_INBOX_PACKETS = 16384;
/** Connections one guest may have open to its siblings at once (Linux's vsock_test opens 100). */
export const MAX_SIBLING_CONNECTIONS = 4096;

const u32 = (n: number): number => n >>> 0;

/**
 * Packets forwarded to one guest, waiting for its receive buffers: each as its sender wrote it (header and data). A
 * packet larger than a receive buffer goes in pieces, each with the header's fields and its own len; a SEQPACKET
 * message's EOM and EOR flags stay on its last piece only (as Linux's vhost-vsock splits), so the message arrives whole.
 */
export class SiblingInbox {
  readonly #packets: Uint8Array[] = [];
  /** Data bytes of the head packet already delivered. */
  #sent = 0;
  bytes = 0;

  get count(): number {
    return this.#packets.length;
  }

  /**
   * At its limit (no room for a largest packet): what more is forwarded to it resets its connection, and its own
   * transmit queue waits.
   */
  get full(): boolean {
    return (
      this.bytes > SIBLING_INBOX_BYTES - VSOCK_HDR_SIZE - VSOCK_MAX_PAYLOAD ||
      this.#packets.length >= SIBLING_INBOX_PACKETS
    );
  }

  push(packet: Uint8Array): void {
    this.#packets.push(packet);
    this.bytes += packet.length;
  }

  /** Drops everything waiting (the guest is gone). */
  clear(): void {
    this.#packets.length = 0;
    this.#sent = 0;
    this.bytes = 0;
  }

  /**
   * Writes the next packet, or its next piece of at most `room` data bytes, into `out` at 0; returns its length
   * (header included), or 0 when nothing waits or no data fits in `room`.
   */
  next(out: Uint8Array, room: number): number {
    const packet = this.#packets[0];
    if (packet === undefined) return 0;
    const view = new DataView(packet.buffer, packet.byteOffset, VSOCK_HDR_SIZE);
    const data = packet.length - VSOCK_HDR_SIZE;
    const piece = Math.min(room, data - this.#sent);
    if (piece === 0 && data > 0) return 0;
    out.set(packet.subarray(0, VSOCK_HDR_SIZE), 0);
    out.set(packet.subarray(VSOCK_HDR_SIZE + this.#sent, VSOCK_HDR_SIZE + this.#sent + piece), VSOCK_HDR_SIZE);
    const o = new DataView(out.buffer, out.byteOffset, VSOCK_HDR_SIZE);
    o.setUint32(VSOCK_HDR_LEN, piece, true);
    this.#sent += piece;
    const last = this.#sent === data;
    if (!last) o.setUint32(VSOCK_HDR_FLAGS, view.getUint32(VSOCK_HDR_FLAGS, true) & ~MESSAGE_BOUNDS, true);
    if (last) {
      this.#packets.shift();
      this.#sent = 0;
      this.bytes -= packet.length;
    }
    return VSOCK_HDR_SIZE + piece;
  }
}

/** The flags that end a SEQPACKET message or record: only a message's last piece carries them. */
const MESSAGE_BOUNDS = VIRTIO_VSOCK_SEQ_EOM | VIRTIO_VSOCK_SEQ_EOR;

/** A guest the router delivers to: its CID and groups, where its packets wait, and how to wake its data unit. */
export class SiblingPort {
  readonly inbox = new SiblingInbox();
  /** Its packets the router refused or whose connection it reset (the last one in lastError). */
  errors = 0;
  lastError: VsockPacketError | null = null;

  constructor(
    readonly cid: number,
    /** Groups it belongs to (vhost-device-vsock's groups=): guests sharing one can reach each other. */
    readonly groups: readonly string[],
    /** Something was put in the inbox. */
    readonly wake: () => void,
  ) {}
}

/** What the router tracks of one side of a connection between two guests: enough to hold it to its credit. */
interface ConnSide {
  cid: number;
  port: number;
  /** The largest buf_alloc it has advertised: no sender may ever have more in flight to it than this. */
  maxBufAlloc: number;
  fwdCnt: number;
  /** Data bytes forwarded from it. */
  txCnt: number;
}

interface SiblingConn {
  key: string;
  /** Stream or seqpacket, for the RSTs the router sends (a guest matches them to a socket of that type). */
  type: number;
  /** The side that sent the REQUEST. */
  a: ConnSide;
  b: ConnSide;
}

/** Exact counts of what the router did. */
export interface SiblingRouterStats {
  forwarded: number;
  forwardedBytes: number;
  /** Packets answered with RST: no such guest, not in a shared group, no such connection, or a limit reached. */
  refused: number;
  /** Connections reset by the router: credit exceeded, or a guest not taking its packets. */
  resets: number;
}

/**
 * Forwards vsock packets between guests of one daemon (sibling VMs), on the event-loop thread that runs every VM's
 * vsock unit. Guests reach each other only when they share a group. Every packet is forwarded with its header intact
 * (ops, flags, credit fields, type). The router follows each connection from its REQUEST to its RST, so that:
 * - a packet for a guest outside the sender's groups, or one that is gone, or for no known connection, gets RST;
 * - a sender that goes past the credit its peer granted loses that connection (RST both ways): what it has queued
 *   for its peer is bounded by that credit, and flow control holds end to end;
 * - a guest that does not take its packets (SIBLING_INBOX_BYTES) loses the connections that send it more.
 * Nothing of one guest's misbehaviour reaches a connection it is not part of.
 */
export class SiblingRouter {
  readonly stats: SiblingRouterStats = { forwarded: 0, forwardedBytes: 0, refused: 0, resets: 0 };
  lastError: VsockPacketError | null = null;
  readonly #ports = new Map<number, SiblingPort>();
  readonly #conns = new Map<string, SiblingConn>();
  /** Connections by guest CID (either side), to end them when it goes. */
  readonly #byGuest = new Map<number, Set<SiblingConn>>();
  /**
   * Connections each guest opened (sent the REQUEST of), held to MAX_SIBLING_CONNECTIONS: counted for the side that
   * opens them, so that a guest opening many cannot use up another's.
   */
  readonly #opened = new Map<number, number>();
  readonly #rst = emptyHeader();

  /** The guest can be reached by (and reach) the guests it shares a group with. */
  attach(port: SiblingPort): void {
    this.detach(port.cid);
    this.#ports.set(port.cid, port);
  }

  /**
   * The guest is gone: what waits for it is dropped, and each of its connections' other side gets RST. Returns how
   * many connections that ended.
   */
  detach(cid: number): number {
    const port = this.#ports.get(cid);
    if (port === undefined) return 0;
    this.#ports.delete(cid);
    port.inbox.clear();
    const conns = [...(this.#byGuest.get(cid) ?? [])];
    for (const conn of conns) {
      const other = conn.a.cid === cid ? conn.b : conn.a;
      const gone = conn.a.cid === cid ? conn.a : conn.b;
      this.#forget(conn);
      this.#sendRst(this.#ports.get(other.cid), gone, other, conn.type);
    }
    return conns.length;
  }

  /**
   * A packet from guest `from` to another guest: `h` decoded, `packet` the header and its h.len data bytes (copied
   * if forwarded). The caller checked its source CID and its header.
   */
  route(from: SiblingPort, h: VsockHeader, packet: Uint8Array): void {
    const to = this.#ports.get(h.dstCid);
    // Reachable: attached, another guest, in a shared group.
    if (to === undefined || to === from || !to.groups.some((g) => from.groups.includes(g))) {
      return this.#refuse(from, h, 'BAD_CID', `${opName(h.op)} to CID ${h.dstCid}: no such guest in a shared group`);
    }
    const key = connKey(h.srcCid, h.srcPort, h.dstCid, h.dstPort);
    let conn = this.#conns.get(key);
    if (h.op === VIRTIO_VSOCK_OP_REQUEST) {
      // A REQUEST on a connection the router still follows starts it anew (its peer answers with RST if it is live).
      if (conn !== undefined) this.#forget(conn);
      if ((this.#opened.get(from.cid) ?? 0) >= MAX_SIBLING_CONNECTIONS) {
        return this.#refuse(from, h, 'BAD_STATE', `more than ${MAX_SIBLING_CONNECTIONS} connections to siblings`);
      }
      conn = {
        key,
        type: h.type,
        a: { cid: h.srcCid, port: h.srcPort, maxBufAlloc: 0, fwdCnt: 0, txCnt: 0 },
        b: { cid: h.dstCid, port: h.dstPort, maxBufAlloc: 0, fwdCnt: 0, txCnt: 0 },
      };
      this.#conns.set(key, conn);
      this.#opened.set(from.cid, (this.#opened.get(from.cid) ?? 0) + 1);
      for (const c of [conn.a.cid, conn.b.cid]) {
        let set = this.#byGuest.get(c);
        if (set === undefined) this.#byGuest.set(c, (set = new Set()));
        set.add(conn);
      }
    }
    if (conn === undefined) {
      if (h.op === VIRTIO_VSOCK_OP_RST) return;
      return this.#refuse(from, h, 'UNKNOWN_CONNECTION', `${opName(h.op)} to CID ${h.dstCid} port ${h.dstPort}`);
    }
    const [self, peer] = conn.a.cid === h.srcCid && conn.a.port === h.srcPort ? [conn.a, conn.b] : [conn.b, conn.a];
    self.maxBufAlloc = Math.max(self.maxBufAlloc, h.bufAlloc);
    self.fwdCnt = h.fwdCnt;
    if (h.op === VIRTIO_VSOCK_OP_RW) {
      const inFlight = u32(self.txCnt + h.len - peer.fwdCnt);
      if (inFlight > peer.maxBufAlloc) {
        const detail = `${inFlight} bytes in flight, credit ${peer.maxBufAlloc}`;
        return this.#reset(conn, from, to, h, from, 'CREDIT_EXCEEDED', detail);
      }
      self.txCnt = u32(self.txCnt + h.len);
    }
    const length = VSOCK_HDR_SIZE + h.len;
    if (h.op !== VIRTIO_VSOCK_OP_RST && (to.inbox.full || to.inbox.bytes + length > SIBLING_INBOX_BYTES)) {
      const waiting = `${to.inbox.count} packets, ${to.inbox.bytes} bytes`;
      return this.#reset(
        conn,
        from,
        to,
        h,
        to,
        'BAD_STATE',
        `CID ${to.cid} is not taking its packets (${waiting} wait)`,
      );
    }
    if (h.op === VIRTIO_VSOCK_OP_RST) this.#forget(conn);
    to.inbox.push(packet.slice(0, length));
    to.wake();
    this.stats.forwarded++;
    this.stats.forwardedBytes += h.len;
  }

  /** Connections open between guests (tracked from REQUEST to RST). */
  get connections(): number {
    return this.#conns.size;
  }

  #refuse(from: SiblingPort, h: VsockHeader, code: VsockErrorCode, detail: string): void {
    this.stats.refused++;
    this.#blame(from, new VsockPacketError(code, `vsock.siblings (CID ${from.cid})`, detail));
    if (h.op === VIRTIO_VSOCK_OP_RST) return;
    this.#sendRst(from, { cid: h.dstCid, port: h.dstPort }, { cid: h.srcCid, port: h.srcPort }, h.type);
  }

  /** Ends a connection for a fault of one side (`blamed`): RST to both, the packet `from` sent dropped. */
  #reset(
    conn: SiblingConn,
    from: SiblingPort,
    to: SiblingPort,
    h: VsockHeader,
    blamed: SiblingPort,
    code: VsockErrorCode,
    detail: string,
  ): void {
    this.stats.resets++;
    const where = `vsock.siblings (CID ${blamed.cid})`;
    this.#blame(blamed, new VsockPacketError(code, where, `${opName(h.op)} from CID ${from.cid}: ${detail}`));
    this.#forget(conn);
    const src = { cid: h.srcCid, port: h.srcPort };
    const dst = { cid: h.dstCid, port: h.dstPort };
    this.#sendRst(from, dst, src, h.type);
    this.#sendRst(to, src, dst, h.type);
  }

  /** An RST from `src` to `dst`, put in the inbox of `port` (dst's guest), if it is still there. */
  #sendRst(
    port: SiblingPort | undefined,
    src: { cid: number; port: number },
    dst: { cid: number; port: number },
    type: number,
  ): void {
    if (port === undefined) return;
    const h = this.#rst;
    h.srcCid = src.cid;
    h.srcPort = src.port;
    h.dstCid = dst.cid;
    h.dstPort = dst.port;
    h.len = 0;
    h.type = type;
    h.op = VIRTIO_VSOCK_OP_RST;
    h.flags = 0;
    h.bufAlloc = 0;
    h.fwdCnt = 0;
    const packet = new Uint8Array(VSOCK_HDR_SIZE);
    writeHeader(packet, 0, h);
    port.inbox.push(packet);
    port.wake();
  }

  #blame(port: SiblingPort, error: VsockPacketError): void {
    this.lastError = error;
    port.errors++;
    port.lastError = error;
  }

  #forget(conn: SiblingConn): void {
    if (!this.#conns.delete(conn.key)) return;
    this.#opened.set(conn.a.cid, (this.#opened.get(conn.a.cid) ?? 1) - 1);
    this.#byGuest.get(conn.a.cid)?.delete(conn);
    this.#byGuest.get(conn.b.cid)?.delete(conn);
  }
}

/** The same key for both directions of a connection. */
function connKey(cidA: number, portA: number, cidB: number, portB: number): string {
  const x = `${cidA}:${portA}`;
  const y = `${cidB}:${portB}`;
  return x < y ? `${x}-${y}` : `${y}-${x}`;
}
