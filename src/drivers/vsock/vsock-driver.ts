import type { VsockEndpoint } from '../../devices/vsock/endpoint.js';
import { VsockPacketError, emptyHeader, readHeader, writeHeader } from '../../devices/vsock/packet.js';
import { VIRTIO_VSOCK_EVENT_TRANSPORT_RESET, VSOCK_EVENT_SIZE, VSOCK_HDR_SIZE } from '../../spec/vsock.js';
import { ScatterList } from '../../virtqueue/scatter-list.js';
import type { VirtqueueDriver } from '../../virtqueue/types.js';

/** A buffer area of one queue: `size` slots of `slotBytes` at guest address `addr`, seen through `area`. */
export interface SlotArea {
  addr: number;
  area: Uint8Array;
  slotBytes: number;
}

export interface VsockDriverStats {
  txPackets: number;
  rxPackets: number;
  events: number;
  /** Completions refused before the protocol saw them (shorter than a header, or than an event). */
  bufferErrors: number;
}

/**
 * The driver side of virtio-vsock's three queues around the guest's VsockEndpoint: keeps receive and event buffers
 * posted, sends the endpoint's packets from transmit slots, hands received packets to it, and resets every
 * connection on a TRANSPORT_RESET event. Call pump() when the device signals and when the endpoint has work.
 */
export class VsockDriver {
  readonly stats: VsockDriverStats = { txPackets: 0, rxPackets: 0, events: 0, bufferErrors: 0 };
  lastError: VsockPacketError | null = null;
  readonly #sg = new ScatterList();
  readonly #freeTx: number[] = [];
  readonly #freeRx: number[] = [];
  readonly #freeEvents: number[] = [];
  readonly #out = emptyHeader();
  readonly #in = emptyHeader();

  constructor(
    readonly rx: VirtqueueDriver<number>,
    readonly tx: VirtqueueDriver<number>,
    readonly event: VirtqueueDriver<number>,
    readonly endpoint: VsockEndpoint,
    readonly areas: { rx: SlotArea; tx: SlotArea; event: SlotArea },
  ) {
    for (let i = tx.size - 1; i >= 0; i--) this.#freeTx.push(i);
    for (let i = rx.size - 1; i >= 0; i--) this.#freeRx.push(i);
    for (let i = event.size - 1; i >= 0; i--) this.#freeEvents.push(i);
  }

  /**
   * Moves everything that can move now: completions in, packets out, buffers back to the device. Returns the queues
   * to kick (bit 0 rx, 1 tx, 2 event) and whether anything moved.
   */
  pump(): { kicks: number; moved: number } {
    let moved = this.#takeEvents() + this.#takeReceived();
    for (let slot = this.tx.takeUsed(); slot !== undefined; slot = this.tx.takeUsed()) this.#freeTx.push(slot);
    let kicks = 0;
    if (this.#post(this.rx, this.#freeRx, this.areas.rx)) kicks |= 1;
    if (this.#post(this.event, this.#freeEvents, this.areas.event)) kicks |= 4;
    const sent = this.#send();
    moved += sent;
    if (sent > 0 && this.tx.kickPrepare()) kicks |= 2;
    return { kicks, moved };
  }

  /** Gives the device every free buffer of a device-writable queue; true if it asked to be kicked. */
  #post(q: VirtqueueDriver<number>, free: number[], a: SlotArea): boolean {
    let added = 0;
    while (free.length > 0) {
      const slot = free[free.length - 1];
      this.#sg.reset().addWritable(a.addr + slot * a.slotBytes, a.slotBytes);
      if (!q.canAdd(this.#sg, false) || !q.add(this.#sg, slot, false)) break;
      free.pop();
      added++;
    }
    return added > 0 && q.kickPrepare();
  }

  #send(): number {
    const a = this.areas.tx;
    const room = a.slotBytes - VSOCK_HDR_SIZE;
    let n = 0;
    while (this.#freeTx.length > 0 && this.endpoint.next(this.#out, room)) {
      const slot = this.#freeTx.pop()!;
      const at = slot * a.slotBytes;
      writeHeader(a.area, at, this.#out);
      const data = this.endpoint.data;
      if (data !== null) a.area.set(data, at + VSOCK_HDR_SIZE);
      this.#sg.reset().addReadable(a.addr + at, VSOCK_HDR_SIZE + this.#out.len);
      this.tx.add(this.#sg, slot, false);
      this.stats.txPackets++;
      n++;
    }
    return n;
  }

  #takeReceived(): number {
    const a = this.areas.rx;
    let n = 0;
    for (let slot = this.rx.takeUsed(); slot !== undefined; slot = this.rx.takeUsed()) {
      const len = this.rx.usedLen;
      const at = slot * a.slotBytes;
      n++;
      if (len < VSOCK_HDR_SIZE || len > a.slotBytes) {
        this.stats.bufferErrors++;
        this.lastError = new VsockPacketError(
          'SHORT_HEADER',
          this.rx.name,
          `receive buffer ${slot} came back with ${len} bytes`,
        );
      } else {
        this.stats.rxPackets++;
        this.endpoint.receive(readHeader(a.area, at, this.#in), a.area, at + VSOCK_HDR_SIZE, len - VSOCK_HDR_SIZE);
      }
      this.#freeRx.push(slot);
    }
    return n;
  }

  #takeEvents(): number {
    const a = this.areas.event;
    let n = 0;
    for (let slot = this.event.takeUsed(); slot !== undefined; slot = this.event.takeUsed()) {
      n++;
      this.#freeEvents.push(slot);
      const len = this.event.usedLen;
      if (len < VSOCK_EVENT_SIZE) {
        this.stats.bufferErrors++;
        this.lastError = new VsockPacketError(
          'SHORT_HEADER',
          this.event.name,
          `event buffer ${slot} came back with ${len} bytes`,
        );
        continue;
      }
      this.stats.events++;
      const at = slot * a.slotBytes;
      const id = new DataView(a.area.buffer, a.area.byteOffset + at, VSOCK_EVENT_SIZE).getUint32(0, true);
      if (id === VIRTIO_VSOCK_EVENT_TRANSPORT_RESET) this.endpoint.resetAll();
    }
    return n;
  }
}
