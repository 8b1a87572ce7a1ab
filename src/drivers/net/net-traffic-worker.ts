import { parentPort, workerData } from 'node:worker_threads';
import { GuestMemory } from '../../memory/guest-memory.js';
import { Mapping } from '../../os/mapping.js';
import { ETH_HEADER_SIZE, VIRTIO_NET_HDR_SIZE, maxFrameSize } from '../../spec/net.js';
import type { NetPortPlan } from './net-port.js';
import { NetPortDriver } from './net-port-driver.js';

/** The traffic a run sends on each pair: asked for by runNetTraffic(), given to the traffic worker. */
export interface TrafficShape {
  /** Frames sent on each pair. */
  frames: number;
  /** Frame length (Ethernet header and payload), or random in 60..MTU + 14 for each frame. */
  frameSize: number | 'random';
  /** Frames in flight (sent, not yet back) per pair. */
  window: number;
  /** Give up when nothing came back for this long (and, listening, when no back-end connects). */
  idleTimeoutMs: number;
  seed: number;
  /**
   * Transmit only, for benchmarks: one fixed frame (frameSize bytes) sent again and again for durationMs, nothing
   * expected back (a sink, or testpmd rxonly).
   */
  txOnly?: boolean;
  durationMs?: number;
  /** With txOnly: stop after this many frames too, whichever comes first (a run that does not depend on time). */
  txFrames?: number;
  /** Under `vq check device`: judge the device on every queue, posting verdicts to this VerdictBoard buffer. */
  judge?: SharedArrayBuffer;
}

/** What a traffic worker is given: the port's plan and the traffic (window bounded by the receive queue). */
export interface NetTrafficInput extends NetPortPlan, TrafficShape {}

/** What one queue pair sent and received. */
export interface PairTraffic {
  sent: number;
  received: number;
  /** Frames that came back wrong: out of order, wrong length, or wrong bytes. */
  bad: number;
  rxBuffers: number;
  rxErrors: number;
}

/** What a traffic run sent, received and checked, over every pair. */
export interface NetTrafficResult {
  failure: string | null;
  pairs: PairTraffic[];
  /** Control commands sent and acknowledged VIRTIO_NET_OK. */
  controlOk: number;
  /** The traffic phase (after the control commands). */
  elapsedMs: number;
  bytes: number;
  /** When the port's traffic started and ended (ms since the epoch, comparable across threads). */
  startedAt?: number;
  endedAt?: number;
}

/** An EtherType for local experiments (IEEE 802): nobody else's frames look like ours. */
const ETHERTYPE_LOCAL = 0x88b5;
/** Frame header after Ethernet: pair u16, seq u32. */
const TAG_SIZE = 6;
const MIN_FRAME = 60;

/** The traffic options (the same for every port of a worker; each port's plan is its own). */
const o = (Array.isArray(workerData) ? workerData[0] : workerData) as NetTrafficInput;

/** The length of frame `seq` of `pair`: fixed, or spread over 60..max by a hash (both ends compute it). */
function frameLength(pair: number, seq: number, max: number): number {
  if (o.frameSize !== 'random') return o.frameSize;
  let h = (Math.imul(seq ^ o.seed, 0x9e3779b1) ^ Math.imul(pair + 1, 0x85ebca6b)) >>> 0;
  h = (h ^ (h >>> 15)) >>> 0;
  return MIN_FRAME + (h % (max - MIN_FRAME + 1));
}

const patternByte = (pair: number, seq: number, j: number): number => (seq * 31 + j * 7 + pair) & 0xff;

function buildFrame(buf: Uint8Array, pair: number, seq: number, length: number): void {
  // Destination: a locally administered unicast address; source: ours. A loop swaps them, io forwarding does not.
  buf.set([0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01]);
  buf[12] = ETHERTYPE_LOCAL >> 8;
  buf[13] = ETHERTYPE_LOCAL & 0xff;
  const v = new DataView(buf.buffer, buf.byteOffset);
  v.setUint16(ETH_HEADER_SIZE, pair);
  v.setUint32(ETH_HEADER_SIZE + 2, seq);
  for (let j = ETH_HEADER_SIZE + TAG_SIZE; j < length; j++) buf[j] = patternByte(pair, seq, j);
}

/** Null if a received frame is frame `seq` of `pair`, byte for byte past the MACs; else what differs. */
function frameProblem(
  b: Uint8Array,
  at: number,
  length: number,
  pair: number,
  seq: number,
  max: number,
): string | null {
  const want = frameLength(pair, seq, max);
  if (length !== want) return `${length} bytes, expected ${want}`;
  if (((b[at + 12] << 8) | b[at + 13]) !== ETHERTYPE_LOCAL) return 'not our EtherType';
  const v = new DataView(b.buffer, b.byteOffset + at);
  if (v.getUint16(ETH_HEADER_SIZE) !== pair || v.getUint32(ETH_HEADER_SIZE + 2) !== seq) {
    return `frame ${v.getUint32(ETH_HEADER_SIZE + 2)} of pair ${v.getUint16(ETH_HEADER_SIZE)} in its place`;
  }
  for (let j = ETH_HEADER_SIZE + TAG_SIZE; j < length; j++) {
    if (b[at + j] !== patternByte(pair, seq, j))
      return `byte ${j} is ${b[at + j]}, expected ${patternByte(pair, seq, j)}`;
  }
  return null;
}

