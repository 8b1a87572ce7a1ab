import { FrameRing } from './frame-ring.js';
import { EchoJudge } from './echo-judge.js';
import { judgeDriverOn, usedEntriesUnder, type DriverCheck } from '../../conformance/driver-judge.js';
import { swapMacs } from './frame.js';
import { NetControl } from './net-control.js';
import { Delivery, NetDevicePair, type FrameSink } from './net-pair.js';
import { FrameCopier } from './frame-copier.js';
import { NetState } from './net-state.js';
import { writePcapRecord } from './pcap.js';
import { SwitchTable } from './switch-table.js';
import { drainEventFd, signalEventFd } from '../../os/eventfd.js';
import type { DataPlaneUnit } from '../../runtime/data-plane.js';
import { readFrame, writeFrame } from '../../os/tap.js';
import { VIRTIO_NET_F_MRG_RXBUF, maxFrameSize } from '../../spec/net.js';
import { hasFeature, type Features } from '../../virtqueue/features.js';
import { createDeviceQueue } from '../../virtqueue/index.js';
import type { UsedEntryPolicy, VirtqueueDevice } from '../../virtqueue/types.js';
import { copyStats, failureText } from '../../transport/local/report.js';
import type { SharedRegion } from '../../transport/vhost-user/memory-table.js';
import { mapMemoryTable } from '../../transport/vhost-user/memory-table.js';
import { logResume, QueueControl, sleepOnKick } from '../../transport/vhost-user/queue-control.js';
import type { QueueStart } from '../../transport/vhost-user/served-device.js';

/** Where a port's frames go, as a worker sees it (made from NetBackend in the main thread). */
export type NetWorkerBackend =
  /** The pair's frames between transmit and receive: the session's, so a ring stopped and resumed loses none. */
  | { kind: 'loop'; ring: SharedArrayBuffer; slots: number }
  | { kind: 'sink' }
  | { kind: 'copy' }
  | { kind: 'tap'; fd: number }
  | {
      kind: 'switch';
      port: number;
      inboxes: SharedArrayBuffer[];
      inboxFds: number[];
      table: SharedArrayBuffer;
      inboxSlots: number;
      slotBytes: number;
    };

export interface NetWorkerInput {
  role: 'pair' | 'ctrl';
  /** "net0.pair0", for errors and logs. */
  name: string;
  pair: number;
  maxPairs: number;
  features: Features;
  regions: SharedRegion[];
  /** Pair: [receiveq, transmitq]. Control: [controlq]. */
  queues: QueueStart[];
  mtu: number;
  rxUsedEntries: UsedEntryPolicy;
  state: SharedArrayBuffer;
  backend: NetWorkerBackend;
  /** A pcap file to append every frame to, or -1. */
  pcapFd: number;
  /** Under `vq check driver`: judge the driver and play a device behaviour. */
  check?: DriverCheck;
  /** Under `vq check driver`: the driver forwards what it receives (testpmd io): judge the frames it sends back. */
  expectEcho?: boolean;
}

/** Frames moved per queue per round: bounds the latency one direction adds to the other. */
const BATCH = 64;
/** Frame errors logged one by one before only every 1000th is. */
const LOGGED_ERRORS = 10;

type Log = (line: string) => void;

/** A net unit for a pool thread: a queue pair, or the control queue. */
export function openUnit(data: unknown, log: Log): DataPlaneUnit {
  const o = data as NetWorkerInput;
  const named: Log = (line) => log(`${o.name}: ${line}`);
  return o.role === 'ctrl' ? controlUnit(o, named) : pairUnit(o, named);
}

function control(q: QueueStart): Int32Array {
  return new Int32Array(q.control);
}

function openQueue(
  o: NetWorkerInput,
  q: QueueStart,
  name: string,
  memory: ReturnType<typeof mapMemoryTable>['memory'],
  usedEntries: UsedEntryPolicy,
  log: Log,
  readOnlyIndirectTables = false,
): VirtqueueDevice {
  const queue = createDeviceQueue({
    name,
    size: q.size,
    features: o.features,
    memory,
    addresses: q.addresses,
    usedEntries: usedEntriesUnder(o.check, usedEntries),
    availBase: q.availBase,
    readOnlyIndirectTables,
  });
  logResume(queue, log);
  return judgeDriverOn(queue, o.check, q.index);
}

/** The control queue: answers commands as they come. */
function controlUnit(o: NetWorkerInput, log: Log): DataPlaneUnit {
  const { memory, mappings } = mapMemoryTable(o.regions);
  const q = o.queues[0];
  const ctl = control(q);
  let queue: VirtqueueDevice;
  let net: NetControl;
  try {
    queue = openQueue(o, q, `${o.name}.ctrl`, memory, 'per-buffer', log);
    net = new NetControl(queue, new NetState(o.state), o.maxPairs, log);
  } catch (e) {
    mappings.forEach((m) => m.close());
    throw e;
  }
  queue.disableNotifications();
  return {
    poll: () => {
      if (net.serve() === 0) return false;
      if (queue.flush()) signal(ctl, QueueControl.CALL_FD);
      return true;
    },
    ...sleepOnKick(queue, ctl),
    stopped: () => Atomics.load(ctl, QueueControl.STOP) !== 0 || queue.error !== null,
    stats: () => ({ control: copyStats(net.stats), queue: copyStats(queue.stats) }),
    finish(failure?: string) {
      mappings.forEach((m) => m.close());
      return { failure: failure ?? failureText(queue.error), lastAvailIdx: [queue.lastAvailIdx], stats: this.stats() };
    },
  };
}

