import { setImmediate as yieldToEvents } from 'node:timers/promises';
import { judgeDriverOn, usedEntriesUnder, type DriverCheck } from '../../conformance/driver-judge.js';
import { VsockEndpoint } from './endpoint.js';
import { UdsBridge } from './uds-bridge.js';
import { SiblingPort, SiblingRouter } from './sibling-router.js';
import { VsockDevice, VsockEvents } from './vsock-device.js';
import { EventFd, drainEventFd, signalEventFd } from '../../os/eventfd.js';
import { ReadinessLoop } from '../../runtime/readiness-loop.js';
import { VIRTIO_VSOCK_F_SEQPACKET, VMADDR_CID_HOST } from '../../spec/vsock.js';
import { hasFeature, type Features } from '../../virtqueue/features.js';
import { createDeviceQueue } from '../../virtqueue/index.js';
import type { UsedEntryPolicy, VirtqueueDevice } from '../../virtqueue/types.js';
import { copyStats, failureText } from '../../transport/local/report.js';
import { mapMemoryTable, type SharedRegion } from '../../transport/vhost-user/memory-table.js';
import { QueueControl } from '../../transport/vhost-user/queue-control.js';
import type { QueueStart, UnitResult } from '../../transport/vhost-user/served-device.js';

export interface VsockWorkerInput {
  /**
   * data: the rx and tx queues and the host side; event: the event queue (QEMU keeps that one itself); release: the
   * front-end has gone, so its host side goes too.
   */
  role: 'data' | 'event' | 'release';
  /** The vhost-user session (one per front-end connection) the unit belongs to. */
  session: string;
  name: string;
  features: Features;
  regions: SharedRegion[];
  /** data: [rx, tx]; event: [event]. */
  queues: QueueStart[];
  guestCid: number;
  /** The guest reaches the other guests of the daemon that share one of these groups (none by default). */
  groups: string[];
  udsPath: string;
  /** Event role: a driver connected before, so tell this one its connections are gone (TRANSPORT_RESET). */
  resetOnStart: boolean;
  /** Under `vq check driver`: judge the driver and play a device behaviour on rx and tx. */
  check?: DriverCheck;
}

/** Errors logged one by one before only every thousandth is. */
const LOGGED_ERRORS = 10;

/**
 * A session's host side: its connections (the endpoint) and host sockets (the bridge). It outlives the data unit,
 * which stops and starts again whenever the front-end stops and resumes the rings (a VM paused, migrated, or
 * snapshotted): the guest's connections must still be there when its rings come back. It goes when the session ends.
 */
interface HostSide {
  endpoint: VsockEndpoint;
  bridge: UdsBridge;
  /** Its place in the sibling router: packets from other guests wait in its inbox. */
  sibling: SiblingPort;
  /** The running data unit's wake-up eventfd (null between units: the endpoint's work waits for the next one). */
  wake: EventFd | null;
}

/** Host sides by session, on the event-loop thread that runs every vsock unit. */
const hostSides = new Map<string, HostSide>();
/** Sessions whose TRANSPORT_RESET has been posted (once per session, not at every restart of the event queue). */
const resetPosted = new Set<string>();
/** Packets between guests: every VM of the daemon runs its vsock units on this thread, so one router serves all. */
const siblings = new SiblingRouter();

/**
 * A vsock unit on the daemon's event-loop thread (it needs node:net for the host sockets): the data queues with the
 * host side, or the event queue. It sleeps on that thread's readiness loop and ends when `stop` aborts.
 */
export function runUnit(data: unknown, log: (line: string) => void, stop: AbortSignal): Promise<UnitResult> {
  const o = data as VsockWorkerInput;
  const named = (line: string): void => log(`${o.name}: ${line}`);
  if (o.role === 'release') return Promise.resolve(release(o.session, named));
  return o.role === 'data' ? runData(o, named, stop) : runEvent(o, named, stop);
}

/** The session has ended: its connections and host sockets close. */
function release(session: string, log: (line: string) => void): UnitResult {
  const side = hostSides.get(session);
  hostSides.delete(session);
  resetPosted.delete(session);
  if (side !== undefined) {
    const open = side.endpoint.connections;
    side.endpoint.resetAll();
    side.bridge.close();
    const reset = siblings.detach(side.sibling.cid);
    if (side.sibling.groups.length > 0)
      log(`no longer reachable by other guests (${reset} of their connections reset)`);
    if (open > 0) log(`${open} connections closed with the session`);
  }
  return { failure: null, lastAvailIdx: [], stats: {} };
}

