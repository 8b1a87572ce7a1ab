import { NetFrameError, readNumBuffers } from '../../devices/net/frame.js';
import { VIRTIO_NET_HDR_SIZE } from '../../spec/net.js';
import { ScatterList } from '../../virtqueue/scatter-list.js';
import type { VirtqueueDriver } from '../../virtqueue/types.js';

export interface NetDriverPairOptions {
  /** MRG_RXBUF negotiated: a frame may arrive in several receive buffers (num_buffers in the first header). */
  mergeable: boolean;
  /** Bytes per receive buffer (with a header); without MRG_RXBUF it must hold the largest frame. */
  rxBufferBytes: number;
  /** Bytes per transmit slot (header and frame). */
  txSlotBytes: number;
  /** Guest address and view of the receive buffers (queue size of them) and of the transmit slots. */
  rxAddr: number;
  rxArea: Uint8Array;
  /** The transmit slots (queue size of them), then what is left of txArea is the staging area (sendStaged). */
  txAddr: number;
  txArea: Uint8Array;
}

export interface NetDriverStats {
  txFrames: number;
  rxFrames: number;
  rxBuffers: number;
  /** Received frames refused: bad num_buffers, shorter than a header. */
  rxErrors: number;
}

/**
 * The driver side of one virtio-net queue pair: keeps the receive queue full of buffers, sends frames behind a zeroed
 * virtio_net_hdr, and reassembles received frames (num_buffers of them with MRG_RXBUF). What a device reports is
 * checked: a bad num_buffers or a short completion is refused with a NetFrameError and the frame dropped.
 */
export class NetDriverPair {
  readonly stats: NetDriverStats = { txFrames: 0, rxFrames: 0, rxBuffers: 0, rxErrors: 0 };
  lastError: NetFrameError | null = null;
  readonly #sg = new ScatterList();
  /** The transmit slots as a Buffer (for native copies). */
  readonly #txBytes: Buffer;
  /**
   * Guest memory beside the transmit slots where a caller composes frames for sendStaged(), each behind
   * VIRTIO_NET_HDR_SIZE bytes holding its virtio_net_hdr (as DPDK's virtio-user keeps the header in an mbuf's
   * headroom). Empty when txArea has no room after the slots.
   */
  readonly staging: Uint8Array;
  readonly #stagingAt: number;
  /**
   * Free transmit slots, oldest freed first: under IN_ORDER they come back in the order they went out, so each slot
   * returns to the ring position it had, and its descriptor is unchanged lap after lap (not stored again).
   */
  readonly #freeTx: SlotQueue;
  readonly #freeRx: number[] = [];
  /** A send burst: each frame's slot, its guest address and its length with the header (for addBurst). */
  readonly #burstSlots: number[];
  readonly #burstAddrs: Float64Array;
  readonly #burstLens: Uint32Array;
  /** What reclaimTx() takes back in one burst: a queue's worth of slots (their lengths are not used). */
  readonly #reclaimed: number[];
  readonly #reclaimedLens: Uint32Array;
  /** A frame being reassembled from several receive buffers. */
  readonly #frame: Uint8Array;
  #frameLength = 0;
  #buffersLeft = 0;

