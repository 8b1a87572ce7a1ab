import { signalEventFd } from '../../os/eventfd.js';
import { closeFd } from '../../os/fd.js';
import { OsError } from '../../os/libc.js';
import type { PooledUnit } from '../../runtime/thread-pool.js';
import { VIRTIO_F_RING_PACKED, VIRTIO_F_VERSION_1 } from '../../spec/features.js';
import {
  VHOST_USER_F_PROTOCOL_FEATURES,
  VHOST_USER_NEED_REPLY,
  VhostUserProtocolFeature as P,
  VhostUserRequest as R,
  requestName,
} from '../../spec/vhost-user.js';
import { availRingSize, descTableSize, usedRingSize } from '../../spec/split.js';
import { packedDescRingSize } from '../../spec/packed.js';
import { bit, featureMask, hasFeature, type Features } from '../../virtqueue/features.js';
import type { RingAddresses } from '../../virtqueue/types.js';
import { userToGuest, type SharedRegion } from './memory-table.js';
import {
  VhostUserProtocolError,
  checkNoOverlap,
  decodeConfig,
  decodeEmpty,
  decodeSingleRegion,
  decodeMemTable,
  decodeRingSize,
  decodeU64,
  decodeVringAddr,
  decodeVringFile,
  decodeVringState,
  encodeConfig,
  encodeU64,
  encodeVringState,
  type MemoryRegion,
  type VhostUserMessage,
  type VringAddr,
} from './messages.js';
import {
  checkRegionMemory,
  checkRingAlignment,
  checkRingAreasApart,
  checkRingBase,
  type CheckedRegion,
} from './memory-check.js';
import { QueueControl } from './queue-control.js';
import type { DeviceSession, ServedDevice, UnitResult, UnitStart } from './served-device.js';

/** Protocol features vqkit's back-end speaks (a device with a config space adds CONFIG). */
export const BACKEND_PROTOCOL_FEATURES = featureMask(P.MQ, P.REPLY_ACK, P.STATUS, P.CONFIGURE_MEM_SLOTS);
/** Memory slots offered with CONFIGURE_MEM_SLOTS (GET_MAX_MEM_SLOTS). */
export const MAX_MEM_SLOTS = 32;

/** The connection a session talks over (a VhostUserConnection; a scripted one in the fuzz target). */
export interface MessageChannel {
  readonly closed: boolean;
  /** The next message from the front-end, or null once it has gone. */
  receive(): Promise<VhostUserMessage | null>;
  reply(request: number, payload?: Uint8Array): void;
  close(): void;
}

/** Where a session's queues run (the daemon's ThreadPool). */
export interface UnitRunner {
  /** Data-plane threads: a unit on thread `size` runs on the event-loop thread. */
  readonly size: number;
  start(module: URL, data: unknown): PooledUnit;
  startOnLoopThread(module: URL, data: unknown, log: (line: string) => void): PooledUnit;
}

/**
 * What a session does with the file descriptors front-ends send: close them, signal error eventfds, check memory
 * fds. The real system calls by default; the fuzz target counts them instead, so that a message sequence that leaks
 * or double-closes an fd is a finding.
 */
export interface SessionFds {
  close(fd: number): void;
  signal(fd: number): void;
  checkRegion(request: number, r: MemoryRegion, fd: number): CheckedRegion;
}

export const SYSTEM_FDS: SessionFds = {
  close: closeFd,
  signal: signalEventFd,
  checkRegion: checkRegionMemory,
};

interface Vring {
  size: number;
  addr: VringAddr | null;
  base: number;
  kick: number;
  call: number;
  err: number;
  enabled: boolean;
  /** The running worker serving this ring (and the rest of its unit), if any. */
  unit: RunningUnit | null;
  control: SharedArrayBuffer;
  /** The same, as the Int32Array the worker shares. */
  ctl: Int32Array;
}

/** A unit of queues being served (one test queue; a net queue pair): on a pool thread, or on its own worker. */
interface RunningUnit {
  start: UnitStart;
  /** Wakes whatever runs the unit so it sees its STOP flags. */
  wake: () => void;
  /** The pool thread serving it and its id there, or -1. */
  thread: number;
  poolId: number;
  done: Promise<UnitResult>;
}