/** The session's host side, made (and its unix socket bound) when its data unit first starts. */
async function hostSide(o: VsockWorkerInput, log: (line: string) => void): Promise<HostSide> {
  const known = hostSides.get(o.session);
  if (known !== undefined) return known;
  // The running unit's wake-up, for work that appears between its rounds (host sockets, siblings' packets).
  const wakeUnit = (): void => {
    if (side.wake !== null && !side.wake.closed) signalEventFd(side.wake.fd);
  };
  const endpoint = new VsockEndpoint({
    name: `${o.name}.tx`,
    localCid: VMADDR_CID_HOST,
    peerCid: o.guestCid,
    // Seqpacket connections to the host are bridged to SOCK_SEQPACKET unix sockets (uds-bridge.ts).
    seqpacket: hasFeature(o.features, VIRTIO_VSOCK_F_SEQPACKET),
    // Host sockets stir between units too: the next unit finds the work (the endpoint's pending state).
    onWork: wakeUnit,
  });
  const sibling = new SiblingPort(o.guestCid, o.groups, wakeUnit);
  const side: HostSide = { endpoint, bridge: new UdsBridge(endpoint, o.udsPath, log), sibling, wake: null };
  await side.bridge.start();
  hostSides.set(o.session, side);
  siblings.attach(sibling);
  log(
    `guest CID ${o.guestCid}; host programs connect to ${o.udsPath}; guest connections to port P go to ${o.udsPath}_P; ` +
      (o.groups.length > 0
        ? `reaches the guests in group${o.groups.length > 1 ? 's' : ''} ${o.groups.join(', ')}`
        : 'in no group: reaches no other guest'),
  );
  return side;
}

/**
 * The vsock device's data queues and its host side (the unix-socket bridge) in one worker, driven by the kicks, the
 * host sockets and a wake-up eventfd the endpoint signals when it has something to send.
 */