/** Frames a transmit-only burst queues at most (DPDK's testpmd sends bursts of 32). */
const TX_BURST = 64;

/** Spin this long for a free transmit slot before sleeping on the device's interrupt. */
const TX_SPIN_MS = 0.05;

/** Transmit-only: the same frame back to back until the duration ends; every frame sent counts once the device used it. */
function transmitOnly(driver: NetPortDriver, maxFrame: number): Omit<NetTrafficResult, 'controlOk'> {
  const length = o.frameSize === 'random' ? maxFrame : Math.min(o.frameSize, maxFrame);
  const frame = new Uint8Array(length);
  buildFrame(frame, 0, 0, length);
  const pair = driver.pairs[0];
  const traffic: PairTraffic = { sent: 0, received: 0, bad: 0, rxBuffers: 0, rxErrors: 0 };
  const started = performance.now();
  const end = started + (o.durationMs ?? 1000);
  let failure: string | null = null;
  let lastProgress = started;
  // A burst is the same frame TX_BURST times: one reclaim of used slots, one kick, no allocation. The frame is
  // composed once in the driver's staging area behind a zeroed header; each send copies both into a slot.
  const staged = pair.staging.length >= VIRTIO_NET_HDR_SIZE + length;
  const offsets = new Uint32Array(TX_BURST).fill(staged ? VIRTIO_NET_HDR_SIZE : 0);
  const lengths = new Uint32Array(TX_BURST).fill(length);
  if (staged) {
    pair.staging.fill(0, 0, VIRTIO_NET_HDR_SIZE);
    pair.staging.set(frame, VIRTIO_NET_HDR_SIZE);
  }
  while (failure === null) {
    const now = performance.now();
    if (now >= end || traffic.sent >= (o.txFrames ?? Infinity)) break;
    const budget = Math.min(TX_BURST, (o.txFrames ?? Infinity) - traffic.sent);
    const sent = staged ? pair.sendStaged(offsets, lengths, budget) : pair.sendBurst(frame, offsets, lengths, budget);
    if (sent > 0) {
      driver.flushTx(0);
      traffic.sent += sent;
      lastProgress = now;
    } else if (driver.stopped) failure = 'the back-end stopped';
    else if (now - lastProgress > o.idleTimeoutMs) failure = `no transmit buffer came back for ${o.idleTimeoutMs} ms`;
    else if (now - lastProgress > TX_SPIN_MS) driver.wait(10);
    const broken = pair.tx.error ?? pair.lastError;
    if (broken !== null) failure = broken.message;
  }
  // Every frame sent is taken by the device before this returns: the count is what it consumed.
  const draining = performance.now();
  const elapsedMs = draining - started;
  while (failure === null) {
    pair.reclaimTx();
    if (pair.tx.inFlight === 0) break;
    if (driver.stopped) failure = 'the back-end stopped with transmit buffers outstanding';
    else if (performance.now() - draining > o.idleTimeoutMs) {
      failure = `${pair.tx.inFlight} transmit buffers never came back`;
    } else driver.wait(10);
  }
  return { failure, pairs: [traffic], elapsedMs, bytes: traffic.sent * length };
}

/** One port's verified echo traffic: its driver and how far it got. */
interface EchoRun {
  driver: NetPortDriver;
  traffic: PairTraffic[];
  maxFrame: number;
  failure: string | null;
  firstBad: string | null;
  bytes: number;
  controlOk: number;
  started: number;
  ended: number;
  lastProgress: number;
  /** Judged runs: whether the driver has slept once right after a kick (flushTxAsleep). */
  notifyProbed: boolean;
}

const done = (r: EchoRun): boolean => r.failure !== null || r.traffic.every((t) => t.received >= o.frames);

