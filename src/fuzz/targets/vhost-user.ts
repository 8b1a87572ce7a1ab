import { TestService } from '../../devices/test/test-service.js';
import type { PooledUnit } from '../../runtime/thread-pool.js';
import { VIRTIO_F_RING_PACKED } from '../../spec/features.js';
import { packedDescRingSize } from '../../spec/packed.js';
import { availRingSize, descTableSize, usedRingSize } from '../../spec/split.js';
import { VHOST_USER_NEED_REPLY, VHOST_USER_VERSION, VhostUserRequest as R } from '../../spec/vhost-user.js';
import { RING_FEATURES, hasFeature } from '../../virtqueue/features.js';
import {
  VhostUserProtocolError,
  encodeMessage,
  type MemoryRegion,
  type VhostUserMessage,
} from '../../transport/vhost-user/messages.js';
import { MessageReader } from '../../transport/vhost-user/reader.js';
import type { UnitStart } from '../../transport/vhost-user/served-device.js';
import {
  BackendSession,
  type MessageChannel,
  type SessionFds,
  type UnitRunner,
} from '../../transport/vhost-user/session.js';
import { FuzzInput } from '../input.js';
import { FuzzFailure, invariant, type FuzzTarget } from '../target.js';

/**
 * The vhost-user back-end's session - the real BackendSession, message by message - against front-ends whose
 * messages come from the input: the requests a front-end sends, with fields drawn from values that matter (ring
 * sizes, aligned and misaligned addresses, overlapping regions, wrap bits) or raw bytes, fed to the MessageReader in
 * pieces of any size. The fds a message carries are simulated: numbered, typed (memfd, eventfd, socket) and sized,
 * so the oracles can follow them. The oracles:
 * - the session never throws, and refuses only with VhostUserProtocolError (never "an internal error");
 * - every fd a front-end sent is closed exactly once by the time the session ends: none leaks, none is closed
 *   twice, none that was not sent is touched;
 * - a queue starts only with a valid size, a valid base and ring areas wholly inside the memory table, apart;
 * - every queue started is stopped when the session ends.
 */

const QUEUES = 2;
const MAX_SIZE = 256;
const USER_OFFSET = 0x7f00_0000_0000;
const MAX_MESSAGES = 40;
const TRACE = process.env.VQ_FUZZ_TRACE === '1';

const REQUESTS = [
  R.GET_FEATURES,
  R.SET_FEATURES,
  R.SET_OWNER,
  R.RESET_OWNER,
  R.SET_MEM_TABLE,
  R.SET_VRING_NUM,
  R.SET_VRING_ADDR,
  R.SET_VRING_BASE,
  R.GET_VRING_BASE,
  R.SET_VRING_KICK,
  R.SET_VRING_CALL,
  R.SET_VRING_ERR,
  R.GET_PROTOCOL_FEATURES,
  R.SET_PROTOCOL_FEATURES,
  R.GET_QUEUE_NUM,
  R.SET_VRING_ENABLE,
  R.GET_CONFIG,
  R.SET_CONFIG,
  R.GET_MAX_MEM_SLOTS,
  R.ADD_MEM_REG,
  R.REM_MEM_REG,
  R.SET_STATUS,
  R.GET_STATUS,
  R.SET_LOG_BASE,
];
const GUEST_ADDRS = [0, 0x10_0000, 0x20_0000, 0x1000, 0xffff_f000, 2 ** 52];
const SIZES = [0x10_0000, 0x1000, 0x20_0000, 0, 0x10_0001, 2 ** 52];
const RING_SIZES = [1, 2, 4, 8, 256, 0, 3, 257, 0x8000, 0xffffffff];
const RING_OFFSETS = [0, 0x1000, 0x2000, 0x3000, 0x2, 0x4, 0x8, 0xffff0, 0x100000, 0x1010, 0x4000, 0x5000];
const BASES = [0, 1, 0x8000, 0x8001, 0x7fff, 0x10000, 0x80008000, 0xffff, 0x40];