function signal(ctl: Int32Array, slot: number): void {
  const fd = Atomics.load(ctl, slot);
  if (fd >= 0) signalEventFd(fd);
}

/** Frames arriving for this pair's receive queue: the next one, and taking it once delivered. */
interface Inbound {
  /** The next frame is `bytes[offset .. offset + length]`; false if none. */
  next(): boolean;
  bytes: Uint8Array;
  offset: number;
  length: number;
  /** The frame was delivered (or dropped): go on to the one after. */
  done(): void;
  /** An fd that becomes readable when frames arrive, or -1. */
  fd: number;
}

/** A FrameRing as an inbound source. */
function ringInbound(ring: FrameRing, fd: number): Inbound {
  const src: Inbound = {
    bytes: ring.bytes,
    offset: 0,
    length: 0,
    fd,
    next: () => {
      const at = ring.peek();
      if (at < 0) return false;
      src.offset = at;
      src.length = ring.peekLength;
      return true;
    },
    done: () => ring.pop(),
  };
  return src;
}

/** A TAP fd as an inbound source: one frame read ahead. */
function tapInbound(fd: number, maxFrame: number): Inbound {
  const buf = new Uint8Array(maxFrame);
  const src: Inbound = {
    bytes: buf,
    offset: 0,
    length: 0,
    fd,
    next: () => {
      if (src.length === 0) src.length = readFrame(fd, buf);
      return src.length > 0;
    },
    done: () => {
      src.length = 0;
    },
  };
  return src;
}

const NO_INBOUND: Inbound = {
  bytes: new Uint8Array(0),
  offset: 0,
  length: 0,
  fd: -1,
  next: () => false,
  done: () => {},
};

