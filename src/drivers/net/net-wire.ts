import { setImmediate as yieldToEvents } from 'node:timers/promises';
import { VhostUserFrontendError } from '../../transport/vhost-user/frontend-setup.js';
import { openNetPort, type NetPort, type NetPortOptions } from './net-port.js';
import { NetPortDriver } from './net-port-driver.js';

/** How each of the two ports is set up (the ring features asked for, queue size, MTU). */
export type NetWireOptions = Omit<NetPortOptions, 'pairs' | 'listen'>;

/** Frames and bytes forwarded in each direction. */
export interface NetWireCounts {
  /** Frames and bytes carried from port 0 to port 1, and from port 1 to port 0. */
  frames: [number, number];
  bytes: [number, number];
}

/**
 * A patch cable between two vhost-user net back-ends: vqkit's net driver on both, every frame received on one sent on
 * the other. A full transmit queue holds frames back in the other's receive queue (nothing is dropped here).
 */
export class NetWire {
  readonly counts: NetWireCounts = { frames: [0, 0], bytes: [0, 0] };
  readonly #drivers: NetPortDriver[];

  private constructor(readonly ports: NetPort[]) {
    this.#drivers = ports.map((p) => NetPortDriver.here(p));
  }

  /** Connects to two net back-ends and starts forwarding frames between them. */
  static async open(paths: [string, string], o: NetWireOptions): Promise<NetWire> {
    const ports: NetPort[] = [];
    try {
      for (const path of paths) ports.push(await openNetPort(path, { ...o, pairs: 1 }));
      const wire = new NetWire(ports);
      wire.#drivers.forEach((d, i) => {
        const problem = d.startControl(o.idleTimeoutMs);
        if (problem !== null) throw new VhostUserFrontendError(`${paths[i]}: ${problem}`);
        d.refill(0);
      });
      return wire;
    } catch (e) {
      ports.forEach((p) => p.close());
      throw e;
    }
  }

  /**
   * Carries frames until `stop()` says so (null) or a back-end goes away or breaks a ring (what happened). Yields to
   * the event loop between rounds so signals and socket events are seen.
   */
  async run(stop: () => boolean): Promise<string | null> {
    const d = this.#drivers;
    let rounds = 0;
    while (!stop()) {
      for (let i = 0; i < 2; i++) {
        if (d[i].stopped) return `port ${i}: the back-end went away`;
        const pair = d[i].pairs[0];
        const broken = pair.rx.error ?? pair.tx.error;
        if (broken !== null) return `port ${i}: ${broken.message}`;
      }
      let moved = 0;
      for (let i = 0; i < 2; i++) {
        const from = d[i].pairs[0];
        const to = d[1 - i].pairs[0];
        let n = 0;
        while (
          to.canSend &&
          from.receive((b, at, length) => {
            to.send(b, at, length);
            this.counts.bytes[i] += length;
          })
        ) {
          n++;
        }
        if (n === 0) continue;
        this.counts.frames[i] += n;
        moved += n;
        d[1 - i].flushTx(0);
        d[i].refill(0);
      }
      if (moved === 0) NetPortDriver.waitAny(d, 20);
      if (moved === 0 || ++rounds % 64 === 0) await yieldToEvents();
    }
    return null;
  }

  /** Stops forwarding and closes both ports. */
  close(): void {
    this.ports.forEach((p) => p.close());
  }
}
