import { VerdictBoard } from '../conformance/board.js';
import { exitCodeOf, verdicts, type CheckReport, type InteropFinding } from '../conformance/report.js';
import { runNetTraffic } from '../drivers/net/net-frontend.js';
import { runFrontend, VhostUserFrontendError } from '../drivers/test/test-frontend.js';
import { describeFeatures, ringFeatures, type Features, type RingWants } from '../virtqueue/features.js';
import { DEFAULT_RUN } from './options.js';
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { DeviceJudge } from '../conformance/device-judge.js';
import { VsockPort } from '../drivers/vsock/vsock-port.js';
import { VIRTIO_VSOCK_SHUTDOWN_SEND } from '../spec/vsock.js';
import { Prng } from '../util/prng.js';
import { CheckSetupError } from './check-driver.js';

/** What `vq check device` drives, and how. */
export interface CheckDeviceOptions extends RingWants {
  /** The vhost-user socket of the device under test. */
  socket: string;
  device: 'test' | 'net' | 'vsock';
  queueSize: number;
  /** Buffers (test), frames (net), or KiB per stream (vsock) to send. */
  count: number;
  /** vsock: where the device bridges host connections (a guest connecting to host port P reaches `<udsPath>_<P>`). */
  udsPath?: string;
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
  const run =
    o.device === 'test'
      ? await testRun(o, board)
      : o.device === 'net'
        ? await netRun(o, board)
        : await vsockRun(o, board);
  if (run.payloadFailure) {
    board.broken('device.payload', { queue: 0, index: run.done, value: 0, expected: 0, detail: run.failure ?? '' });
  }
  const rf = ringFeatures(run.negotiated);
  const rules = verdicts(board, 'device', rf);
  const unit = { test: 'buffers', net: 'frames', vsock: 'KiB on each stream' }[o.device];
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
    run: `${o.device === 'vsock' ? `${run.done} of ${VSOCK_STREAMS} streams of ${o.count} KiB echoed` : `${run.done} of ${o.count} ${unit}`}${run.failure === null ? '' : `; stopped: ${run.failure}`}`,
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

/** vsock streams echoed by a host program: this many at once, each checked by digest. */
const VSOCK_STREAMS = 4;
const VSOCK_ECHO_PORT = 5000;

/**
 * The vsock device: streams from the guest side (vqkit's driver) to host port 5000, where a host program echoes
 * them back (at `<udsPath>_5000`, the device's bridge); every stream's echo must match what was sent.
 */
async function vsockRun(o: CheckDeviceOptions, board: VerdictBoard): Promise<DriverRun> {
  if (o.udsPath === undefined) {
    throw new CheckSetupError('--device vsock needs --uds-path (where the device joins guest connections to the host)');
  }
  const hostPath = `${o.udsPath}_${VSOCK_ECHO_PORT}`;
  rmSync(hostPath, { force: true });
  const echo = createServer((s) => s.pipe(s));
  await new Promise<void>((resolve, reject) => echo.once('error', reject).listen(hostPath, resolve));
  let port: VsockPort;
  try {
    port = await VsockPort.open(o.socket, {
      ring: o.ring,
      inOrder: o.inOrder,
      indirect: o.indirect,
      eventIdx: o.eventIdx,
      queueSize: o.queueSize,
      idleTimeoutMs: o.stallMs,
      judge: board.buffer,
    });
  } catch (e) {
    echo.close();
    if (e instanceof VhostUserFrontendError) {
      return { negotiated: 0n, described: '(not negotiated)', done: 0, failure: e.message, payloadFailure: false };
    }
    throw e;
  }
  const running = port.run();
  const bytes = o.count * 1024;
  let moved = 0;
  try {
    const streams = Array.from({ length: VSOCK_STREAMS }, (_, i) => echoStream(port, i, bytes, () => moved++));
    const watch = stallWatch(o.stallMs, () => moved);
    const results = await Promise.race([Promise.all(streams), watch.stalled]);
    watch.stop();
    if (results === 'stalled') {
      for (const q of [port.driver.rx, port.driver.tx, port.driver.event]) {
        if (q instanceof DeviceJudge) q.diagnoseStall();
      }
      return {
        negotiated: port.negotiated,
        described: port.described,
        done: 0,
        failure: `stalled: nothing moved for ${o.stallMs} ms`,
        payloadFailure: false,
      };
    }
    const bad = results.filter((r) => r !== null);
    board.checked('device.payload', VSOCK_STREAMS);
    return {
      negotiated: port.negotiated,
      described: port.described,
      done: results.length - bad.length,
      failure: bad[0] ?? null,
      payloadFailure: bad.length > 0,
    };
  } finally {
    port.close();
    await running;
    echo.close();
  }
}

/** One stream of `bytes` seeded bytes to the echo port and back: null, or what differed. */
function echoStream(port: VsockPort, i: number, bytes: number, onData: () => void): Promise<string | null> {
  return new Promise((resolve) => {
    const data = new Uint8Array(bytes);
    const rng = new Prng(i + 1);
    for (let j = 0; j < bytes; j++) data[j] = rng.next31() & 0xff;
    const sent = createHash('sha256').update(data).digest('hex');
    const got = createHash('sha256');
    let n = 0;
    const conn = port.endpoint.connect(VSOCK_ECHO_PORT);
    conn.onConnected = () => {
      conn.write(data);
      conn.shutdown(VIRTIO_VSOCK_SHUTDOWN_SEND);
    };
    conn.onData = (b) => {
      got.update(b);
      n += b.length;
      conn.consumed(b.length);
      onData();
    };
    conn.onEnd = () => {
      const back = got.digest('hex');
      resolve(
        back === sent && n === bytes
          ? null
          : `stream ${i}: ${n} of ${bytes} bytes came back, digest ${back === sent ? 'equal' : 'different'}`,
      );
    };
    conn.onClose = (why) => resolve(n === bytes ? null : `stream ${i}: closed (${why}) after ${n} of ${bytes} bytes`);
  });
}

/** Resolves `stalled` with 'stalled' once `progress()` has not changed for `ms`. */
function stallWatch(ms: number, progress: () => number): { stalled: Promise<'stalled'>; stop: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<'stalled'>((resolve) => {
    let last = progress();
    let since = Date.now();
    timer = setInterval(() => {
      const now = progress();
      if (now !== last) {
        last = now;
        since = Date.now();
      } else if (Date.now() - since > ms) resolve('stalled');
    }, 100);
  });
  return { stalled, stop: () => clearInterval(timer) };
}