/** One queue pair's data path: transmit -> backend, backend -> receive; sleeps on the kicks and the backend's fd. */
function pairUnit(o: NetWorkerInput, log: Log): DataPlaneUnit {
  const { memory, mappings } = mapMemoryTable(o.regions);
  const [rxq, txq] = o.queues;
  const rxCtl = control(rxq);
  const txCtl = control(txq);
  const stopped = (): boolean =>
    Atomics.load(rxCtl, QueueControl.STOP) !== 0 || Atomics.load(txCtl, QueueControl.STOP) !== 0;
  try {
    const rx = openQueue(o, rxq, `${o.name}.rx`, memory, o.rxUsedEntries, log);
    // Transmit buffers are consumed whole (written length 0), so batching their used entries is always safe.
    // The device only reads transmit buffers: WRITE flags DPDK leaves in packed indirect tables are ignored there.
    const tx = openQueue(o, txq, `${o.name}.tx`, memory, 'batched', log, true);
    const pair = new NetDevicePair(rx, tx, { mergeable: hasFeature(o.features, VIRTIO_NET_F_MRG_RXBUF), mtu: o.mtu });
    const state = new NetState(o.state);
    const maxFrame = maxFrameSize(o.mtu);
    const pcap = o.pcapFd;
    let dropped = 0;

    // The backend: where transmitted frames go (sink) and where received ones come from (inbound).
    let inbound = NO_INBOUND;
    let room = (): number => BATCH;
    let forward: FrameSink;
    const b = o.backend;
    if (b.kind === 'loop') {
      const ring = new FrameRing(b.ring, b.slots, maxFrame);
      inbound = ringInbound(ring, -1);
      room = () => ring.free;
      forward = (bytes, offset, length) => {
        // room() kept the ring from filling, and the pair refused frames larger than a slot: push cannot fail.
        swapMacs(ring.bytes, ring.push(bytes, offset, length));
      };
    } else if (b.kind === 'tap') {
      if (o.pair === 0) inbound = tapInbound(b.fd, maxFrame);
      forward = (bytes, offset, length) => {
        if (!writeFrame(b.fd, bytes, offset, length)) dropped++;
      };
    } else if (b.kind === 'switch') {
      const table = new SwitchTable(b.table);
      const inboxes = b.inboxes.map((buf) => new FrameRing(buf, b.inboxSlots, b.slotBytes));
      if (o.pair === 0) inbound = ringInbound(inboxes[b.port], b.inboxFds[b.port]);
      const sendTo = (port: number, bytes: Uint8Array, offset: number, length: number): void => {
        if (inboxes[port].push(bytes, offset, length) < 0) dropped++;
        else signalEventFd(b.inboxFds[port]);
      };
      forward = (bytes, offset, length) => {
        table.learn(bytes, offset, b.port);
        const to = table.lookup(bytes, offset);
        if (to === b.port) return;
        if (to >= 0) return sendTo(to, bytes, offset, length);
        for (let p = 0; p < inboxes.length; p++) if (p !== b.port) sendTo(p, bytes, offset, length);
      };
    } else if (b.kind === 'copy') {
      const copier = new FrameCopier(BATCH, maxFrame);
      forward = (bytes, offset, length) => void copier.copy(bytes, offset, length);
    } else {
      forward = () => {};
    }
    const echo = o.check !== undefined && o.expectEcho === true ? new EchoJudge(o.check) : null;
    const sink: FrameSink =
      pcap >= 0 || echo !== null
        ? (bytes, offset, length) => {
            if (pcap >= 0) writePcapRecord(pcap, bytes, offset, length);
            echo?.sent(bytes, offset, length);
            forward(bytes, offset, length);
          }
        : forward;

    let errorsSeen = 0;
    let toleratedLogged = false;
    const noteErrors = (): void => {
      if (!toleratedLogged && tx.stats.writeFlagsTolerated > 0) {
        toleratedLogged = true;
        log(
          'tx: indirect tables with WRITE flags left set (as DPDK 22.11 packed virtio-user writes them) are read as ' +
            "device-readable: the device only reads transmit buffers; counted as tx writeFlagsTolerated in 'vq status'",
        );
      }
      const n = pair.stats.txErrors + pair.stats.rxErrors;
      if (n === errorsSeen || pair.lastError === null) return;
      if (errorsSeen < LOGGED_ERRORS || Math.floor(n / 1000) !== Math.floor(errorsSeen / 1000)) {
        log(`frame dropped: ${pair.lastError.message} (${n} so far)`);
      }
      errorsSeen = n;
    };

    rx.disableNotifications();
    tx.disableNotifications();
    // What the last poll left: whether the backend had room, and whether a frame waits for receive buffers.
    let budget = BATCH;
    let waitingForRx = false;
    const waitOn: number[] = [];
    return {
      poll: () => {
        let progressed = 0;
        // Inbound frames into receive buffers, while the driver has given some.
        waitingForRx = false;
        for (let n = 0; n < BATCH && inbound.next(); n++) {
          if (o.pair >= state.pairs || !state.accepts(inbound.bytes, inbound.offset)) {
            dropped++;
          } else {
            if (pair.receive(inbound.bytes, inbound.offset, inbound.length) === Delivery.Wait) {
              waitingForRx = true;
              break;
            }
            if (pcap >= 0) writePcapRecord(pcap, inbound.bytes, inbound.offset, inbound.length);
            echo?.delivered(inbound.bytes, inbound.offset, inbound.length);
          }
          inbound.done();
          progressed++;
        }
        // Transmitted frames to the backend, as far as it has room.
        budget = Math.min(BATCH, room());
        if (budget > 0) progressed += pair.transmit(budget, sink);
        if (rx.flush()) signal(rxCtl, QueueControl.CALL_FD);
        if (tx.flush()) signal(txCtl, QueueControl.CALL_FD);
        noteErrors();
        return progressed > 0;
      },
      // Nothing to do: ask for kicks (with the re-check) where they would bring work, and sleep on those fds and
      // whatever else can bring frames.
      arm: () => {
        waitOn.length = 0;
        if (budget > 0) {
          if (!tx.enableNotifications()) return null;
          waitOn.push(Atomics.load(txCtl, QueueControl.KICK_FD));
        }
        if (waitingForRx) {
          if (!rx.enableNotifications()) return null;
          waitOn.push(Atomics.load(rxCtl, QueueControl.KICK_FD));
        } else if (inbound.fd >= 0) {
          waitOn.push(inbound.fd);
        }
        return waitOn.filter((fd) => fd >= 0);
      },
      disarm: (fired) => {
        for (const fd of waitOn) {
          // A TAP fd is read, not drained; eventfds (kicks, a switch inbox's wake-up) are.
          if (fired.has(fd) && (fd !== inbound.fd || b.kind === 'switch')) drainEventFd(fd);
        }
        tx.disableNotifications();
        rx.disableNotifications();
      },
      stopped: () => stopped() || rx.error !== null || tx.error !== null,
      stats: () => ({ net: { ...copyStats(pair.stats), dropped }, rx: copyStats(rx.stats), tx: copyStats(tx.stats) }),
      finish(failure?: string) {
        rx.flush();
        tx.flush();
        noteErrors();
        mappings.forEach((m) => m.close());
        return {
          failure: failure ?? failureText(rx.error ?? tx.error),
          lastAvailIdx: [rx.lastAvailIdx, tx.lastAvailIdx],
          stats: this.stats(),
        };
      },
    };
  } catch (e) {
    mappings.forEach((m) => m.close());
    throw e;
  }
}
