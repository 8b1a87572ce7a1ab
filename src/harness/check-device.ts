import { VerdictBoard } from '../conformance/board.js';
import { exitCodeOf, verdicts, type CheckReport, type InteropFinding } from '../conformance/report.js';
import { runNetTraffic } from '../drivers/net/net-frontend.js';
import { runFrontend, VhostUserFrontendError } from '../drivers/test/test-frontend.js';
import { describeFeatures, ringFeatures, type Features, type RingWants } from '../virtqueue/features.js';
import { DEFAULT_RUN } from './options.js';

/** What `vq check device` drives, and how. */
export interface CheckDeviceOptions extends RingWants {
  /** The vhost-user socket of the device under test. */
  socket: string;
  device: 'test' | 'net';
  queueSize: number;
  /** Buffers (test) or frames (net) to send. */
  count: number;
  seed: number;
  /** Net: ask for VIRTIO_NET_F_MRG_RXBUF... */
  mergeable: boolean;
  /** ...and post receive buffers of this many bytes (small ones make a frame span several: used entries batch). */
  rxBufferBytes?: number;
  /** A ring on which nothing moved this long is stalled: the run stops and the rings are looked at. */
  stallMs: number;
  /** The command line, for the report's "reproduce". */
  command: string;
}

/** What one driver run gave the report: what was negotiated, what moved, and how it ended. */
interface DriverRun {
  negotiated: Features;
  described: string;
  done: number;
  failure: string | null;
  /** The failure is the payload's (bytes or lengths the device type defines), not the ring's. */
  payloadFailure: boolean;
}

/**
 * vqkit as the driver, the peer as the device under test: drive varied traffic through it with every ring judged
 * (device-judge.ts), and report each device rule.
 */
export async function checkDevice(o: CheckDeviceOptions): Promise<CheckReport> {
  const board = new VerdictBoard();
  const run = o.device === 'test' ? await testRun(o, board) : await netRun(o, board);
  if (run.payloadFailure) {
    board.broken('device.payload', { queue: 0, index: run.done, value: 0, expected: 0, detail: run.failure ?? '' });
  }
  const rf = ringFeatures(run.negotiated);
  const rules = verdicts(board, 'device', rf);
  const unit = o.device === 'test' ? 'buffers' : 'frames';
  const traffic: InteropFinding = {
    behaviour: 'traffic',
    description: `${o.count} ${unit} of varied sizes`,
    outcome: run.failure === null ? 'ok' : 'broken',
    completed: run.done,
    detail: run.failure ?? `all ${o.count} ${unit} came back as sent`,
  };
  return {
    role: 'device',
    peer: `${o.device} device at ${o.socket}`,
    negotiated: run.described,
    run: `${run.done} of ${o.count} ${unit}${run.failure === null ? '' : `; stopped: ${run.failure}`}`,
    rules,
    interop: [traffic],
    command: o.command,
    exitCode: exitCodeOf(rules, [traffic]),
  };
}

/** The test device: random chains (up to 8 segments), random batches, partial writes, every byte verified. */
async function testRun(o: CheckDeviceOptions, board: VerdictBoard): Promise<DriverRun> {
  const options = {
    ...DEFAULT_RUN,
    ring: o.ring,
    inOrder: o.inOrder,
    indirect: o.indirect,
    eventIdx: o.eventIdx,
    queueSize: o.queueSize,
    buffers: o.count,
    seed: o.seed,
    maxChain: 8,
  };
  try {
    const r = await runFrontend(o.socket, options, undefined, undefined, { board: board.buffer, stallMs: o.stallMs });
    const done = r.result.completed ?? 0;
    const failure = r.result.failure;
    // Every buffer's written bytes and used length are verified against the test device's pattern.
    if (done > 0) board.checked('device.payload', done);
    const stalled = failure !== null && failure.startsWith('stopped before');
    return {
      negotiated: r.negotiated,
      described: describeFeatures(r.negotiated),
      done,
      failure: stalled ? `stalled: nothing moved for ${o.stallMs} ms` : failure,
      payloadFailure: failure !== null && failure.includes('buffer #') && !failure.includes('IN_ORDER'),
    };
  } catch (e) {
    if (!(e instanceof VhostUserFrontendError)) throw e;
    return { negotiated: 0n, described: '(not negotiated)', done: 0, failure: e.message, payloadFailure: false };
  }
}

/** The net device: numbered frames of random length (60 bytes to the MTU) sent and expected back, each verified. */
async function netRun(o: CheckDeviceOptions, board: VerdictBoard): Promise<DriverRun> {
  const r = await runNetTraffic(o.socket, {
    ring: o.ring,
    inOrder: o.inOrder,
    indirect: o.indirect,
    eventIdx: o.eventIdx,
    mergeable: o.mergeable,
    // The data queues are judged; DPDK's vhost offers a control queue it never answers.
    control: false,
    queueSize: o.queueSize,
    pairs: 1,
    idleTimeoutMs: o.stallMs,
    frames: o.count,
    frameSize: 'random',
    window: 64,
    seed: o.seed,
    rxBufferBytes: o.mergeable ? o.rxBufferBytes : undefined,
    judge: board.buffer,
  });
  const p = r.pairs[0] ?? { received: 0, bad: 0 };
  if (p.received > 0) board.checked('device.payload', p.received);
  return {
    negotiated: r.negotiated,
    described: r.described,
    done: p.received,
    failure: r.failure,
    payloadFailure: p.bad > 0,
  };
}
