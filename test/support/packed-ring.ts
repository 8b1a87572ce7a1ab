import { VIRTIO_F_RING_PACKED } from '../../src/spec/features.js';
import { VIRTQ_DESC_F_AVAIL, VIRTQ_DESC_F_USED } from '../../src/spec/packed.js';
import { bit, type Features } from '../../src/virtqueue/features.js';
import { PackedDevice } from '../../src/virtqueue/packed/packed-device.js';
import { PackedDriver } from '../../src/virtqueue/packed/packed-driver.js';
import { packedRingLayout } from '../../src/virtqueue/packed/layout.js';
import type { RingAddresses, UsedEntryPolicy } from '../../src/virtqueue/types.js';
import { GUEST, GuardedRing, MEMORY_BYTES } from './guarded-memory.js';
import { features, type FeatureFlags } from './split-ring.js';

/** A packed ring in guest memory between guard areas, with raw writers for playing a buggy or hostile peer. */
export class PackedTestRing extends GuardedRing {
  readonly addresses: RingAddresses;
  readonly features: Features;

  constructor(
    readonly size: number,
    flags: FeatureFlags = {},
    memoryBytes = MEMORY_BYTES,
  ) {
    super(memoryBytes);
    this.features = features(flags) | bit(VIRTIO_F_RING_PACKED);
    this.addresses = packedRingLayout(GUEST, size).addresses;
  }

  /** `readOnlyIndirectTables`: as a net transmit queue is made (DeviceQueueConfig). */
  device(usedEntries: UsedEntryPolicy = 'batched', readOnlyIndirectTables = false): PackedDevice {
    return new PackedDevice({ ...this.deviceConfig(usedEntries), readOnlyIndirectTables });
  }

  driver<T>(indirectMax = 8): PackedDriver<T> {
    return new PackedDriver<T>(this.driverConfig(indirectMax));
  }

  writeDescAt(at: number, addr: bigint | number, len: number, id: number, flags: number): void {
    const o = this.off(at);
    this.view.setBigUint64(o, BigInt(addr), true);
    this.view.setUint32(o + 8, len, true);
    this.view.setUint16(o + 12, id, true);
    this.view.setUint16(o + 14, flags, true);
  }

  /** A raw descriptor in the ring; `flags` as given (use avail() for the AVAIL/USED bits of a lap). */
  writeDesc(pos: number, addr: bigint | number, len: number, id: number, flags: number): void {
    this.writeDescAt(this.addresses.desc + 16 * pos, addr, len, id, flags);
  }

  /** AVAIL/USED bits that make a descriptor available in a lap of driver wrap counter `wrap`. */
  avail(wrap = 1): number {
    return wrap ? VIRTQ_DESC_F_AVAIL : VIRTQ_DESC_F_USED;
  }

  /** AVAIL/USED bits of a used descriptor in a lap of device wrap counter `wrap`. */
  used(wrap = 1): number {
    return wrap ? VIRTQ_DESC_F_AVAIL | VIRTQ_DESC_F_USED : 0;
  }

  writeTableDesc(k: number, i: number, addr: bigint | number, len: number, flags: number): void {
    this.writeDescAt(this.tableAddr(k) + 16 * i, addr, len, 0, flags);
  }

  readDesc(pos: number): { addr: number; len: number; id: number; flags: number } {
    const o = this.off(this.addresses.desc + 16 * pos);
    return {
      addr: Number(this.view.getBigUint64(o, true)),
      len: this.view.getUint32(o + 8, true),
      id: this.view.getUint16(o + 12, true),
      flags: this.view.getUint16(o + 14, true),
    };
  }

  /** [off_wrap, flags] of the driver (used notifications) or device (available notifications) structure. */
  event(which: 'driver' | 'device'): { offWrap: number; flags: number } {
    const o = this.off(which === 'driver' ? this.addresses.driver : this.addresses.device);
    return { offWrap: this.view.getUint16(o, true), flags: this.view.getUint16(o + 2, true) };
  }
}
