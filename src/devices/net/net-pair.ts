import { ETH_HEADER_SIZE, VIRTIO_NET_HDR_SIZE, maxFrameSize } from '../../spec/net.js';
import { BufferBurst } from '../../virtqueue/buffer-burst.js';
import type { Chain } from '../../virtqueue/chain.js';
import type { VirtqueueDevice } from '../../virtqueue/types.js';
import { NetFrameError, txHeaderProblem, writeRxHeader } from './frame.js';

export interface NetPairOptions {
  /** VIRTIO_NET_F_MRG_RXBUF negotiated: a received frame may span several receive buffers. */
  mergeable: boolean;
  mtu: number;
}

export interface NetPairStats {
  txFrames: number;
  txBytes: number;
  /** Transmitted frames refused (bad header, runt, too long): see NetDevicePair.lastError. */
  txErrors: number;
  rxFrames: number;
  rxBytes: number;
  /** Frames that fit no receive buffer (too long for a non-mergeable buffer). */
  rxErrors: number;
  /** Receive buffers used (more than rxFrames when frames span buffers). */
  rxBuffers: number;
}

/** A frame handed out of the transmit queue: `bytes[offset .. offset + length]`, valid only during the call. */
export type FrameSink = (bytes: Uint8Array, offset: number, length: number) => void;

/** What receive() did with a frame. */
export const enum Delivery {
  Delivered,
  /** Not enough receive buffers yet: call again with the same frame when the driver adds some. */
  Wait,
  /** Refused (counted in rxErrors, see lastError). */
  Dropped,
}

/**
 * The data path of one virtio-net queue pair on the device side: frames out of the transmit queue (after their
 * virtio_net_hdr), frames into the receive queue (behind one, with num_buffers). Bad frames are dropped, counted and
 * remembered in lastError; the queues keep working. Ring errors are the queues' own (see VirtqueueDevice.error).
 */
export class NetDevicePair {
  readonly stats: NetPairStats = {
    txFrames: 0,
    txBytes: 0,
    txErrors: 0,
    rxFrames: 0,
    rxBytes: 0,
    rxErrors: 0,
    rxBuffers: 0,
  };
  lastError: NetFrameError | null = null;
  readonly #maxFrame: number;
  /** Transmitted frames that span segments are gathered here. */
  readonly #gather: Uint8Array;
  readonly #header = new Uint8Array(VIRTIO_NET_HDR_SIZE);
  /** Mergeable receive: buffers popped for the frame waiting for more. */
  readonly #held: Chain[] = [];
  #heldRoom = 0;
  /** Chains popped by one transmit() call. */
  readonly #batch: Chain[];
  /** One-descriptor transmit buffers popped at once, and what each is completed with (nothing written). */
  readonly #burst: BufferBurst;
  readonly #nothingWritten: Uint32Array;

  constructor(
    readonly rx: VirtqueueDevice,
    readonly tx: VirtqueueDevice,
    readonly options: NetPairOptions,
  ) {
    this.#maxFrame = maxFrameSize(options.mtu);
    this.#gather = new Uint8Array(this.#maxFrame);
    this.#batch = new Array<Chain>(tx.size);
    this.#burst = new BufferBurst(tx.size);
    this.#nothingWritten = new Uint32Array(tx.size);
  }

