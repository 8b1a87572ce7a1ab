import {
  ETH_ALEN,
  VIRTIO_NET_CTRL_HDR_SIZE,
  VIRTIO_NET_CTRL_MAC,
  VIRTIO_NET_CTRL_MAC_ADDR_SET,
  VIRTIO_NET_CTRL_MAC_TABLE_SET,
  VIRTIO_NET_CTRL_MQ,
  VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN,
  VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
  VIRTIO_NET_CTRL_RX,
  VIRTIO_NET_CTRL_RX_ALLMULTI,
  VIRTIO_NET_CTRL_RX_PROMISC,
  VIRTIO_NET_ERR,
  VIRTIO_NET_F_CTRL_MAC_ADDR,
  VIRTIO_NET_F_CTRL_RX,
  VIRTIO_NET_F_MQ,
  VIRTIO_NET_OK,
} from '../../spec/net.js';
import type { Chain } from '../../virtqueue/chain.js';
import { hasFeature } from '../../virtqueue/features.js';
import type { VirtqueueDevice } from '../../virtqueue/types.js';
import { formatMac } from './frame.js';
import type { NetState } from './net-state.js';

/** A control command the device refused (answered VIRTIO_NET_ERR): what and why. */
export class NetControlError extends Error {
  override readonly name = 'NetControlError';
}

export interface NetControlStats {
  commands: number;
  refused: number;
}

/**
 * The device side of the virtio-net control queue: RX mode (promiscuous, all-multicast), the MAC filter table and
 * address, and the number of queue pairs in use. Each command is answered with an ack byte; a malformed or
 * unsupported one gets VIRTIO_NET_ERR and is remembered in lastError, and the queue goes on.
 */
export class NetControl {
  readonly stats: NetControlStats = { commands: 0, refused: 0 };
  lastError: NetControlError | null = null;

  constructor(
    readonly queue: VirtqueueDevice,
    readonly state: NetState,
    readonly maxPairs: number,
    readonly log: (line: string) => void = () => {},
  ) {}

  /** Answers every available command; returns how many. */
  serve(): number {
    let n = 0;
    for (let chain = this.queue.pop(); chain !== null; chain = this.queue.pop()) {
      n++;
      this.stats.commands++;
      let ack = VIRTIO_NET_OK;
      try {
        this.#execute(chain);
      } catch (e) {
        if (!(e instanceof NetControlError)) throw e;
        ack = VIRTIO_NET_ERR;
        this.stats.refused++;
        this.lastError = e;
        this.log(`control command refused: ${e.message}`);
      }
      // The ack is the last writable byte the driver gave; without one the command cannot be answered.
      if (chain.writableLength >= 1) {
        const i = chain.segCount - 1;
        chain.bytes[i][chain.offsets[i] + chain.lengths[i] - 1] = ack;
        this.queue.complete(chain, 1);
      } else {
        this.queue.complete(chain, 0);
      }
    }
    return n;
  }

  #execute(chain: Chain): void {
    if (chain.writableLength < 1) throw new NetControlError(`command ${chain.id} has no writable ack byte`);
    const bytes = chain.readAll();
    if (bytes.length < VIRTIO_NET_CTRL_HDR_SIZE) {
      throw new NetControlError(`a ${bytes.length}-byte command is shorter than its 2-byte header`);
    }
    const cls = bytes[0];
    const cmd = bytes[1];
    const data = bytes.subarray(VIRTIO_NET_CTRL_HDR_SIZE);
    const features = this.queue.features;
    const want = (bit: number, name: string): void => {
      if (!hasFeature(features, bit)) throw new NetControlError(`class ${cls} command ${cmd} needs ${name}`);
    };
    const length = (n: number): void => {
      if (data.length !== n) {
        throw new NetControlError(`class ${cls} command ${cmd} carries ${data.length} bytes, expected ${n}`);
      }
    };
    if (cls === VIRTIO_NET_CTRL_RX && (cmd === VIRTIO_NET_CTRL_RX_PROMISC || cmd === VIRTIO_NET_CTRL_RX_ALLMULTI)) {
      want(VIRTIO_NET_F_CTRL_RX, 'VIRTIO_NET_F_CTRL_RX');
      length(1);
      if (data[0] > 1) throw new NetControlError(`RX mode value ${data[0]} is not 0 or 1`);
      if (cmd === VIRTIO_NET_CTRL_RX_PROMISC) this.state.promisc = data[0] === 1;
      else this.state.allmulti = data[0] === 1;
      this.log(`${cmd === VIRTIO_NET_CTRL_RX_PROMISC ? 'promiscuous' : 'all-multicast'} ${data[0] ? 'on' : 'off'}`);
    } else if (cls === VIRTIO_NET_CTRL_MAC && cmd === VIRTIO_NET_CTRL_MAC_TABLE_SET) {
      want(VIRTIO_NET_F_CTRL_RX, 'VIRTIO_NET_F_CTRL_RX');
      const [unicast, at] = readMacTable(data, 0, 'unicast');
      const [multicast, end] = readMacTable(data, at, 'multicast');
      if (end !== data.length)
        throw new NetControlError(`MAC_TABLE_SET has ${data.length - end} bytes after its tables`);
      this.state.setTable(unicast, multicast);
      this.log(`MAC filter: ${unicast.length} unicast, ${multicast.length} multicast`);
    } else if (cls === VIRTIO_NET_CTRL_MAC && cmd === VIRTIO_NET_CTRL_MAC_ADDR_SET) {
      want(VIRTIO_NET_F_CTRL_MAC_ADDR, 'VIRTIO_NET_F_CTRL_MAC_ADDR');
      length(ETH_ALEN);
      this.state.setMac(data);
      this.log(`MAC address set to ${formatMac(data)}`);
    } else if (cls === VIRTIO_NET_CTRL_MQ && cmd === VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET) {
      want(VIRTIO_NET_F_MQ, 'VIRTIO_NET_F_MQ');
      length(2);
      const pairs = data[0] | (data[1] << 8);
      if (pairs < VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN || pairs > this.maxPairs) {
        throw new NetControlError(`${pairs} queue pairs asked; this device has 1..${this.maxPairs}`);
      }
      this.state.pairs = pairs;
      this.log(`queue pairs in use: ${pairs}`);
    } else {
      throw new NetControlError(`class ${cls} command ${cmd} is not supported`);
    }
  }
}

/** One MAC_TABLE_SET table: entries (u32) then entries * 6 bytes. Returns the addresses and where the next starts. */
function readMacTable(data: Uint8Array, at: number, what: string): [Uint8Array[], number] {
  if (data.length < at + 4) throw new NetControlError(`MAC_TABLE_SET: the ${what} table has no entry count`);
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const n = v.getUint32(at, true);
  const end = at + 4 + n * ETH_ALEN;
  if (n > 0xffff || end > data.length) {
    throw new NetControlError(`MAC_TABLE_SET: the ${what} table claims ${n} entries in ${data.length - at - 4} bytes`);
  }
  const macs: Uint8Array[] = [];
  for (let i = 0; i < n; i++) macs.push(data.slice(at + 4 + i * ETH_ALEN, at + 4 + (i + 1) * ETH_ALEN));
  return [macs, end];
}
