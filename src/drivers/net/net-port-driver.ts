import { NetDriverPair } from './net-driver.js';
import { VerdictBoard } from '../../conformance/board.js';
import { DeviceJudge, judgeWake } from '../../conformance/device-judge.js';
import { GuestMemory } from '../../memory/guest-memory.js';
import { drainEventFd, signalEventFd, waitAnyReadableSync } from '../../os/eventfd.js';
import {
  VIRTIO_NET_CTRL_MQ,
  VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
  VIRTIO_NET_CTRL_RX,
  VIRTIO_NET_CTRL_RX_PROMISC,
  VIRTIO_NET_F_CTRL_RX,
  VIRTIO_NET_F_MQ,
  VIRTIO_NET_OK,
} from '../../spec/net.js';
import { hasFeature } from '../../virtqueue/features.js';
import { createDriverQueue } from '../../virtqueue/index.js';
import { ScatterList } from '../../virtqueue/scatter-list.js';
import type { VirtqueueDriver } from '../../virtqueue/types.js';
import type { NetPort, NetPortPlan } from './net-port.js';
import { QueueControl } from '../../transport/vhost-user/queue-control.js';

/**
 * vqkit's net driver on the rings of an opened NetPort, in whichever thread maps its memory: the control commands a
 * driver sends at start, one NetDriverPair per queue pair, kicks and waits on the call eventfds.
 */
export class NetPortDriver {
  readonly pairs: NetDriverPair[];
  /** Control commands acknowledged VIRTIO_NET_OK. */
  controlOk = 0;
  /** The eventfds the device signals, one per queue. */
  readonly callFds: number[];
  readonly #ctls: Int32Array[];
  /** Under `vq check device`: each data queue's judge, by queue index (null where none). */
  readonly judges: (DeviceJudge<number> | null)[];
  readonly #board: VerdictBoard | null;

  /** A driver for `port` in the thread that opened it (over the front-end's own mapping of guest memory). */
  static here(port: NetPort): NetPortDriver {
    const { plan } = port;
    const region = { guestAddr: plan.guestBase, size: plan.memoryBytes, buffer: port.memory.mapping.buffer };
    return new NetPortDriver(plan, new GuestMemory([region]));
  }

  /**
   * Sleeps until the device of any of `drivers` signals a queue, or `timeoutMs`. Interrupts are asked for while
   * asleep (with EVENT_IDX a device signals only past the used_event this publishes), with the re-check.
   */
  static waitAny(drivers: readonly NetPortDriver[], timeoutMs: number): void {
    const queues = drivers.flatMap((d) => d.pairs.flatMap((p) => [p.rx, p.tx]));
    if (queues.every((q) => q.enableInterrupts())) {
      const fds = drivers.flatMap((d) => d.callFds);
      const woke = waitAnyReadableSync(fds, timeoutMs) > 0;
      const judges = drivers.flatMap((d) => d.judges);
      if (judges.some((j) => j !== null)) judgeWake(judges, fds, woke);
      else if (woke) fds.forEach(drainEventFd);
    }
    queues.forEach((q) => q.disableInterrupts());
  }