/** A region for the log, with whether its file is sealed against shrinking (the SIGBUS defence: README). */
function describeRegion(r: MemoryRegion, c: CheckedRegion): string {
  const where = `0x${r.guestAddr.toString(16)}+${r.size}`;
  return c.sealed
    ? `${where} (sealed against shrinking)`
    : `${where} (NOT sealable: a front-end that truncates it can fault this process)`;
}

/** A port of the daemon as `vq status` shows it. */
export interface PortStatus {
  socket: string;
  device: string;
  /** The back-end connects to a listening front-end (--client). */
  client: boolean;
  connected: boolean;
  /** Front-ends served so far, this one included. */
  sessions: number;
  frontendPid: number | null;
  /** With --isolation process: the child serving the front-end (its queues and counters are the child's). */
  childPid: number | null;
  /** The negotiated features in words, and as hex. */
  negotiated: string | null;
  features: string | null;
  queues: { index: number; size: number; enabled: boolean; running: boolean }[];
  /** Running units: their queues, where they run, and their counters. */
  units: { queues: number[]; thread: number | null; counters: Record<string, unknown> | null }[];
}

/** A queue's control array, shared with its worker, and the view both sides use. */
function queueControl(): { control: SharedArrayBuffer; ctl: Int32Array } {
  const control = new SharedArrayBuffer(QueueControl.LENGTH * 4);
  return { control, ctl: new Int32Array(control) };
}

/** Takes fd i out of a message: the session owns it now, and a refusal will not close it. */
function take(m: VhostUserMessage, i: number): number {
  const fd = m.fds[i];
  m.fds[i] = -1;
  return fd;
}

/**
 * One front-end's connection: the vhost-user protocol, message by message, and the queues it starts. Everything a
 * front-end sends is checked before it is used; a bad message is refused (REPLY_ACK 1, or a logged disconnect) and
 * whatever fds it brought are closed.
 */
export class BackendSession {
  readonly #vrings: Vring[];
  readonly #device: DeviceSession;
  #acked: Features = 0n;
  /** Whether VHOST_USER_F_PROTOCOL_FEATURES was acked: rings then start disabled until SET_VRING_ENABLE. */
  #protocolAcked = false;
  #protocol: Features = 0n;
  #status = 0n;
  #regions: SharedRegion[] = [];
  #releasing = false;