  /**
   * Pops up to `max` transmit buffers and hands each good frame to `sink`; returns the buffers popped. Buffers of one
   * descriptor (header and frame together, as DPDK and Linux send them) come in bursts; the rest as chains.
   */
  transmit(max: number, sink: FrameSink): number {
    const tx = this.tx;
    const burst = this.#burst;
    let n = 0;
    while (n < max) {
      // Every descriptor of a burst is read before any frame is looked at (as with chains, below).
      const got = tx.popBurst(burst, max - n);
      if (got > 0) {
        for (let i = 0; i < got; i++) {
          const total = burst.lengths[i];
          if (this.#frameAccepted(burst.ids[i], total, burst.writable[i] === 1, burst.bytes[i], burst.offsets[i])) {
            sink(burst.bytes[i], burst.offsets[i] + VIRTIO_NET_HDR_SIZE, total - VIRTIO_NET_HDR_SIZE);
          }
        }
        tx.completeBurst(burst, 0, got, this.#nothingWritten);
        n += got;
        continue;
      }
      const chains = this.#transmitChains(max - n, sink);
      if (chains === 0) break;
      n += chains;
    }
    return n;
  }

  #transmitChains(max: number, sink: FrameSink): number {
    const tx = this.tx;
    const batch = this.#batch;
    // Pop the whole batch before looking at any frame: reading descriptors and headers (fresh from the driver's
    // CPU) frame by frame, interleaved with the checks, halved the rate from DPDK's packed ring over time.
    let n = 0;
    for (; n < max && n < batch.length; n++) {
      const chain = tx.pop();
      if (chain === null) break;
      batch[n] = chain;
    }
    for (let i = 0; i < n; i++) {
      this.#transmitOne(batch[i], sink);
      tx.complete(batch[i], 0);
    }
    return n;
  }