async function runData(o: VsockWorkerInput, log: (line: string) => void, stop: AbortSignal): Promise<UnitResult> {
  const { memory, mappings } = mapMemoryTable(o.regions);
  const ctls = o.queues.map((q) => new Int32Array(q.control));
  const stopped = (): boolean => stop.aborted || ctls.some((c) => Atomics.load(c, QueueControl.STOP) !== 0);
  const wake = EventFd.create();
  const open = (i: number, name: string, usedEntries: UsedEntryPolicy) =>
    judgeDriverOn(
      createDeviceQueue({
        name: `${o.name}.${name}`,
        size: o.queues[i].size,
        features: o.features,
        memory,
        addresses: o.queues[i].addresses,
        usedEntries: usedEntriesUnder(o.check, usedEntries),
        availBase: o.queues[i].availBase,
      }),
      o.check,
      o.queues[i].index,
    );
  let side: HostSide | null = null;
  // Where each ring stands, for GET_VRING_BASE, whatever happens from here on.
  let queues: VirtqueueDevice[] = [];
  try {
    // Receive buffers come back partly written: one used entry each. Transmit buffers are consumed whole.
    const rx = open(0, 'rx', 'per-buffer');
    const tx = open(1, 'tx', 'batched');
    queues = [rx, tx];
    side = await hostSide(o, log);
    side.wake = wake;
    const { endpoint, bridge } = side;
    const seqpacket = hasFeature(o.features, VIRTIO_VSOCK_F_SEQPACKET);
    const device = new VsockDevice(rx, tx, endpoint, { router: siblings, port: side.sibling, seqpacket });

    let errorsSeen = 0;
    const noteErrors = (): void => {
      const n = device.stats.bufferErrors + endpoint.stats.errors + side!.sibling.errors;
      if (n === errorsSeen) return;
      const last = endpoint.lastError ?? device.lastError ?? side!.sibling.lastError;
      if (last !== null && (errorsSeen < LOGGED_ERRORS || Math.floor(n / 1000) !== Math.floor(errorsSeen / 1000))) {
        log(`packet refused: ${last.message} (${n} so far)`);
      }
      errorsSeen = n;
    };
    const kicks = ctls.map((c) => Atomics.load(c, QueueControl.KICK_FD)).filter((fd) => fd >= 0);
    queues.forEach((q) => q.disableNotifications());
    while (!stopped()) {
      let work = device.transmit();
      work += device.receive();
      queues.forEach((q, i) => {
        if (q.flush()) signalEventFd(Atomics.load(ctls[i], QueueControl.CALL_FD));
      });
      bridge.afterRound();
      noteErrors();
      if (queues.some((q) => q.error !== null)) break;
      if (work > 0) {
        // Let the host sockets run between rounds.
        await yieldToEvents();
        continue;
      }
      // Idle: ask for kicks where buffers would bring work (transmit always; receive only with something to
      // deliver), each with its re-check; then sleep on them, the host side's wake-ups and the clock.
      // (No transmit kicks while replies back up: receive buffers are what can move then.)
      const waitOn = device.transmitBlocked ? [] : [tx];
      if (device.pending) waitOn.push(rx);
      if (!waitOn.every((q) => q.enableNotifications())) {
        waitOn.forEach((q) => q.disableNotifications());
        await yieldToEvents();
        continue;
      }
      if (await ReadinessLoop.shared().readable([...kicks, wake.fd], stop)) {
        for (const fd of kicks) drainEventFd(fd);
        drainEventFd(wake.fd);
      }
      queues.forEach((q) => q.disableNotifications());
    }
    queues.forEach((q) => q.flush());
    noteErrors();
    log(
      `stopped: ${device.stats.txPackets} packets from the guest, ${device.stats.rxPackets} to it; ` +
        `${endpoint.stats.bytesIn} bytes in, ${endpoint.stats.bytesOut} out; ${endpoint.connections} connections open`,
    );
    return {
      failure: failureText(rx.error ?? tx.error),
      lastAvailIdx: queues.map((q) => q.lastAvailIdx),
      stats: { vsock: { ...copyStats(device.stats), ...copyStats(endpoint.stats) } },
    };
  } catch (e) {
    // A failure of ours (a host socket's handler, say) ends the unit, but the rings still report where they
    // stopped: falling back to where they started would make a resumed driver's buffers be read twice. The host
    // side is suspect after it and goes: its connections end (host sockets closed, the guest's reset).
    if (side !== null) release(o.session, log);
    if (queues.length === 0) throw e;
    log(`failed: ${(e as Error).stack ?? String(e)}`);
    return {
      failure: `internal error: ${(e as Error).message}`,
      lastAvailIdx: queues.map((q) => q.lastAvailIdx),
      stats: {},
    };
  } finally {
    if (side !== null) side.wake = null;
    wake.close();
    mappings.forEach((m) => m.close());
  }
}

/** The event queue: a TRANSPORT_RESET for a driver that is not the first, then nothing until stopped. */
async function runEvent(o: VsockWorkerInput, log: (line: string) => void, stop: AbortSignal): Promise<UnitResult> {
  const { memory, mappings } = mapMemoryTable(o.regions);
  const q = o.queues[0];
  const ctl = new Int32Array(q.control);
  try {
    const event = createDeviceQueue({
      name: `${o.name}.event`,
      size: q.size,
      features: o.features,
      memory,
      addresses: q.addresses,
      usedEntries: 'per-buffer',
      availBase: q.availBase,
    });
    const events = new VsockEvents(event);
    if (o.resetOnStart && !resetPosted.has(o.session)) {
      resetPosted.add(o.session);
      events.postTransportReset();
    }
    const kick = Atomics.load(ctl, QueueControl.KICK_FD);
    while (!stop.aborted && Atomics.load(ctl, QueueControl.STOP) === 0 && event.error === null) {
      events.post();
      if (event.flush()) signalEventFd(Atomics.load(ctl, QueueControl.CALL_FD));
      if (events.pending && !event.enableNotifications()) continue;
      if (await ReadinessLoop.shared().readable([kick], stop)) drainEventFd(kick);
      event.disableNotifications();
    }
    if (events.posted > 0) log(`TRANSPORT_RESET posted: connections of an earlier driver are gone`);
    if (events.lastError !== null) log(`event buffer refused: ${events.lastError.message}`);
    return { failure: failureText(event.error), lastAvailIdx: [event.lastAvailIdx], stats: { events: events.posted } };
  } finally {
    mappings.forEach((m) => m.close());
  }
}