  constructor(
    readonly plan: NetPortPlan,
    readonly memory: GuestMemory,
    /** Judge the device on every queue (`vq check device`), posting verdicts here. */
    judgeBoard?: SharedArrayBuffer,
  ) {
    this.#board = judgeBoard === undefined ? null : new VerdictBoard(judgeBoard);
    this.judges = plan.queues.map(() => null);
    this.#ctls = plan.queues.map((q) => new Int32Array(q.control));
    this.callFds = this.#ctls.map((c) => Atomics.load(c, QueueControl.CALL_FD));
    this.pairs = Array.from({ length: plan.pairs }, (_, p) => {
      const rx = plan.queues[2 * p];
      const tx = plan.queues[2 * p + 1];
      return new NetDriverPair(this.#queue(2 * p), this.#queue(2 * p + 1), {
        mergeable: plan.mergeable,
        rxBufferBytes: plan.rxBufferBytes,
        txSlotBytes: plan.txSlotBytes,
        rxAddr: rx.bufferAddr,
        rxArea: memory.translate(rx.bufferAddr, rx.bufferBytes),
        txAddr: tx.bufferAddr,
        txArea: memory.translate(tx.bufferAddr, tx.bufferBytes),
      });
    });
  }

  /** The back-end went away (or the port was closed): nothing more will come. */
  get stopped(): boolean {
    return this.#ctls.some((c) => Atomics.load(c, QueueControl.STOP) !== 0);
  }

  kick(queue: number): void {
    signalEventFd(Atomics.load(this.#ctls[queue], QueueControl.KICK_FD));
  }

  /** Sleeps until the device signals any queue, or `timeoutMs`. */
  wait(timeoutMs: number): void {
    NetPortDriver.waitAny([this], timeoutMs);
  }

  /** Refills pair `p`'s receive queue, kicking if the device asks. */
  refill(p: number): void {
    if (this.pairs[p].refill()) this.kick(2 * p);
  }

  /** Kicks pair `p`'s transmit queue if the device asks. */
  flushTx(p: number): void {
    if (this.pairs[p].kickTx()) this.kick(2 * p + 1);
  }

  /**
   * flushTx() with interrupts asked for on pair `p`'s queues first, then a sleep until the device signals (or
   * `timeoutMs`). The device must notify for what it then completes, so a judged run does this once: the
   * notification rules are put to the test even when the traffic never leaves the driver idle long enough to sleep.
   */
  flushTxAsleep(p: number, timeoutMs: number): void {
    const queues = [this.pairs[p].rx, this.pairs[p].tx];
    const armed = queues.every((q) => q.enableInterrupts());
    this.flushTx(p);
    if (armed) {
      const fds = [this.callFds[2 * p], this.callFds[2 * p + 1]];
      const woke = waitAnyReadableSync(fds, timeoutMs) > 0;
      judgeWake([this.judges[2 * p], this.judges[2 * p + 1]], fds, woke);
    }
    queues.forEach((q) => q.disableInterrupts());
  }

  /**
   * What a driver sends on the control queue at start, if it has one: the queue pairs in use (MQ) and promiscuous
   * mode on (CTRL_RX). Null when all were acknowledged, else what went wrong.
   */
  startControl(timeoutMs: number): string | null {
    const plan = this.plan;
    if (plan.queues.length <= 2 * plan.pairs) return null;
    const q = 2 * plan.pairs;
    const cvq = this.#queue(q);
    const base = plan.queues[q].bufferAddr;
    const area = this.memory.translate(base, plan.queues[q].bufferBytes);
    const command = (cls: number, cmd: number, data: number[]): string | null => {
      area.set([cls, cmd, ...data], 0);
      area[64] = 0xff;
      const sg = new ScatterList().addReadable(base, 2 + data.length).addWritable(base + 64, 1);
      cvq.add(sg, 0, false);
      if (cvq.kickPrepare()) this.kick(q);
      const deadline = performance.now() + timeoutMs;
      while (cvq.takeUsed() === undefined) {
        if (cvq.error !== null) return cvq.error.message;
        if (this.stopped) return `the back-end stopped before answering control class ${cls} command ${cmd}`;
        if (performance.now() > deadline) return `no answer to control class ${cls} command ${cmd}`;
        this.wait(10);
      }
      if (area[64] !== VIRTIO_NET_OK) return `control class ${cls} command ${cmd} refused (ack ${area[64]})`;
      this.controlOk++;
      return null;
    };
    const f = plan.features;
    return (
      (hasFeature(f, VIRTIO_NET_F_MQ)
        ? command(VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, [plan.pairs & 0xff, plan.pairs >> 8])
        : null) ??
      (hasFeature(f, VIRTIO_NET_F_CTRL_RX) ? command(VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, [1]) : null)
    );
  }

  #queue(q: number): VirtqueueDriver<number> {
    const config = {
      name: `net.${q}`,
      size: this.plan.queueSize,
      features: this.plan.features,
      memory: this.memory,
      addresses: this.plan.queues[q].addresses,
    };
    const queue = createDriverQueue<number>(config);
    if (this.#board === null) return queue;
    const judge = new DeviceJudge(queue, config, this.#board, q);
    // The control queue is waited on by polling: its notifications are not judged.
    if (q < 2 * this.plan.pairs) this.judges[q] = judge;
    return judge;
  }
}
