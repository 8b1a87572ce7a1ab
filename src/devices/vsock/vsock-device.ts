import {
  VIRTIO_VSOCK_EVENT_TRANSPORT_RESET,
  VMADDR_CID_HOST,
  VSOCK_EVENT_SIZE,
  VSOCK_HDR_SIZE,
} from '../../spec/vsock.js';
import type { Chain } from '../../virtqueue/chain.js';
import type { VirtqueueDevice } from '../../virtqueue/types.js';
import type { VsockEndpoint } from './endpoint.js';
import { VsockPacketError, emptyHeader, headerProblem, opName, readHeader, writeHeader } from './packet.js';
import type { SiblingPort, SiblingRouter } from './sibling-router.js';

/** Where a guest's packets for other CIDs go: the daemon's router, and this guest's place in it. */
export interface VsockSiblings {
  router: SiblingRouter;
  port: SiblingPort;
  /** VIRTIO_VSOCK_F_SEQPACKET negotiated: seqpacket packets are forwarded (the host endpoint takes streams). */
  seqpacket: boolean;
}

/** The most data one packet carries (Linux's VIRTIO_VSOCK_MAX_PKT_BUF_SIZE). */
export const VSOCK_MAX_PAYLOAD = 64 * 1024;

/**
 * Replies the device lets wait for receive buffers before it stops taking transmit packets: a guest that floods
 * REQUESTs and never reads its receive queue is held back by its own transmit ring instead of growing our memory.
 */
export const MAX_CONTROL_BACKLOG = 256;

export interface VsockDeviceStats {
  txPackets: number;
  rxPackets: number;
  /** Buffers refused before the protocol saw them (writable transmit buffers, short headers, small receive buffers). */
  bufferErrors: number;
}

/**
 * The device side of virtio-vsock's data queues around the host's VsockEndpoint: packets out of the transmit queue
 * into the endpoint (for the host, CID 2) or the sibling router (for another guest); the endpoint's packets and those
 * forwarded from siblings into receive buffers, in turn. A bad buffer is refused with a VsockPacketError and completed
 * empty; the queues go on. (The event queue is VsockEvents': QEMU keeps it for itself.)
 */
export class VsockDevice {
  readonly stats: VsockDeviceStats = { txPackets: 0, rxPackets: 0, bufferErrors: 0 };
  lastError: VsockPacketError | null = null;
  readonly #packet = new Uint8Array(VSOCK_HDR_SIZE + VSOCK_MAX_PAYLOAD);
  readonly #in = emptyHeader();
  readonly #out = emptyHeader();
  /** A receive buffer popped for a packet that did not fit it (data, in a buffer with room for a header only). */
  #rxChain: Chain | null = null;
  /** Whose packet the next receive buffer takes when both have one: the siblings' or the host's (in turn). */
  #siblingsNext = false;

  constructor(
    readonly rx: VirtqueueDevice,
    readonly tx: VirtqueueDevice,
    readonly endpoint: VsockEndpoint,
    readonly siblings: VsockSiblings | null = null,
  ) {}

  /**
   * Transmit packets wait while the guest has not taken what is already queued for it: the host's replies
   * (MAX_CONTROL_BACKLOG), or packets from siblings and the router's answers (SiblingInbox.full).
   */
  get transmitBlocked(): boolean {
    return this.endpoint.controlBacklog >= MAX_CONTROL_BACKLOG || this.siblings?.port.inbox.full === true;
  }

  /** Whether receive buffers would be filled now: the host or a sibling has a packet for the guest. */
  get pending(): boolean {
    return this.endpoint.pending || (this.siblings?.port.inbox.count ?? 0) > 0;
  }

  /** Hands the available transmit packets to the endpoint (unless its replies back up); returns how many. */
  transmit(): number {
    let n = 0;
    for (let chain = this.#nextTx(); chain !== null; chain = this.#nextTx()) {
      n++;
      this.#transmitOne(chain);
      this.tx.complete(chain, 0);
    }
    return n;
  }