  #transmitOne(chain: Chain, sink: FrameSink): void {
    const total = chain.readableLength;
    // The header is checked where it lies when segment 0 holds it whole (the usual case), else gathered first.
    const inPlace = chain.lengths[0] >= VIRTIO_NET_HDR_SIZE;
    const header = inPlace
      ? chain.bytes[0]
      : total >= VIRTIO_NET_HDR_SIZE
        ? this.#gatherInto(chain, this.#header, 0, VIRTIO_NET_HDR_SIZE)
        : null;
    if (!this.#frameAccepted(chain.id, total, chain.writableCount !== 0, header, inPlace ? chain.offsets[0] : 0))
      return;
    const length = total - VIRTIO_NET_HDR_SIZE;
    // Where the header ends: segment s, byte k of it.
    let s = 0;
    let k = VIRTIO_NET_HDR_SIZE;
    while (k >= chain.lengths[s]) k -= chain.lengths[s++];
    // The frame is handed over in place when one segment holds it (the usual case), else gathered.
    if (chain.lengths[s] - k >= length) sink(chain.bytes[s], chain.offsets[s] + k, length);
    else sink(this.#gatherInto(chain, this.#gather, VIRTIO_NET_HDR_SIZE, length), 0, length);
  }

  /**
   * Whether transmit buffer `id` of `total` bytes holds a frame to send, its virtio_net_hdr at `at` of `header` (null
   * only when too short to hold one); counts it, or the error (see lastError).
   */
  #frameAccepted(id: number, total: number, writable: boolean, header: Uint8Array | null, at: number): boolean {
    if (writable) return this.#txError('WRITABLE_TX', `buffer ${id} has device-writable segments`);
    if (total < VIRTIO_NET_HDR_SIZE || header === null) {
      return this.#txError('SHORT_HEADER', `buffer ${id} holds ${total} bytes`);
    }
    const length = total - VIRTIO_NET_HDR_SIZE;
    if (length < ETH_HEADER_SIZE) return this.#txError('RUNT_FRAME', `a ${length}-byte frame`);
    if (length > this.#maxFrame) {
      return this.#txError(
        'FRAME_TOO_LONG',
        `a ${length}-byte frame; MTU ${this.options.mtu} allows ${this.#maxFrame}`,
      );
    }
    const problem = txHeaderProblem(header, at);
    if (problem !== null) return this.#txError('BAD_HEADER', `buffer ${id}: ${problem}`);
    this.stats.txFrames++;
    this.stats.txBytes += length;
    return true;
  }

  /** Copies `length` readable bytes from byte `skip` of the chain into `out`; returns `out`. */
  #gatherInto(chain: Chain, out: Uint8Array, skip: number, length: number): Uint8Array {
    let at = 0;
    for (let i = 0; i < chain.readableCount && at < length; i++) {
      const len = chain.lengths[i];
      if (skip >= len) {
        skip -= len;
        continue;
      }
      const n = Math.min(len - skip, length - at);
      const from = chain.offsets[i] + skip;
      out.set(chain.bytes[i].subarray(from, from + n), at);
      at += n;
      skip = 0;
    }
    return out;
  }

  #txError(code: NetFrameError['code'], detail: string): false {
    this.stats.txErrors++;
    this.lastError = new NetFrameError(code, this.tx.name, detail);
    return false;
  }

  /** Writes one frame behind a virtio_net_hdr into receive buffers. */
  receive(bytes: Uint8Array, offset: number, length: number): Delivery {
    const rx = this.rx;
    const need = VIRTIO_NET_HDR_SIZE + length;
    if (!this.options.mergeable) {
      const chain = rx.pop();
      if (chain === null) return Delivery.Wait;
      if (chain.writableLength < need) {
        // The buffer goes back empty: drivers drop a completion shorter than a header (Linux and DPDK do).
        rx.complete(chain, 0);
        this.stats.rxErrors++;
        this.lastError = new NetFrameError(
          'RX_BUFFER_TOO_SMALL',
          rx.name,
          `a ${length}-byte frame and a ${chain.writableLength}-byte receive buffer ${chain.id}`,
        );
        return Delivery.Dropped;
      }
      writeRxHeader(this.#header, 0, 1);
      writeAt(chain, 0, this.#header, 0, VIRTIO_NET_HDR_SIZE);
      writeAt(chain, VIRTIO_NET_HDR_SIZE, bytes, offset, length);
      rx.complete(chain, need);
      this.#received(length, 1);
      return Delivery.Delivered;
    }
    // Mergeable: gather buffers until the frame fits; those popped so far wait with it.
    const held = this.#held;
    while (this.#heldRoom < need) {
      if (held.length === rx.size) {
        return this.#dropHeld(`a ${length}-byte frame does not fit all ${rx.size} receive buffers`);
      }
      const chain = rx.pop();
      if (chain === null) return Delivery.Wait;
      if (chain.writableLength === 0) return this.#dropHeld(`receive buffer ${chain.id} has no writable bytes`, chain);
      held.push(chain);
      this.#heldRoom += chain.writableLength;
    }
    writeRxHeader(this.#header, 0, held.length);
    let at = 0;
    for (let i = 0; i < held.length; i++) {
      const chain = held[i];
      let written = 0;
      if (i === 0) {
        writeAt(chain, 0, this.#header, 0, VIRTIO_NET_HDR_SIZE);
        written = VIRTIO_NET_HDR_SIZE;
      }
      const n = Math.min(chain.writableLength - written, length - at);
      writeAt(chain, written, bytes, offset + at, n);
      at += n;
      rx.complete(chain, written + n);
    }
    this.#received(length, held.length);
    held.length = 0;
    this.#heldRoom = 0;
    return Delivery.Delivered;
  }

  #received(length: number, buffers: number): void {
    this.stats.rxFrames++;
    this.stats.rxBytes += length;
    this.stats.rxBuffers += buffers;
  }

  /** A frame that cannot be received: every buffer held for it goes back empty. */
  #dropHeld(detail: string, extra?: Chain): Delivery {
    for (const c of this.#held) this.rx.complete(c, 0);
    if (extra) this.rx.complete(extra, 0);
    this.#held.length = 0;
    this.#heldRoom = 0;
    this.stats.rxErrors++;
    this.lastError = new NetFrameError('RX_BUFFER_TOO_SMALL', this.rx.name, detail);
    return Delivery.Dropped;
  }

  /** Whether a frame is waiting for more receive buffers. */
  get receiving(): boolean {
    return this.#held.length > 0;
  }
}

/** Writes `length` bytes of `src` from `from` into the chain's writable bytes, starting at writable byte `skip`. */
function writeAt(chain: Chain, skip: number, src: Uint8Array, from: number, length: number): void {
  let done = 0;
  for (let i = chain.readableCount; i < chain.segCount && done < length; i++) {
    const len = chain.lengths[i];
    if (skip >= len) {
      skip -= len;
      continue;
    }
    const n = Math.min(len - skip, length - done);
    chain.bytes[i].set(src.subarray(from + done, from + done + n), chain.offsets[i] + skip);
    done += n;
    skip = 0;
  }
}
