import { EventFd } from '../../os/eventfd.js';
import { closeFd } from '../../os/fd.js';
import { Mapping } from '../../os/mapping.js';
import { MemFd } from '../../os/memfd.js';
import { connectUnix, listenUnix, unlinkPath } from '../../os/unix-socket.js';
import { acceptConnection } from '../../runtime/accept.js';
import { VIRTIO_F_RING_PACKED } from '../../spec/features.js';
import {
  VHOST_USER_F_PROTOCOL_FEATURES,
  VhostUserProtocolFeature as P,
  VhostUserRequest as R,
  requestName,
} from '../../spec/vhost-user.js';
import { bit, hasFeature, negotiate, type Features } from '../../virtqueue/features.js';
import type { RingAddresses } from '../../virtqueue/types.js';
import { VhostUserConnection } from './connection.js';
import type { QueuePlan } from './guest-plan.js';
import {
  decodeConfig,
  decodeU64,
  encodeConfig,
  encodeMemTable,
  encodeSingleRegion,
  encodeU64,
  encodeVringAddr,
  encodeVringFile,
  encodeVringState,
  type VhostUserMessage,
} from './messages.js';
import { QueueControl } from './queue-control.js';

/**
 * Resolves when the back-end closes the connection (or reading it fails). A back-end sends nothing unasked on this
 * channel once the rings run: a message here is left unread.
 */
export function backendGone(conn: VhostUserConnection): Promise<void> {
  return new Promise((resolve) => {
    conn.receive().then(
      (m) => m === null && resolve(),
      () => resolve(),
    );
  });
}

/** The back-end misbehaved or went away: what happened, in words a user can act on. */
export class VhostUserFrontendError extends Error {
  override readonly name = 'VhostUserFrontendError';
}

/** Connects to a back-end listening at `path`. */
export function connectBackend(path: string): number {
  try {
    return connectUnix(path);
  } catch (e) {
    throw new VhostUserFrontendError(`cannot connect to a vhost-user back-end at ${path}: ${(e as Error).message}`);
  }
}

/** Listens on `path` and takes the first back-end that connects (DPDK's vhost PMD with client=1). */
export async function acceptBackend(path: string, timeoutMs: number): Promise<number> {
  const listenFd = listenUnix(path);
  try {
    const fd = await acceptConnection(listenFd, AbortSignal.timeout(timeoutMs));
    if (fd === null) throw new VhostUserFrontendError(`no back-end connected to ${path} within ${timeoutMs} ms`);
    return fd;
  } finally {
    closeFd(listenFd);
    unlinkPath(path);
  }
}

/** Something a front-end created and must close when it is done (a memfd, a mapping, an eventfd). */
export interface Owned {
  /** Releases it. */
  close(): void;
}

/** The eventfds of a vring the front-end set up (owned by the setup's `owned` list). */
export interface VringFds {
  /** The front-end signals it to notify the back-end of new buffers. */
  kick: EventFd;
  /** The back-end signals it to interrupt the front-end. */
  call: EventFd;
  /** The back-end signals it when the ring broke (only if asked for). */
  err: EventFd | null;
}

/** Guest memory the front-end shares: a memfd mapped here, and how a guest address reads as one of ours. */
export interface SharedGuestMemory {
  memfd: MemFd;
  mapping: Mapping;
  /** A guest address as this process's (user) address, as the vhost-user ring addresses are given. */
  user(gpa: number): number;
}

/**
 * The steps every vhost-user front-end takes, in the order QEMU takes them: features and protocol features, memory,
 * then each vring. Whatever it creates (memfd, mapping, eventfds) is added to `owned` for the caller to close.
 */
export class FrontendSetup {
  /** The back-end speaks protocol features (rings then start disabled until SET_VRING_ENABLE). */
  protocolOffered = false;
  /** The protocol features both sides agreed on. */
  protocol: Features = 0n;
  /** What the back-end offered (PROTOCOL_FEATURES removed). */
  offered: Features = 0n;
  /** Share memory the back-end can seal against shrinking (false: as DPDK's virtio-user, which cannot be sealed). */
  sealableMemory = true;