  #nextTx(): Chain | null {
    return this.transmitBlocked ? null : this.tx.pop();
  }

  #transmitOne(chain: Chain): void {
    if (chain.writableCount !== 0) return this.#refuse('BAD_BUFFER', `tx buffer ${chain.id} has writable parts`);
    const total = chain.readableLength;
    if (total < VSOCK_HDR_SIZE) return this.#refuse('SHORT_HEADER', `tx buffer ${chain.id} holds ${total} bytes`);
    if (total > this.#packet.length) {
      // Its header still says which connection it belongs to: that stream cannot go on without these bytes.
      const detail = `tx buffer ${chain.id} holds ${total} bytes (at most ${this.#packet.length})`;
      this.#refuse('BAD_LENGTH', detail);
      chain.readInto(this.#packet.subarray(0, VSOCK_HDR_SIZE));
      return this.endpoint.refusePacket(readHeader(this.#packet, 0, this.#in), 'BAD_LENGTH', detail);
    }
    chain.readInto(this.#packet);
    this.stats.txPackets++;
    const h = readHeader(this.#packet, 0, this.#in);
    const s = this.siblings;
    if (s === null || h.dstCid === VMADDR_CID_HOST) {
      return this.endpoint.receive(h, this.#packet, VSOCK_HDR_SIZE, total - VSOCK_HDR_SIZE);
    }
    // For another guest. A guest speaks for its own CID only; what it says is otherwise passed on as it is.
    if (h.srcCid !== s.port.cid) {
      return this.#refuse('BAD_CID', `${opName(h.op)} from CID ${h.srcCid}; the guest is CID ${s.port.cid}`);
    }
    const problem = headerProblem(h, total - VSOCK_HDR_SIZE, s.seqpacket);
    if (problem !== null) return this.#refuse(problem[0], `to CID ${h.dstCid}: ${problem[1]}`);
    s.router.route(s.port, h, this.#packet);
  }

  /** Fills receive buffers with the host's and the siblings' packets while both last; returns how many were written. */
  receive(): number {
    let n = 0;
    for (;;) {
      if (this.#rxChain === null && !this.pending) return n;
      const chain = this.#rxChain ?? this.rx.pop();
      if (chain === null) return n;
      this.#rxChain = chain;
      if (chain.readableCount !== 0 || chain.writableLength < VSOCK_HDR_SIZE) {
        this.#rxChain = null;
        this.rx.complete(chain, 0);
        this.#refuse(
          'BAD_BUFFER',
          `rx buffer ${chain.id}: ${chain.writableLength} writable bytes, readable parts ${chain.readableCount}`,
        );
        continue;
      }
      const room = Math.min(chain.writableLength - VSOCK_HDR_SIZE, VSOCK_MAX_PAYLOAD);
      const inbox = this.siblings?.port.inbox;
      const fromSiblings = inbox !== undefined && inbox.count > 0;
      let length: number;
      // The host's and the siblings' packets in turn (endpoint.pending is a hint: it may have none after all).
      if (!(fromSiblings && this.#siblingsNext) && this.endpoint.next(this.#out, room)) {
        writeHeader(this.#packet, 0, this.#out);
        const data = this.endpoint.data;
        if (data !== null) this.#packet.set(data, VSOCK_HDR_SIZE);
        length = VSOCK_HDR_SIZE + this.#out.len;
        this.#siblingsNext = true;
      } else if (fromSiblings) {
        length = inbox.next(this.#packet, room);
        this.#siblingsNext = false;
        if (length === 0) {
          // Data, and a buffer with room for a header only: no piece of it fits (Linux's buffers hold 4 KiB).
          this.#rxChain = null;
          this.rx.complete(chain, 0);
          this.#refuse('BAD_BUFFER', `rx buffer ${chain.id}: ${chain.writableLength} bytes, no room for data`);
          continue;
        }
      } else {
        return n;
      }
      this.#rxChain = null;
      chain.write(this.#packet.subarray(0, length));
      this.rx.complete(chain, length);
      this.stats.rxPackets++;
      n++;
    }
  }

  #refuse(code: VsockPacketError['code'], detail: string): void {
    this.stats.bufferErrors++;
    this.lastError = new VsockPacketError(code, this.tx.name, detail);
  }
}

/**
 * The device side of the event queue: a TRANSPORT_RESET tells the driver every connection is gone (the device
 * restarted); it waits for an event buffer. QEMU handles this queue itself; vqkit's driver hands it to the back-end.
 */
export class VsockEvents {
  posted = 0;
  lastError: VsockPacketError | null = null;
  #resetPending = false;

  constructor(readonly event: VirtqueueDevice) {}

  get pending(): boolean {
    return this.#resetPending;
  }

  postTransportReset(): void {
    this.#resetPending = true;
    this.post();
  }

  /** Delivers the pending event if the driver has given a buffer; true if one was written. */
  post(): boolean {
    if (!this.#resetPending) return false;
    const chain = this.event.pop();
    if (chain === null) return false;
    if (chain.writableLength < VSOCK_EVENT_SIZE) {
      this.event.complete(chain, 0);
      this.lastError = new VsockPacketError(
        'BAD_BUFFER',
        this.event.name,
        `event buffer ${chain.id} holds ${chain.writableLength} bytes`,
      );
      return false;
    }
    const id = new Uint8Array(VSOCK_EVENT_SIZE);
    new DataView(id.buffer).setUint32(0, VIRTIO_VSOCK_EVENT_TRANSPORT_RESET, true);
    chain.write(id);
    this.event.complete(chain, VSOCK_EVENT_SIZE);
    this.#resetPending = false;
    this.posted++;
    return true;
  }
}