/** Sends what the window allows on each pair of a port and checks what came back; how much moved. */
function echoRound(r: EchoRun, frame: Uint8Array): number {
  const { driver, traffic } = r;
  let progressed = 0;
  for (let p = 0; p < driver.pairs.length && r.failure === null; p++) {
    const pair = driver.pairs[p];
    const t = traffic[p];
    let sent = 0;
    while (t.sent < o.frames && t.sent - t.received < o.window && pair.canSend) {
      const length = frameLength(p, t.sent, r.maxFrame);
      buildFrame(frame, p, t.sent, length);
      if (!pair.send(frame, 0, length)) break;
      t.sent++;
      sent++;
    }
    if (sent > 0 && !r.notifyProbed && driver.judges[2 * p + 1] !== null) {
      // Judged: once, sleep right after the kick, so the device's notification is always judged.
      r.notifyProbed = true;
      driver.flushTxAsleep(p, o.idleTimeoutMs);
    } else if (sent > 0) {
      driver.flushTx(p);
    }
    while (
      pair.receive((b, at, length) => {
        const problem = frameProblem(b, at, length, p, t.received, r.maxFrame);
        if (problem !== null && t.bad++ === 0)
          r.firstBad = `pair ${p}: frame ${t.received} came back wrong: ${problem}`;
        t.received++;
        r.bytes += length;
      })
    ) {
      progressed++;
    }
    driver.refill(p);
    progressed += sent;
    t.rxBuffers = pair.stats.rxBuffers;
    t.rxErrors = pair.stats.rxErrors;
    const broken = pair.rx.error ?? pair.tx.error;
    if (broken !== null) r.failure = broken.message;
    else if (r.firstBad !== null) r.failure = `${r.firstBad} (${t.bad} bad so far)`;
    else if (pair.lastError !== null) r.failure = pair.lastError.message;
  }
  return progressed;
}

/**
 * Verified echo traffic on every port at once, round robin in this one thread: each frame numbered, each expected
 * back intact and in order. Sleeps on all the ports' interrupts when nothing moves.
 */
function echo(runs: EchoRun[]): void {
  if (runs.length === 0) return;
  const frame = new Uint8Array(Math.max(...runs.map((r) => r.maxFrame)));
  for (const r of runs) for (let p = 0; p < r.driver.pairs.length; p++) r.driver.refill(p);
  for (;;) {
    const active = runs.filter((r) => !done(r));
    if (active.length === 0) return;
    let progressed = 0;
    const now = performance.now();
    for (const r of active) {
      const moved = echoRound(r, frame);
      progressed += moved;
      if (moved > 0) r.lastProgress = now;
      if (done(r)) r.ended = performance.now();
      else if (moved === 0 && r.driver.stopped) r.failure = 'stopped before every frame came back';
      else if (moved === 0 && now - r.lastProgress > o.idleTimeoutMs) {
        r.failure = `nothing came back for ${o.idleTimeoutMs} ms: ${r.traffic.map((t, p) => `pair ${p} sent ${t.sent}, received ${t.received}`).join('; ')}`;
        // A judged run asks the rings why: a used descriptor in the wrong place stalls a packed ring.
        r.driver.judges.forEach((j) => j?.diagnoseStall());
      }
      if (r.failure !== null) r.ended = performance.now();
    }
    if (progressed === 0)
      NetPortDriver.waitAny(
        active.map((r) => r.driver),
        10,
      );
  }
}

/** Maps each port's memory, runs its control commands, then the traffic; one result per port. */
function run(inputs: NetTrafficInput[]): NetTrafficResult[] {
  const mappings = inputs.map((i) => Mapping.map(i.memoryFd, i.memoryBytes));
  try {
    const runs = inputs.map((i, k): EchoRun => {
      const memory = new GuestMemory([{ guestAddr: i.guestBase, size: i.memoryBytes, buffer: mappings[k].buffer }]);
      const driver = new NetPortDriver(i, memory, i.judge);
      // Control commands first, as a driver does at start: queue pairs in use, promiscuous mode.
      const failure = driver.startControl(o.idleTimeoutMs);
      const started = performance.now();
      const traffic = driver.pairs.map(() => ({ sent: 0, received: 0, bad: 0, rxBuffers: 0, rxErrors: 0 }));
      const maxFrame = maxFrameSize(i.mtu) - 4;
      const r = { driver, traffic, maxFrame, failure, firstBad: null, bytes: 0, controlOk: driver.controlOk };
      return { ...r, started, ended: started, lastProgress: started, notifyProbed: false };
    });
    // Every port's traffic starts together, once all have their control commands done.
    const start = performance.now();
    for (const r of runs) r.started = r.ended = r.lastProgress = start;
    if (o.txOnly === true) {
      return runs.map((r) =>
        r.failure !== null ? result(r) : { ...transmitOnly(r.driver, r.maxFrame), controlOk: r.controlOk },
      );
    }
    echo(runs.filter((r) => r.failure === null));
    return runs.map(result);
  } finally {
    mappings.forEach((m) => m.close());
  }
}

function result(r: EchoRun): NetTrafficResult {
  const origin = performance.timeOrigin;
  return {
    failure: r.failure,
    pairs: r.traffic,
    controlOk: r.controlOk,
    elapsedMs: r.ended - r.started,
    bytes: r.bytes,
    startedAt: origin + r.started,
    endedAt: origin + r.ended,
  };
}

const inputs = Array.isArray(workerData) ? (workerData as NetTrafficInput[]) : [workerData as NetTrafficInput];
parentPort!.postMessage(Array.isArray(workerData) ? run(inputs) : run(inputs)[0]);