  constructor(
    readonly conn: VhostUserConnection,
    readonly owned: Owned[],
  ) {}

  /** Sends a request and waits for its reply. */
  async ask(request: number, payload?: Uint8Array): Promise<VhostUserMessage> {
    this.conn.send(request, payload);
    const reply = await this.conn.receive();
    if (reply === null) {
      throw new VhostUserFrontendError(`the back-end closed the connection after ${requestName(request)}`);
    }
    if (reply.request !== request) {
      throw new VhostUserFrontendError(`asked ${requestName(request)}, got a reply to ${requestName(reply.request)}`);
    }
    return reply;
  }

  /** GET_FEATURES, the protocol features in `protocolWanted` that the back-end has, SET_OWNER. */
  async handshake(protocolWanted: Features): Promise<void> {
    const offered = decodeU64(await this.ask(R.GET_FEATURES));
    this.protocolOffered = hasFeature(offered, VHOST_USER_F_PROTOCOL_FEATURES);
    this.offered = offered & ~bit(VHOST_USER_F_PROTOCOL_FEATURES);
    if (this.protocolOffered) {
      this.protocol = decodeU64(await this.ask(R.GET_PROTOCOL_FEATURES)) & protocolWanted;
      this.conn.send(R.SET_PROTOCOL_FEATURES, encodeU64(this.protocol));
    }
    this.conn.send(R.SET_OWNER);
  }

  /** The features the driver takes of those offered; a packed ring that was asked for must be among them. */
  negotiate(wanted: Features): Features {
    const negotiated = negotiate(this.offered, wanted);
    if (hasFeature(wanted, VIRTIO_F_RING_PACKED) && !hasFeature(negotiated, VIRTIO_F_RING_PACKED)) {
      throw new VhostUserFrontendError('the back-end does not offer RING_PACKED');
    }
    return negotiated;
  }

  /** SET_FEATURES with the negotiated set (plus PROTOCOL_FEATURES when the back-end offered it). */
  setFeatures(negotiated: Features): void {
    const protocol = this.protocolOffered ? bit(VHOST_USER_F_PROTOCOL_FEATURES) : 0n;
    this.conn.send(R.SET_FEATURES, encodeU64(negotiated | protocol));
  }

  /** The whole config space of `size` bytes (GET_CONFIG, protocol feature CONFIG); a refusal or another size is an error. */
  async readConfig(size: number): Promise<Uint8Array> {
    const reply = await this.ask(R.GET_CONFIG, encodeConfig({ offset: 0, flags: 0, bytes: new Uint8Array(size) }));
    // An empty reply is how a back-end refuses the read (its config space is smaller, or it has none).
    if (reply.payload.length === 0)
      throw new VhostUserFrontendError(`the back-end refused GET_CONFIG of ${size} bytes`);
    const c = decodeConfig(reply);
    if (c.size !== size) throw new VhostUserFrontendError(`GET_CONFIG returned ${c.size} bytes, ${size} asked`);
    return c.bytes;
  }

  /** Shares the memory `queues` were planned in (from `guestBase`), sets each up and enables them all. */
  startQueues(
    name: string,
    guestBase: number,
    memoryBytes: number,
    size: number,
    packed: boolean,
    queues: readonly QueuePlan[],
  ): SharedGuestMemory {
    const memory = this.shareMemory(name, guestBase, memoryBytes);
    for (const q of queues) this.setUpVring(q.index, size, packed, q.addresses, memory, q.control);
    this.enableVrings(queues.map((q) => q.index));
    return memory;
  }