type FdKind = 'memfd' | 'eventfd' | 'socket';

/** The fds front-ends "sent": each opened once, and closed at most once by the session. */
class FdTable implements SessionFds {
  readonly #kind = new Map<number, FdKind>();
  readonly #size = new Map<number, number>();
  readonly #open = new Set<number>();
  #next = 1000;

  open(kind: FdKind, size: number): number {
    const fd = this.#next++;
    this.#kind.set(fd, kind);
    this.#size.set(fd, size);
    this.#open.add(fd);
    return fd;
  }

  close(fd: number): void {
    if (fd < 0) return;
    invariant(this.#kind.has(fd), () => `the session closed fd ${fd}, which no front-end sent`);
    invariant(this.#open.has(fd), () => `the session closed fd ${fd} twice`);
    this.#open.delete(fd);
  }

  signal(fd: number): void {
    invariant(this.#open.has(fd), () => `the session signalled fd ${fd}, which it does not hold`);
  }

  checkRegion(request: number, r: MemoryRegion, fd: number) {
    invariant(this.#open.has(fd), () => `the session checked fd ${fd}, which it does not hold`);
    if (this.#kind.get(fd) !== 'memfd') throw new VhostUserProtocolError('BAD_MEMORY_FD', request, `fd ${fd}`);
    if (r.mmapOffset % 4096 !== 0) throw new VhostUserProtocolError('MISALIGNED_REGION', request, `fd ${fd}`);
    if (r.mmapOffset + r.size > this.#size.get(fd)!)
      throw new VhostUserProtocolError('REGION_PAST_FILE', request, `fd ${fd}`);
    return { sealed: true };
  }

  get stillOpen(): number[] {
    return [...this.#open];
  }
}

/** The front-end's side of the socket: messages read through the real MessageReader from the bytes it "sent". */
class ScriptedChannel implements MessageChannel {
  closed = false;

  constructor(readonly table: FdTable) {}

  replies = 0;
  readonly #reader = new MessageReader(true);
  readonly #messages: (VhostUserMessage | Error)[] = [];

  /** Feeds one encoded message in pieces; a bad header ends the stream, as the real connection does. */
  feed(bytes: Uint8Array, fds: number[], pieces: FuzzInput, table: FdTable): boolean {
    let at = 0;
    let first = true;
    while (at < bytes.length) {
      const n = Math.min(1 + pieces.below(64), this.#reader.wanted(), bytes.length - at);
      try {
        this.#reader.push(bytes.subarray(at, at + n), first ? fds : []);
      } catch (e) {
        if (!(e instanceof VhostUserProtocolError))
          throw new FuzzFailure('escape', `MessageReader threw ${(e as Error).message}`);
        // The connection drops the stream and closes the fds of the message it could not read.
        this.#reader.takeAllFds().forEach((fd) => table.close(fd));
        this.#messages.push(e);
        return false;
      }
      first = false;
      at += n;
      const m = this.#reader.next();
      if (m !== null) {
        invariant(at === bytes.length, () => `a message completed ${bytes.length - at} bytes early`);
        this.#messages.push(m);
      }
    }
    return true;
  }

  /** Fds of a message cut short when the front-end went away: the connection closes them. */
  dropPartial(table: FdTable): void {
    this.#reader.takeAllFds().forEach((fd) => table.close(fd));
  }

  receive(): Promise<VhostUserMessage | null> {
    const m = this.#messages.shift();
    if (m === undefined || this.closed) return Promise.resolve(null);
    return m instanceof Error ? Promise.reject(m) : Promise.resolve(m);
  }

  reply(): void {
    this.replies++;
  }

  /** Closing the socket discards what was not read, and the kernel closes the fds still queued with it. */
  close(): void {
    this.closed = true;
    for (const m of this.#messages.splice(0)) if (!(m instanceof Error)) m.fds.forEach((fd) => this.table.close(fd));
  }
}

/** Units "run" until stopped; each start is checked against the memory table it was given. */
class CheckedRunner implements UnitRunner {
  readonly size = 1;
  running = 0;
  #next = 0;
  readonly starts = new Map<unknown, UnitStart>();

  start(_module: URL, data: unknown): PooledUnit {
    const start = this.starts.get(data);
    invariant(start !== undefined, () => 'a unit started without the device making it');
    this.running++;
    let stop!: () => void;
    const done = new Promise<{ result: unknown }>((resolve) => {
      stop = () =>
        resolve({ result: { failure: null, lastAvailIdx: start.queues.map((q) => q.availBase), stats: {} } });
    });
    let stopped = false;
    return {
      id: this.#next++,
      thread: 0,
      done,
      wake: () => {
        if (stopped) return;
        stopped = true;
        this.running--;
        stop();
      },
    };
  }

  startOnLoopThread(module: URL, data: unknown): PooledUnit {
    return this.start(module, data);
  }
}

function checkStart(start: UnitStart): void {
  const packed = hasFeature(start.features, VIRTIO_F_RING_PACKED);
  const inside = (gpa: number, bytes: number): boolean =>
    start.regions.some((r) => gpa >= r.guestAddr && gpa + bytes <= r.guestAddr + r.size);
  for (const q of start.queues) {
    invariant(
      q.size >= 1 && q.size <= MAX_SIZE && (packed || (q.size & (q.size - 1)) === 0),
      () => `queue ${q.index} started with size ${q.size}`,
    );
    if (packed)
      invariant(
        (q.availBase & 0x7fff) < q.size,
        () => `packed queue ${q.index} started at ${q.availBase} of ${q.size}`,
      );
    const areas = packed
      ? [
          [q.addresses.desc, packedDescRingSize(q.size)],
          [q.addresses.driver, 4],
          [q.addresses.device, 4],
        ]
      : [
          [q.addresses.desc, descTableSize(q.size)],
          [q.addresses.driver, availRingSize(q.size)],
          [q.addresses.device, usedRingSize(q.size)],
        ];
    for (const [gpa, bytes] of areas)
      invariant(inside(gpa, bytes), () => `queue ${q.index}: ring area 0x${gpa.toString(16)}+${bytes} outside memory`);
    for (let i = 0; i < 3; i++) {
      for (let j = i + 1; j < 3; j++) {
        const [a, al] = areas[i];
        const [b, bl] = areas[j];
        invariant(!(a < b + bl && b < a + al), () => `queue ${q.index}: ring areas overlap`);
      }
    }
  }
}

/** One message's request, flags, payload and fds, mostly well-formed, from the input. */
function message(
  input: FuzzInput,
  table: FdTable,
): { request: number; flags: number; payload: Uint8Array; fds: number[] } {
  const shape = input.u8();
  const flags = shape < 16 ? input.u32() : shape & 1 ? VHOST_USER_VERSION | VHOST_USER_NEED_REPLY : VHOST_USER_VERSION;
  if (shape >= 240) {
    // Raw: any request number, any payload.
    const request = input.u8();
    return { request, flags, payload: input.take(input.below(80)).slice(), fds: fdsFor(input, table, input.below(3)) };
  }
  const request = input.pick(REQUESTS);
  const b = new Uint8Array(4096);
  const v = new DataView(b.buffer);
  let len = 0;
  let fds = 0;
  const u64 = (x: number | bigint): void => {
    v.setBigUint64(len, BigInt.asUintN(64, BigInt(x)), true);
    len += 8;
  };
  const u32 = (x: number): void => {
    v.setUint32(len, x >>> 0, true);
    len += 4;
  };
  const region = (): void => {
    const guest = input.pick(GUEST_ADDRS);
    u64(guest);
    u64(input.pick(SIZES));
    u64(input.bool() ? guest + USER_OFFSET : input.pick(GUEST_ADDRS) + USER_OFFSET);
    u64(input.pick([0, 0, 0x1000, 7]));
  };
  switch (request) {
    case R.SET_FEATURES:
      u64(input.bool() ? RING_FEATURES | (1n << 30n) : (BigInt(input.u32()) << 32n) | BigInt(input.u32()));
      break;
    case R.SET_PROTOCOL_FEATURES:
    case R.SET_STATUS:
    case R.SET_LOG_BASE:
      u64(input.bool() ? 0xffff_ffff : input.u32());
      break;
    case R.SET_MEM_TABLE: {
      const n = input.pick([1, 1, 2, 3, 0, 9]);
      u32(n);
      u32(0);
      for (let i = 0; i < Math.min(n, 9); i++) region();
      fds = input.bool() ? n : input.below(4);
      break;
    }
    case R.ADD_MEM_REG:
    case R.REM_MEM_REG:
      u64(0);
      region();
      fds = request === R.ADD_MEM_REG || input.bool() ? 1 : 0;
      break;
    case R.SET_VRING_NUM:
    case R.SET_VRING_BASE:
    case R.GET_VRING_BASE:
    case R.SET_VRING_ENABLE:
      u32(input.below(QUEUES + 1));
      u32(
        request === R.SET_VRING_NUM
          ? input.pick(RING_SIZES)
          : request === R.SET_VRING_ENABLE
            ? input.below(2)
            : input.pick(BASES),
      );
      break;
    case R.SET_VRING_ADDR: {
      u32(input.below(QUEUES + 1));
      u32(0);
      const base = input.pick(GUEST_ADDRS) + USER_OFFSET;
      for (let i = 0; i < 3; i++) u64(base + input.pick(RING_OFFSETS));
      u64(0);
      break;
    }
    case R.SET_VRING_KICK:
    case R.SET_VRING_CALL:
    case R.SET_VRING_ERR: {
      const noFd = input.below(4) === 0;
      u64(input.below(QUEUES + 1) | (noFd ? 0x100 : 0));
      fds = noFd ? input.below(2) : 1;
      break;
    }
    case R.GET_CONFIG:
    case R.SET_CONFIG: {
      const size = input.pick([0, 6, 12, 300]);
      u32(input.pick([0, 4, 250]));
      u32(size);
      u32(0);
      len += Math.min(size, input.pick([size, 0, 4]));
      break;
    }
    default:
      break;
  }
  // Now and then the payload is cut or padded.
  if (input.below(8) === 0) len = Math.max(0, len + input.pick([-1, 1, -8, 8]));
  return { request, flags, payload: b.slice(0, len), fds: fdsFor(input, table, fds) };
}

function fdsFor(input: FuzzInput, table: FdTable, n: number): number[] {
  return Array.from({ length: n }, () => {
    const kind: FdKind =
      input.below(8) === 0 ? input.pick(['eventfd', 'socket'] as const) : input.bool() ? 'eventfd' : 'memfd';
    return table.open(kind, input.pick([0x20_0000, 0x10_0000, 0x1000]));
  });
}

async function run(data: Uint8Array): Promise<void> {
  const input = new FuzzInput(data);
  const table = new FdTable();
  const channel = new ScriptedChannel(table);
  const runner = new CheckedRunner();
  const service = new TestService({
    features: RING_FEATURES,
    queues: QUEUES,
    maxQueueSize: MAX_SIZE,
    usedEntries: 'batched',
    flushEvery: 1,
    device: {},
  } as ConstructorParameters<typeof TestService>[0]);
  // Every unit the device makes is checked before the runner "starts" it.
  const served = Object.create(service) as TestService;
  served.openSession = () => {
    const s = service.openSession();
    return {
      ...s,
      unit: (start: UnitStart) => {
        checkStart(start);
        const u = s.unit(start);
        runner.starts.set(u.data, start);
        return u;
      },
    };
  };
  for (let i = 0; i < MAX_MESSAGES && !input.done; i++) {
    const m = message(input, table);
    if (!channel.feed(encodeMessage(m.request, m.flags, m.payload), m.fds, input, table)) break;
  }
  channel.dropPartial(table);
  const lines: string[] = [];
  // VQ_FUZZ_TRACE=1 shows the session's log when replaying an input by hand.
  const log = TRACE ? (line: string) => (lines.push(line), console.log(line)) : (line: string) => lines.push(line);
  const session = new BackendSession(channel, served, runner, log, null, table);
  try {
    await session.run();
  } catch (e) {
    if (e instanceof FuzzFailure) throw e;
    throw new FuzzFailure('escape', `the session threw ${(e as Error)?.stack ?? String(e)}`);
  }
  const internal = lines.find((l) => l.includes('internal error'));
  invariant(internal === undefined, () => `the session logged ${internal}`);
  invariant(table.stillOpen.length === 0, () => `fds ${table.stillOpen.join(', ')} left open after the session ended`);
  invariant(runner.running === 0, () => `${runner.running} units still running after the session ended`);
}

export const vhostUserTarget: FuzzTarget = {
  surface: 'vhost-user',
  description:
    "the back-end's session (BackendSession) and its message reader and decoders, against message sequences from the input, with simulated fds (memfd, eventfd, socket)",
  maxLength: 1024,
  dictionary: [1, 2, 5, 8, 9, 10, 11, 12, 18, 0x100, 0x1000, 0x8000, 0x10000, 0x100000],
  seeds() {
    // A whole setup as QEMU sends it: features, protocol features, a memory table, then for each queue NUM, ADDR,
    // BASE, KICK, CALL, ENABLE; then GET_VRING_BASE stops queue 0. Each number below is the input byte that picks a
    // field in message(); 65 keeps the payload's length as built.
    const code = (r: number): number => REQUESTS.indexOf(r as (typeof REQUESTS)[number]);
    const le32 = (x: number): number[] => [x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff, x >>> 24];
    const seeds: Uint8Array[] = [];
    for (const packed of [false, true]) {
      const bytes: number[] = [];
      // Fields, 65 (the payload's length kept as built), the fds' kinds and sizes, then one piece per part read.
      const msg = (r: number, fields: number[], fds: number[] = []) => {
        const empty = [R.GET_FEATURES, R.GET_PROTOCOL_FEATURES].includes(r as 1);
        bytes.push(32, code(r), ...fields, 65, ...fds, 63, ...(empty ? [] : [63]));
      };
      msg(R.GET_FEATURES, []);
      // VERSION_1 and IN_ORDER in the high word; INDIRECT_DESC, EVENT_IDX and PROTOCOL_FEATURES in the low word.
      msg(R.SET_FEATURES, [0, ...le32(packed ? 0xd : 0x9), ...le32(0x7000_0000)]);
      msg(R.GET_PROTOCOL_FEATURES, []);
      msg(R.SET_PROTOCOL_FEATURES, [1]);
      msg(R.SET_MEM_TABLE, [0, 1, 0, 1, 0, 1], [1, 0, 0]);
      const offsets = [
        [0, 1, 2],
        [3, 10, 11],
      ];
      for (const q of [0, 1]) {
        msg(R.SET_VRING_NUM, [q, 3]);
        msg(R.SET_VRING_ADDR, [q, 1, ...offsets[q]]);
        msg(R.SET_VRING_BASE, [q, 0]);
        msg(R.SET_VRING_KICK, [1, q], [1, 1, 0]);
        msg(R.SET_VRING_CALL, [1, q], [1, 1, 0]);
        msg(R.SET_VRING_ENABLE, [q, 1]);
      }
      msg(R.GET_VRING_BASE, [0, 0]);
      seeds.push(Uint8Array.from(bytes));
    }
    return seeds;
  },
  run,
};