  constructor(
    readonly rx: VirtqueueDriver<number>,
    readonly tx: VirtqueueDriver<number>,
    readonly o: NetDriverPairOptions,
  ) {
    this.#txBytes = Buffer.from(o.txArea.buffer, o.txArea.byteOffset, o.txArea.byteLength);
    this.#stagingAt = Math.min(tx.size * o.txSlotBytes, o.txArea.length);
    this.staging = o.txArea.subarray(this.#stagingAt);
    this.#freeTx = new SlotQueue(tx.size);
    this.#burstSlots = new Array<number>(tx.size).fill(0);
    this.#burstAddrs = new Float64Array(tx.size);
    this.#burstLens = new Uint32Array(tx.size);
    this.#reclaimed = new Array<number>(tx.size).fill(0);
    this.#reclaimedLens = new Uint32Array(tx.size);
    for (let i = rx.size - 1; i >= 0; i--) this.#freeRx.push(i);
    this.#frame = new Uint8Array(Math.max(o.rxBufferBytes, 65536));
  }

  /** Gives the device every free receive buffer; true if it asked to be kicked. */
  refill(): boolean {
    const rx = this.rx;
    let added = 0;
    while (this.#freeRx.length > 0) {
      const slot = this.#freeRx[this.#freeRx.length - 1];
      this.#sg.reset().addWritable(this.o.rxAddr + slot * this.o.rxBufferBytes, this.o.rxBufferBytes);
      if (!rx.canAdd(this.#sg, false) || !rx.add(this.#sg, slot, false)) break;
      this.#freeRx.pop();
      added++;
    }
    return added > 0 && rx.kickPrepare();
  }

  /** Room to send another frame now. */
  get canSend(): boolean {
    this.reclaimTx();
    return this.#freeTx.count > 0;
  }

  /** Queues one frame (Ethernet header and payload); false if no transmit slot is free. Kick with kickTx(). */
  send(frame: Uint8Array, offset = 0, length = frame.length - offset): boolean {
    this.reclaimTx();
    if (this.#freeTx.count === 0) return false;
    const slot = this.#freeTx.at(0);
    const at = slot * this.o.txSlotBytes;
    const area = this.o.txArea;
    area.fill(0, at, at + VIRTIO_NET_HDR_SIZE);
    area.set(frame.subarray(offset, offset + length), at + VIRTIO_NET_HDR_SIZE);
    this.#stage(0, slot, length);
    return this.#postBurst(1) === 1;
  }

  /**
   * Queues up to `count` frames of `bytes` (frame i at offsets[i], lengths[i] long) in one go: the used transmit
   * buffers are taken back once, each frame is copied into a free slot behind a zeroed header, and the slots go to
   * the ring in one addBurst(), allocating nothing. Returns how many were queued (fewer when the slots run out).
   * Kick with kickTx().
   */
  sendBurst(bytes: Uint8Array, offsets: ArrayLike<number>, lengths: ArrayLike<number>, count: number): number {
    this.reclaimTx();
    const area = this.o.txArea;
    const slotBytes = this.o.txSlotBytes;
    const free = this.#freeTx;
    const n = Math.min(count, free.count);
    // One view of the source per burst, so that frames are copied natively without a view each.
    const src = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < n; i++) {
      const slot = free.at(i);
      const at = slot * slotBytes;
      const from = offsets[i];
      // Natively even for short frames. A loop stores a byte (or a word) at a time into lines the device's core last
      // read, and the stores queue behind each other: at 64 B into DPDK's vhost, 7 Mpps byte by byte, 4 to 9 word
      // by word, 14 natively (faster loops on one core mislead here).
      src.copy(this.#txBytes, at + VIRTIO_NET_HDR_SIZE, from, from + lengths[i]);
      area.fill(0, at, at + VIRTIO_NET_HDR_SIZE);
      this.#stage(i, slot, lengths[i]);
    }
    return this.#postBurst(n);
  }

  /**
   * Queues up to `count` frames composed in `staging` (frame i at offsets[i], lengths[i] long, its header in the
   * VIRTIO_NET_HDR_SIZE bytes before it): each goes into a free slot, header and frame, by one copy within guest
   * memory. That copy allocates nothing and costs a third of one from another buffer (sendBurst). Returns how many
   * were queued; throws RangeError, queueing none, if a frame lies outside the staging area. Kick with kickTx().
   */
  sendStaged(offsets: ArrayLike<number>, lengths: ArrayLike<number>, count: number): number {
    this.reclaimTx();
    const area = this.o.txArea;
    const slotBytes = this.o.txSlotBytes;
    const staged = this.#stagingAt;
    const n = Math.min(count, this.#freeTx.count);
    for (let i = 0; i < n; i++) {
      if (offsets[i] < VIRTIO_NET_HDR_SIZE || staged + offsets[i] + lengths[i] > area.length) {
        throw new RangeError(`staged frame ${i} (at ${offsets[i]}, ${lengths[i]} bytes) is outside the staging area`);
      }
    }
    for (let i = 0; i < n; i++) {
      const slot = this.#freeTx.at(i);
      const from = staged + offsets[i] - VIRTIO_NET_HDR_SIZE;
      area.copyWithin(slot * slotBytes, from, from + VIRTIO_NET_HDR_SIZE + lengths[i]);
      this.#stage(i, slot, lengths[i]);
    }
    return this.#postBurst(n);
  }

  /** Notes the i-th frame of a burst: in transmit `slot`, a header and `length` bytes of frame. */
  #stage(i: number, slot: number, length: number): void {
    this.#burstAddrs[i] = this.o.txAddr + slot * this.o.txSlotBytes;
    this.#burstLens[i] = VIRTIO_NET_HDR_SIZE + length;
    this.#burstSlots[i] = slot;
  }

  /**
   * Adds the first `n` staged slots (the free ones at the head of the queue) to the ring at once and takes them from
   * the free ones; how many went (0 if the ring is broken). Every send path posts through here.
   */
  #postBurst(n: number): number {
    const added = this.tx.addBurst(this.#burstAddrs, this.#burstLens, this.#burstSlots, n, false);
    this.#freeTx.drop(added);
    this.stats.txFrames += added;
    return added;
  }

  kickTx(): boolean {
    return this.tx.kickPrepare();
  }

  /** Takes back the transmit buffers the device has used (their slots are free again). */
  reclaimTx(): void {
    const slots = this.#reclaimed;
    const n = this.tx.takeUsedBurst(slots, this.#reclaimedLens, slots.length);
    for (let i = 0; i < n; i++) this.#freeTx.put(slots[i]);
  }

  /**
   * The next complete received frame, passed to `onFrame(bytes, offset, length)` (valid during the call); returns
   * false when none is complete yet.
   */
  receive(onFrame: (bytes: Uint8Array, offset: number, length: number) => void): boolean {
    const rx = this.rx;
    for (;;) {
      const slot = rx.takeUsed();
      if (slot === undefined) return false;
      const len = rx.usedLen;
      const base = slot * this.o.rxBufferBytes;
      const area = this.o.rxArea;
      this.stats.rxBuffers++;
      // The slot is free again once this call returns (its bytes are copied or handed out before then).
      this.#freeRx.push(slot);
      if (this.#buffersLeft === 0) {
        if (len < VIRTIO_NET_HDR_SIZE) {
          this.#refuse('SHORT_HEADER', `receive buffer ${slot} came back with ${len} bytes`);
          continue;
        }
        const n = this.o.mergeable ? readNumBuffers(area, base) : 1;
        if (n === 0 || n > rx.size) {
          this.#refuse('BAD_NUM_BUFFERS', `num_buffers ${n} (queue of ${rx.size})`);
          continue;
        }
        const payload = len - VIRTIO_NET_HDR_SIZE;
        if (n === 1) {
          this.stats.rxFrames++;
          onFrame(area, base + VIRTIO_NET_HDR_SIZE, payload);
          return true;
        }
        this.#frame.set(area.subarray(base + VIRTIO_NET_HDR_SIZE, base + len), 0);
        this.#frameLength = payload;
        this.#buffersLeft = n - 1;
        continue;
      }
      if (this.#frameLength + len > this.#frame.length) {
        this.#buffersLeft = 0;
        this.#refuse('BAD_NUM_BUFFERS', `a merged frame longer than ${this.#frame.length} bytes`);
        continue;
      }
      this.#frame.set(area.subarray(base, base + len), this.#frameLength);
      this.#frameLength += len;
      if (--this.#buffersLeft === 0) {
        this.stats.rxFrames++;
        onFrame(this.#frame, 0, this.#frameLength);
        return true;
      }
    }
  }

  /**
   * Takes up to `max` complete received frames, each passed to `onFrame` (valid during the call); returns how many.
   * Their buffers go back to the device together at the next refill().
   */
  receiveBurst(onFrame: (bytes: Uint8Array, offset: number, length: number) => void, max: number): number {
    let n = 0;
    while (n < max && this.receive(onFrame)) n++;
    return n;
  }

  #refuse(code: NetFrameError['code'], detail: string): void {
    this.stats.rxErrors++;
    this.lastError = new NetFrameError(code, this.rx.name, detail);
  }
}

/** A FIFO of slot numbers (fewer than 65536), allocation-free. */
class SlotQueue {
  readonly #slots: Uint16Array;
  #head = 0;
  count: number;

  /** Holds 0 .. size - 1, in order. */
  constructor(size: number) {
    this.#slots = Uint16Array.from({ length: size }, (_, i) => i);
    this.count = size;
  }

  /** The i-th free slot from the head (i < count). */
  at(i: number): number {
    const at = this.#head + i;
    return this.#slots[at >= this.#slots.length ? at - this.#slots.length : at];
  }

  /** Takes `n` slots from the head. */
  drop(n: number): void {
    const head = this.#head + n;
    this.#head = head >= this.#slots.length ? head - this.#slots.length : head;
    this.count -= n;
  }

  put(slot: number): void {
    // No division on the hot path: head + count < 2 * size.
    const at = this.#head + this.count;
    this.#slots[at >= this.#slots.length ? at - this.#slots.length : at] = slot;
    this.count++;
  }
}