  /** Creates `bytes` of guest memory at `guestBase` and gives it to the back-end. */
  shareMemory(name: string, guestBase: number, bytes: number): SharedGuestMemory {
    const memfd = MemFd.create(name, bytes, this.sealableMemory);
    this.owned.push(memfd);
    const mapping = Mapping.map(memfd.fd, bytes);
    this.owned.push(mapping);
    const userBase = Number(mapping.address);
    const memory = { memfd, mapping, user: (gpa: number) => gpa - guestBase + userBase };
    this.reshareMemory(memory, guestBase);
    return memory;
  }

  /** Gives memory shared before to this back-end (one that reconnected knows none of it). */
  reshareMemory(memory: SharedGuestMemory, guestBase: number): void {
    const region = {
      guestAddr: guestBase,
      size: memory.mapping.length,
      userAddr: memory.user(guestBase),
      mmapOffset: 0,
    };
    // With memory slots the table is built region by region, as QEMU does; otherwise in one message.
    if (hasFeature(this.protocol, P.CONFIGURE_MEM_SLOTS)) {
      this.conn.send(R.ADD_MEM_REG, encodeSingleRegion(region), [memory.memfd.fd]);
    } else {
      this.conn.send(R.SET_MEM_TABLE, encodeMemTable([region]), [memory.memfd.fd]);
    }
  }

  /**
   * Sets up vring `index` from its start: size, base, addresses, and new call, kick (and, if `withErr`, error)
   * eventfds. Signal `kick` to notify the back-end; it signals `call` to interrupt. With `control` (a queue control
   * array shared with vqkit's driver workers) the fd numbers are stored there too.
   */
  setUpVring(
    index: number,
    size: number,
    packed: boolean,
    addresses: RingAddresses,
    memory: SharedGuestMemory,
    control?: SharedArrayBuffer,
    withErr = false,
  ): VringFds {
    const call = EventFd.create();
    const kick = EventFd.create();
    this.owned.push(call, kick);
    if (control !== undefined) {
      const ctl = new Int32Array(control);
      Atomics.store(ctl, QueueControl.KICK_FD, kick.fd);
      Atomics.store(ctl, QueueControl.CALL_FD, call.fd);
    }
    let err: EventFd | null = null;
    if (withErr) {
      err = EventFd.create();
      this.owned.push(err);
    }
    const fds = { kick, call, err };
    // Packed: next descriptor 0 with wrap counter 1, for avail (bits 0-15) and used (16-31).
    this.resumeVring(index, size, packed ? 0x80008000 : 0, addresses, memory, fds);
    return fds;
  }

  /**
   * Sets up vring `index` with eventfds it already has, from `base` (SET_VRING_BASE): how a ring is handed to a
   * back-end that reconnected, which then resumes it (split: at the used idx in memory).
   */
  resumeVring(
    index: number,
    size: number,
    base: number,
    addresses: RingAddresses,
    memory: SharedGuestMemory,
    fds: VringFds,
  ): void {
    const { conn } = this;
    const user = memory.user;
    conn.send(R.SET_VRING_NUM, encodeVringState({ index, num: size }));
    conn.send(R.SET_VRING_BASE, encodeVringState({ index, num: base }));
    const a = addresses;
    conn.send(
      R.SET_VRING_ADDR,
      encodeVringAddr({ index, flags: 0, desc: user(a.desc), used: user(a.device), avail: user(a.driver), log: 0n }),
    );
    conn.send(R.SET_VRING_CALL, encodeVringFile(index, true), [fds.call.fd]);
    if (fds.err !== null) conn.send(R.SET_VRING_ERR, encodeVringFile(index, true), [fds.err.fd]);
    conn.send(R.SET_VRING_KICK, encodeVringFile(index, true), [fds.kick.fd]);
  }

  /** With protocol features rings start disabled: enable these. */
  enableVrings(indices: readonly number[]): void {
    if (!this.protocolOffered) return;
    for (const index of indices) this.conn.send(R.SET_VRING_ENABLE, encodeVringState({ index, num: 1 }));
  }
}