  constructor(
    readonly conn: MessageChannel,
    readonly served: ServedDevice,
    readonly pool: UnitRunner,
    readonly log: (line: string) => void,
    readonly frontendPid: number | null,
    readonly fds: SessionFds = SYSTEM_FDS,
  ) {
    this.#device = served.openSession(log);
    this.#vrings = Array.from({ length: served.queues }, () => ({
      size: 0,
      addr: null,
      base: 0,
      kick: -1,
      call: -1,
      err: -1,
      enabled: false,
      unit: null,
      ...queueControl(),
    }));
  }

  status(
    counters: ReadonlyMap<number, Record<string, unknown>>,
  ): Omit<PortStatus, 'socket' | 'device' | 'client' | 'sessions' | 'connected' | 'childPid'> {
    const units = [...new Set(this.#vrings.map((v) => v.unit).filter((u) => u !== null))];
    return {
      frontendPid: this.frontendPid,
      negotiated: this.#acked === 0n ? null : this.served.describe(this.#acked),
      features: this.#acked === 0n ? null : `0x${this.#acked.toString(16)}`,
      queues: this.#vrings.map((v, index) => ({ index, size: v.size, enabled: v.enabled, running: v.unit !== null })),
      units: units.map((u) => ({
        queues: u.start.queues.map((q) => q.index),
        thread: u.thread >= 0 ? u.thread : null,
        counters: u.poolId >= 0 ? (counters.get(u.poolId) ?? null) : null,
      })),
    };
  }

  get offered(): Features {
    return this.served.features | bit(VHOST_USER_F_PROTOCOL_FEATURES);
  }

  get protocolOffered(): Features {
    return BACKEND_PROTOCOL_FEATURES | this.served.protocolFeatures;
  }

  async run(): Promise<void> {
    try {
      for (;;) {
        let m: VhostUserMessage | null;
        try {
          m = await this.conn.receive();
        } catch (e) {
          this.log(`disconnecting: ${(e as Error).message}`);
          break;
        }
        if (m === null) break;
        const needReply = (m.flags & VHOST_USER_NEED_REPLY) !== 0 && hasFeature(this.#protocol, P.REPLY_ACK);
        try {
          const replied = await this.#handle(m);
          // fds a handled message brought and no handler kept (REM_MEM_REG's, say) are not ours to hold.
          m.fds.filter((fd) => fd >= 0).forEach((fd) => this.fds.close(fd));
          if (needReply && !replied) this.conn.reply(m.request, encodeU64(0n));
        } catch (e) {
          // Whatever fds the refused message brought and no handler took are closed.
          m.fds.filter((fd) => fd >= 0).forEach((fd) => this.fds.close(fd));
          if (e instanceof OsError) {
            this.log(`connection lost: ${e.message}`);
            break;
          }
          // A refusal names the front-end's mistake; anything else is a bug of ours, and the log says so.
          if (e instanceof VhostUserProtocolError) this.log(`refused ${requestName(m.request)}: ${e.message}`);
          else this.log(`refused ${requestName(m.request)} on an internal error: ${(e as Error)?.stack ?? String(e)}`);
          if (needReply) {
            if (!this.#tryReply(m.request, 1n)) break;
            continue;
          }
          // Something we do not implement and that wants no answer is ignored; anything malformed ends the session.
          if (e instanceof VhostUserProtocolError && e.code === 'UNKNOWN_REQUEST') continue;
          this.log('disconnecting: malformed request');
          break;
        }
      }
    } finally {
      await this.end();
    }
  }

  /** An error reply; false if the front-end is gone (the session then ends, the daemon goes on). */
  #tryReply(request: number, value: bigint): boolean {
    try {
      this.conn.reply(request, encodeU64(value));
      return true;
    } catch (e) {
      this.log(`connection lost: ${(e as Error).message}`);
      return false;
    }
  }

  /** Everything this session holds is released: workers stopped, fds closed, mappings unmapped. */
  async end(): Promise<void> {
    for (let i = 0; i < this.#vrings.length; i++) await this.#stopVring(i);
    await this.#release();
    for (const v of this.#vrings) {
      for (const fd of [v.kick, v.call, v.err]) this.fds.close(fd);
      v.kick = v.call = v.err = -1;
    }
    this.#regions.forEach((r) => this.fds.close(r.fd));
    this.#regions = [];
    if (!this.conn.closed) {
      this.conn.close();
      this.#device.close?.();
    }
  }

  /** Runs the device's release unit, once, when the session ends (its queues all stopped). */
  async #release(): Promise<void> {
    const r = this.#releasing ? undefined : this.#device.release?.();
    this.#releasing = true;
    if (r === undefined) return;
    const done = await this.#startOnPool(r.url, r.data, r.eventLoop === true).done;
    if ('failure' in done) this.log(`releasing the device failed: ${done.failure}`);
  }

  /** Handles one request; returns true if it already sent its reply. */
  async #handle(m: VhostUserMessage): Promise<boolean> {
    const q = this.served.queues;
    const packed = hasFeature(this.#acked, VIRTIO_F_RING_PACKED);
    switch (m.request) {
      case R.GET_FEATURES:
        decodeEmpty(m);
        this.conn.reply(m.request, encodeU64(this.offered));
        return true;
      case R.SET_FEATURES: {
        const f = decodeU64(m);
        if ((f & ~this.offered) !== 0n || !hasFeature(f, VIRTIO_F_VERSION_1)) {
          throw new VhostUserProtocolError(
            'BAD_FEATURES',
            m.request,
            `features 0x${f.toString(16)} not a valid subset`,
          );
        }
        this.#protocolAcked = hasFeature(f, VHOST_USER_F_PROTOCOL_FEATURES);
        this.#acked = f & ~bit(VHOST_USER_F_PROTOCOL_FEATURES);
        this.log(`negotiated ${this.served.describe(this.#acked)}`);
        return false;
      }
      case R.GET_PROTOCOL_FEATURES:
        decodeEmpty(m);
        this.conn.reply(m.request, encodeU64(this.protocolOffered));
        return true;
      case R.SET_PROTOCOL_FEATURES:
        this.#protocol = decodeU64(m) & this.protocolOffered;
        return false;
      case R.SET_OWNER:
      case R.RESET_OWNER:
        decodeEmpty(m);
        return false;
      case R.GET_QUEUE_NUM:
        decodeEmpty(m);
        this.conn.reply(m.request, encodeU64(BigInt(this.served.queueNum)));
        return true;
      case R.GET_CONFIG: {
        const c = decodeConfig(m);
        const space = this.served.config();
        if (space === null || c.offset + c.size > space.length) {
          // An empty reply is how a back-end says it cannot (QEMU and DPDK treat it as a failed read).
          this.log(
            `refused GET_CONFIG: bytes ${c.offset}..${c.offset + c.size} outside a ${space?.length ?? 0}-byte space`,
          );
          this.conn.reply(m.request, new Uint8Array(0));
          return true;
        }
        this.conn.reply(m.request, encodeConfig({ ...c, bytes: space.slice(c.offset, c.offset + c.size) }));
        return true;
      }
      case R.SET_CONFIG:
        // The config space is read-only (the MAC is set through the control queue).
        decodeConfig(m);
        throw new VhostUserProtocolError('BAD_CONFIG', m.request, 'the config space is read-only');
      case R.SET_MEM_TABLE: {
        const regions = decodeMemTable(m);
        const checked = regions.map((r, i) => this.fds.checkRegion(m.request, r, m.fds[i]));
        await this.#changeRegions(() => {
          this.#regions.forEach((r) => this.fds.close(r.fd));
          this.#regions = regions.map((r, i) => ({ ...r, fd: take(m, i) }));
        });
        this.log(`memory table: ${regions.map((r, i) => describeRegion(r, checked[i])).join(', ')}`);
        return false;
      }
      case R.GET_MAX_MEM_SLOTS:
        decodeEmpty(m);
        this.conn.reply(m.request, encodeU64(BigInt(MAX_MEM_SLOTS)));
        return true;
      case R.ADD_MEM_REG: {
        const r = decodeSingleRegion(m);
        if (this.#regions.length >= MAX_MEM_SLOTS) {
          throw new VhostUserProtocolError('TOO_MANY_REGIONS', m.request, `all ${MAX_MEM_SLOTS} slots are in use`);
        }
        checkNoOverlap(m.request, [...this.#regions, r]);
        const checked = this.fds.checkRegion(m.request, r, m.fds[0]);
        await this.#changeRegions(() => this.#regions.push({ ...r, fd: take(m, 0) }));
        this.log(`memory region added: ${describeRegion(r, checked)}`);
        return false;
      }
      case R.REM_MEM_REG: {
        const r = decodeSingleRegion(m);
        const i = this.#regions.findIndex(
          (x) => x.guestAddr === r.guestAddr && x.size === r.size && x.userAddr === r.userAddr,
        );
        if (i < 0)
          throw new VhostUserProtocolError(
            'BAD_REGION',
            m.request,
            `no region 0x${r.guestAddr.toString(16)}+${r.size}`,
          );
        await this.#changeRegions(() => this.fds.close(this.#regions.splice(i, 1)[0].fd));
        this.log(`memory region removed: 0x${r.guestAddr.toString(16)}+${r.size}`);
        return false;
      }
      case R.SET_VRING_NUM: {
        const s = decodeRingSize(m, q, this.served.maxQueueSize, packed);
        this.#vrings[s.index].size = s.num;
        return false;
      }
      case R.SET_VRING_ADDR: {
        const a = decodeVringAddr(m, q);
        checkRingAlignment(m.request, a, packed);
        this.#vrings[a.index].addr = a;
        return false;
      }
      case R.SET_VRING_BASE: {
        const s = decodeVringState(m, q);
        checkRingBase(m.request, s.index, s.num, packed, this.#vrings[s.index].size);
        this.#vrings[s.index].base = s.num;
        return false;
      }
      case R.GET_VRING_BASE: {
        const s = decodeVringState(m, q);
        await this.#stopVring(s.index);
        const v = this.#vrings[s.index];
        // The ring is stopped; its kick fd goes (the front-end sends a new one to restart it).
        this.fds.close(v.kick);
        v.kick = -1;
        // Packed rings: bits 0-15 the next descriptor and wrap, 16-31 the same for used (all completions are flushed).
        const num = packed ? ((v.base & 0xffff) | ((v.base & 0xffff) << 16)) >>> 0 : v.base & 0xffff;
        this.conn.reply(m.request, encodeVringState({ index: s.index, num }));
        return true;
      }
      case R.SET_VRING_KICK:
      case R.SET_VRING_CALL:
      case R.SET_VRING_ERR: {
        const f = decodeVringFile(m, q);
        const v = this.#vrings[f.index];
        const fd = f.fd === null ? -1 : take(m, 0);
        if (m.request === R.SET_VRING_KICK) {
          this.fds.close(v.kick);
          v.kick = fd;
          Atomics.store(v.ctl, QueueControl.KICK_FD, fd);
          // Without protocol features a ring is enabled by its kick fd; with them, by SET_VRING_ENABLE.
          if (!this.#protocolAcked) v.enabled = true;
          this.#maybeStart(f.index);
        } else if (m.request === R.SET_VRING_CALL) {
          this.fds.close(v.call);
          v.call = fd;
          // A running queue picks up the new call fd at its next interrupt.
          Atomics.store(v.ctl, QueueControl.CALL_FD, fd);
        } else {
          this.fds.close(v.err);
          v.err = fd;
        }
        return false;
      }
      case R.SET_VRING_ENABLE: {
        const s = decodeVringState(m, q);
        this.#vrings[s.index].enabled = s.num !== 0;
        if (s.num !== 0) this.#maybeStart(s.index);
        else await this.#stopVring(s.index);
        return false;
      }
      case R.SET_STATUS:
        this.#status = decodeU64(m);
        return false;
      case R.GET_STATUS:
        decodeEmpty(m);
        this.conn.reply(m.request, encodeU64(this.#status));
        return true;
      default:
        throw new VhostUserProtocolError('UNKNOWN_REQUEST', m.request, 'not supported by this back-end');
    }
  }

  /** Running queues see the memory table they started with: stop them, change it, start them again. */
  async #changeRegions(change: () => void): Promise<void> {
    const running = this.#vrings.map((v, i) => (v.unit !== null ? i : -1)).filter((i) => i >= 0);
    for (const i of running) await this.#stopVring(i);
    change();
    for (const i of running) this.#maybeStart(i);
  }

  /** Whether a ring has memory, a size, addresses, a kick fd and is enabled. */
  #ready(index: number): boolean {
    const v = this.#vrings[index];
    return v.addr !== null && v.size !== 0 && v.kick >= 0 && v.enabled && this.#regions.length > 0;
  }

  /**
   * Starts the worker of a queue's unit once every queue of the unit is ready. A ring address outside every region
   * throws, so the request that completed the setup is refused.
   */
  #maybeStart(index: number): void {
    const indices = this.#device.unitOf(index, this.#acked);
    if (indices.some((i) => this.#vrings[i].unit !== null || !this.#ready(i))) return;
    const packed = hasFeature(this.#acked, VIRTIO_F_RING_PACKED);
    // The base was checked when it came, against the size and layout of that moment; a SET_VRING_NUM or
    // SET_FEATURES after it may have changed either (found by the fuzz campaign: a packed ring about to start at
    // position 0x7fff of 8). Checked again against what the ring starts with.
    for (const i of indices) checkRingBase(R.SET_VRING_BASE, i, this.#vrings[i].base, packed, this.#vrings[i].size);
    const start: UnitStart = {
      features: this.#acked,
      regions: this.#regions,
      queues: indices.map((i) => {
        const v = this.#vrings[i];
        Atomics.store(v.ctl, QueueControl.STOP, 0);
        Atomics.store(v.ctl, QueueControl.CALL_FD, v.call);
        Atomics.store(v.ctl, QueueControl.KICK_FD, v.kick);
        return {
          index: i,
          size: v.size,
          addresses: this.#ringAddresses(v, packed),
          // Split: the avail idx. Packed: the next descriptor with its wrap counter in bit 15.
          availBase: v.base & 0xffff,
          control: v.control,
        };
      }),
    };
    const { url, data, eventLoop } = this.#device.unit(start);
    const running = this.#pooled(indices, start, url, data, eventLoop === true);
    // However it ends (stopped, or broken on its own), the rings remember where it stopped.
    const unit: RunningUnit = { ...running, done: running.done.then((r) => this.#unitEnded(unit, r)) };
    for (const i of indices) this.#vrings[i].unit = unit;
    const layout = packed ? 'packed' : 'split';
    const where = unit.thread < this.pool.size ? `data-plane thread ${unit.thread}` : 'the event-loop thread';
    for (const q of start.queues) this.log(`queue ${q.index} started: ${layout} ring of ${q.size}, on ${where}`);
  }

  /** A broken ring (DEVICE_NEEDS_RESET) is logged and told to the front-end through the error eventfds. */
  #reportFailure(indices: readonly number[], r: UnitResult): void {
    if (r.failure === null) return;
    this.log(`queue ${indices.join(',')}: ${r.failure}`);
    for (const i of indices) if (this.#vrings[i].err >= 0) this.fds.signal(this.#vrings[i].err);
  }

  /** What a unit that could not report is taken to have done: nothing since it started. */
  #lost(indices: readonly number[], failure: string): UnitResult {
    return { failure, lastAvailIdx: indices.map((i) => this.#vrings[i].base), stats: {} };
  }

  /** A unit on a data-plane thread, or on the event-loop thread (one that needs node:net). */
  #startOnPool(url: URL, data: unknown, eventLoop: boolean): PooledUnit {
    return eventLoop ? this.pool.startOnLoopThread(url, data, this.log) : this.pool.start(url, data);
  }

  #pooled(indices: readonly number[], start: UnitStart, url: URL, data: unknown, eventLoop: boolean): RunningUnit {
    const p = this.#startOnPool(url, data, eventLoop);
    const done = p.done.then((r) => {
      const result = 'result' in r ? (r.result as UnitResult) : this.#lost(indices, r.failure);
      this.#reportFailure(indices, result);
      return result;
    });
    return { start, wake: p.wake, thread: p.thread, poolId: p.id, done };
  }

  #ringAddresses(v: Vring, packed: boolean): RingAddresses {
    const addr = v.addr!;
    const size = v.size;
    const area = (what: string, user: number, len: number): number => {
      const gpa = userToGuest(this.#regions, user, len);
      if (gpa === null) {
        throw new VhostUserProtocolError(
          'BAD_REGION',
          R.SET_VRING_ADDR,
          `${what} 0x${user.toString(16)} is outside all regions`,
        );
      }
      return gpa;
    };
    const areas = packed
      ? [
          { what: 'descriptor ring', user: addr.desc, bytes: packedDescRingSize(size) },
          { what: 'driver event area', user: addr.avail, bytes: 4 },
          { what: 'device event area', user: addr.used, bytes: 4 },
        ]
      : [
          { what: 'descriptor table', user: addr.desc, bytes: descTableSize(size) },
          { what: 'avail ring', user: addr.avail, bytes: availRingSize(size) },
          { what: 'used ring', user: addr.used, bytes: usedRingSize(size) },
        ];
    const placed = areas.map((a) => ({ what: a.what, gpa: area(a.what, a.user, a.bytes), bytes: a.bytes }));
    checkRingAreasApart(R.SET_VRING_ADDR, addr.index, placed);
    return { desc: placed[0].gpa, driver: placed[1].gpa, device: placed[2].gpa };
  }

  /** Stops the worker serving queue `index` and with it the rest of its unit; each ring remembers where it stopped. */
  async #stopVring(index: number): Promise<void> {
    const unit = this.#vrings[index].unit;
    if (unit === null) return;
    for (const q of unit.start.queues) Atomics.store(this.#vrings[q.index].ctl, QueueControl.STOP, 1);
    unit.wake();
    await unit.done;
  }

  /** A unit has ended: its rings are free to start again, from where it stopped. */
  #unitEnded(unit: RunningUnit, result: UnitResult): UnitResult {
    unit.start.queues.forEach((q, k) => {
      const v = this.#vrings[q.index];
      if (v.unit !== unit) return;
      v.unit = null;
      // A queue started again (re-enabled, new memory table) resumes where this one stopped.
      if (result.lastAvailIdx[k] !== undefined) v.base = result.lastAvailIdx[k];
    });
    this.#device.stopped?.(unit.start, result);
    return result;
  }
}
