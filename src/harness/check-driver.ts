import { rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { VerdictBoard } from '../conformance/board.js';
import {
  BEHAVIOURS,
  CheckCounter,
  behaviourNames,
  newCheckCounters,
  type Behaviour,
  type DriverCheck,
} from '../conformance/driver-judge.js';
import { exitCodeOf, verdicts, type CheckReport, type InteropFinding } from '../conformance/report.js';
import { rulesFor } from '../conformance/rules.js';
import { NetService } from '../devices/net/net-service.js';
import { TestService } from '../devices/test/test-service.js';
import { VsockService } from '../devices/vsock/vsock-service.js';
import { parseMac } from '../devices/net/frame.js';
import { VhostUserDaemon } from '../transport/vhost-user/daemon.js';
import type { ServedDevice } from '../transport/vhost-user/served-device.js';
import { ringFeatures, type Features } from '../virtqueue/features.js';

/** What `vq check driver` serves, and how it plays. */
export interface CheckDriverOptions {
  /** The vhost-user socket to serve the device on (or, with `client`, to connect to). */
  socket: string;
  client: boolean;
  device: 'test' | 'net' | 'vsock';
  /**
   * vsock: where guest connections to the host go (`<udsPath>_<port>`); the check runs an echo program on port
   * 5000 there for the guest's traffic.
   */
  udsPath?: string;
  /** vsock: the guest's CID in config space. */
  guestCid?: number;
  /** Ring features offered with VERSION_1. */
  ringFeatures: Features;
  /** Net: offer VIRTIO_NET_F_MRG_RXBUF. */
  mergeable: boolean;
  /** Net: the driver forwards what it receives (testpmd io): judge every frame it sends as an echo. */
  expectEcho: boolean;
  /** The behaviours played, in turn. */
  behaviours: Behaviour[];
  /** How long each behaviour is played. */
  phaseMs: number;
  /** No buffer completed for this long while a behaviour is played: the driver is stalled. */
  stallMs: number;
  /** How long to wait for a driver to connect and start. */
  connectTimeoutMs: number;
  /**
   * After the last behaviour, keep serving (one used entry per buffer, nothing judged but the rules) until the driver
   * disconnects or this long passed: a VM then ends its workload and powers off while its device is still there.
   */
  lingerMs: number;
  seed: number;
  /** The command line, for the report's "reproduce". */
  command: string;
  /** Where progress lines go (negotiation, each behaviour's outcome, the daemon's log). */
  log: (line: string) => void;
}

/** How often the checker looks at the device's counters. */
const TICK_MS = 50;
/** A driver that completed a buffer this recently is still moving. */
const MOVING_MS = 4 * TICK_MS;

/**
 * vqkit as the device, the peer's driver under test: serve the device with every queue judged (driver-judge.ts), play
 * each legal device behaviour in turn for a while, and report each driver rule and, apart, each behaviour that broke
 * the driver (it stalled, changed frames, or broke the ring).
 */
export async function checkDriver(o: CheckDriverOptions): Promise<CheckReport> {
  const board = new VerdictBoard();
  const check: DriverCheck = { board: board.buffer, counters: newCheckCounters(), seed: o.seed };
  const counters = new Int32Array(check.counters);
  const device = servedDevice(o, check);
  const echo = o.device === 'vsock' ? await hostEcho(o) : null;
  const daemon = new VhostUserDaemon({
    ports: [{ socketPath: o.socket, client: o.client, device, log: (l) => o.log(l) }],
    pool: { threads: 1 },
    isolation: 'thread',
    controlPath: null,
    log: (l) => o.log(l),
  });
  const serving = daemon.serve();
  const interop: InteropFinding[] = [];
  let negotiated: Features = 0n;
  let run = '';
  try {
    // The driver starts: it connects, sets its rings up and moves its first buffers.
    const waitStart = performance.now();
    Atomics.store(counters, CheckCounter.BEHAVIOUR, behaviourNames.indexOf(o.behaviours[0]));
    while (Atomics.load(counters, CheckCounter.COMPLETED) === 0 && !driverBroke(board)) {
      if (performance.now() - waitStart > o.connectTimeoutMs) {
        throw new CheckSetupError(`no driver moved a buffer on ${o.socket} within ${o.connectTimeoutMs} ms`);
      }
      await sleep(TICK_MS);
    }
    negotiated = await negotiatedOf(daemon);
    o.log(`driver connected; negotiated ${device.describe(negotiated)}`);
    let stopped: string | null = null;
    for (const behaviour of o.behaviours) {
      if (stopped !== null) {
        interop.push({
          behaviour,
          description: BEHAVIOURS[behaviour],
          outcome: 'not run',
          completed: 0,
          detail: stopped,
        });
        continue;
      }
      // The first behaviour owns what happened while the driver started (it was already playing).
      const f = await playPhase(o, behaviour, counters, board, daemon, interop.length === 0);
      interop.push(f);
      o.log(`${behaviour}: ${f.outcome}, ${f.completed} buffers; ${f.detail}`);
      if (f.outcome === 'broken') stopped = `not played: the driver was broken by '${behaviour}'`;
    }
    Atomics.store(counters, CheckCounter.BEHAVIOUR, behaviourNames.indexOf('per-buffer'));
    const lingerEnds = performance.now() + o.lingerMs;
    while (performance.now() < lingerEnds && (await connected(daemon))) await sleep(TICK_MS);
    const delivered = Atomics.load(counters, CheckCounter.DELIVERED);
    run = `${Atomics.load(counters, CheckCounter.COMPLETED)} buffers completed${o.expectEcho ? `, ${delivered} frames delivered` : ''}`;
  } finally {
    await daemon.close();
    await serving;
    echo?.close();
  }
  const rules = verdicts(board, 'driver', ringFeatures(negotiated));
  return {
    role: 'driver',
    peer: `${o.device} driver on ${o.socket}`,
    negotiated: device.describe(negotiated),
    run,
    rules,
    interop,
    command: o.command,
    exitCode: exitCodeOf(rules, interop),
  };
}

/** The driver could not start its check (no driver came, or the socket could not be served). */
export class CheckSetupError extends Error {
  override readonly name = 'CheckSetupError';
}

/** Plays one behaviour for phaseMs; what became of the driver. */
async function playPhase(
  o: CheckDriverOptions,
  behaviour: Behaviour,
  counters: Int32Array,
  board: VerdictBoard,
  daemon: VhostUserDaemon,
  first: boolean,
): Promise<InteropFinding> {
  Atomics.store(counters, CheckCounter.BEHAVIOUR, behaviourNames.indexOf(behaviour));
  const at = (slot: number): number => Atomics.load(counters, slot);
  const start = first
    ? { completed: 0, altered: 0 }
    : { completed: at(CheckCounter.COMPLETED), altered: at(CheckCounter.ALTERED) };
  const brokenBefore = first ? [] : brokenRules(board);
  const began = performance.now();
  let last = start.completed;
  let lastMoved = began;
  const finding = (outcome: InteropFinding['outcome'], detail: string): InteropFinding => ({
    behaviour,
    description: BEHAVIOURS[behaviour],
    outcome,
    completed: at(CheckCounter.COMPLETED) - start.completed,
    detail,
  });
  for (;;) {
    await sleep(TICK_MS);
    const now = performance.now();
    const completed = at(CheckCounter.COMPLETED);
    if (completed !== last) {
      last = completed;
      lastMoved = now;
    }
    const altered = at(CheckCounter.ALTERED) - start.altered;
    if (altered > 0) {
      return finding(
        'broken',
        `${altered} frame(s) the driver sent back match no frame delivered to it (first: ${at(CheckCounter.ALTERED_LENGTH)} bytes): frames changed in the driver`,
      );
    }
    if (!(await connected(daemon))) return finding('broken', 'the driver disconnected');
    if (now - lastMoved > o.stallMs) {
      // A rule the driver broke meanwhile may be why: the device refuses a broken ring and stops it.
      const newlyBroken = brokenRules(board).filter((r) => !brokenBefore.includes(r));
      const why = newlyBroken.length === 0 ? '' : ` (rules broken meanwhile: ${newlyBroken.join(', ')})`;
      return finding('broken', `the driver stalled: no buffer completed for ${o.stallMs} ms${why}`);
    }
    // The phase ends once its time is up and the driver is still moving buffers (a stall is judged by stallMs).
    if (now - began >= o.phaseMs && now - lastMoved <= MOVING_MS) {
      return finding('ok', 'traffic went on; nothing lost, changed or refused');
    }
  }
}

const brokenRules = (board: VerdictBoard) =>
  rulesFor('driver')
    .filter((r) => board.violations(r.id) > 0)
    .map((r) => r.id);
/** A rule broken in a way that stops the ring (a queue error), so no traffic will come. */
const driverBroke = (board: VerdictBoard): boolean => brokenRules(board).length > 0;

async function connected(daemon: VhostUserDaemon): Promise<boolean> {
  return (await daemon.status()).ports[0]?.connected ?? false;
}

async function negotiatedOf(daemon: VhostUserDaemon): Promise<Features> {
  const f = (await daemon.status()).ports[0]?.features ?? null;
  return f === null ? 0n : BigInt(f);
}

/** The host program a vsock guest's load talks to: port 5000 echoes what it is sent. */
async function hostEcho(o: CheckDriverOptions): Promise<Server> {
  const path = `${udsPathOf(o)}_5000`;
  rmSync(path, { force: true });
  const server = createServer((s) => s.pipe(s).on('error', () => s.destroy()));
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(path, resolve));
  return server;
}

function udsPathOf(o: CheckDriverOptions): string {
  if (o.udsPath === undefined) {
    throw new CheckSetupError('--device vsock needs --uds-path (where guest connections to the host go)');
  }
  return o.udsPath;
}

function servedDevice(o: CheckDriverOptions, check: DriverCheck): ServedDevice {
  if (o.device === 'vsock') {
    return new VsockService({
      ringFeatures: o.ringFeatures,
      guestCid: o.guestCid ?? 3,
      udsPath: udsPathOf(o),
      maxQueueSize: 32768,
      check,
    });
  }
  if (o.device === 'test') {
    return new TestService({
      features: o.ringFeatures,
      queues: 1,
      maxQueueSize: 32768,
      usedEntries: 'batched',
      flushEvery: 64,
      device: {},
      check,
    });
  }
  return new NetService({
    name: 'net0',
    ringFeatures: o.ringFeatures,
    mac: parseMac('52:54:00:12:34:56'),
    mtu: 1500,
    pairs: 1,
    mergeable: o.mergeable,
    backend: { kind: 'loop' },
    pcapFd: -1,
    maxQueueSize: 32768,
    rxUsedEntries: 'auto',
    check,
    expectEcho: o.expectEcho,
  });
}
