import { GUEST, GuardedRing, MEMORY_BYTES } from './guarded-memory.js';
import {
  VIRTIO_F_EVENT_IDX,
  VIRTIO_F_INDIRECT_DESC,
  VIRTIO_F_IN_ORDER,
  VIRTIO_F_VERSION_1,
} from '../../src/spec/features.js';
import { featureMask, type Features } from '../../src/virtqueue/features.js';
import { SplitDevice } from '../../src/virtqueue/split/split-device.js';
import { SplitDriver } from '../../src/virtqueue/split/split-driver.js';
import { splitRingLayout } from '../../src/virtqueue/split/layout.js';
import type { RingAddresses, UsedEntryPolicy } from '../../src/virtqueue/types.js';

export { GUEST, MEMORY_BYTES };

export interface FeatureFlags {
  inOrder?: boolean;
  indirect?: boolean;
  eventIdx?: boolean;
}

export function features(f: FeatureFlags = {}): Features {
  const bits = [VIRTIO_F_VERSION_1];
  if (f.inOrder) bits.push(VIRTIO_F_IN_ORDER);
  if (f.indirect) bits.push(VIRTIO_F_INDIRECT_DESC);
  if (f.eventIdx) bits.push(VIRTIO_F_EVENT_IDX);
  return featureMask(...bits);
}

/**
 * A split ring in guarded guest memory for unit tests, with raw writers for every field so a test can play a buggy
 * or hostile peer (after rust-vmm virtio-queue's mock module).
 */
export class TestRing extends GuardedRing {
  readonly addresses: RingAddresses;
  readonly features: Features;

  constructor(
    readonly size: number,
    flags: FeatureFlags = {},
    memoryBytes = MEMORY_BYTES,
  ) {
    super(memoryBytes);
    this.features = features(flags);
    this.addresses = splitRingLayout(GUEST, size).addresses;
  }

  device(usedEntries: UsedEntryPolicy = 'batched'): SplitDevice {
    return new SplitDevice(this.deviceConfig(usedEntries));
  }

  driver<T>(indirectMax = 8): SplitDriver<T> {
    return new SplitDriver<T>(this.driverConfig(indirectMax));
  }

  /** A raw descriptor at `addr` (a table slot or an indirect table entry). addr64 may be any 64-bit value. */
  writeDescAt(at: number, addr: bigint | number, len: number, flags: number, next: number): void {
    const o = this.off(at);
    this.view.setBigUint64(o, BigInt(addr), true);
    this.view.setUint32(o + 8, len, true);
    this.view.setUint16(o + 12, flags, true);
    this.view.setUint16(o + 14, next, true);
  }

  writeDesc(i: number, addr: bigint | number, len: number, flags: number, next = 0): void {
    this.writeDescAt(this.addresses.desc + 16 * i, addr, len, flags, next);
  }

  writeTableDesc(k: number, i: number, addr: bigint | number, len: number, flags: number, next = 0): void {
    this.writeDescAt(this.tableAddr(k) + 16 * i, addr, len, flags, next);
  }

  availIdx(): number {
    return this.view.getUint16(this.off(this.addresses.driver) + 2, true);
  }

  setAvailIdx(idx: number): void {
    this.view.setUint16(this.off(this.addresses.driver) + 2, idx & 0xffff, true);
  }

  /** Appends heads to the avail ring and publishes them. */
  publish(...heads: number[]): void {
    let idx = this.availIdx();
    for (const h of heads) {
      this.view.setUint16(this.off(this.addresses.driver) + 4 + 2 * (idx % this.size), h, true);
      idx++;
    }
    this.setAvailIdx(idx);
  }

  usedIdx(): number {
    return this.view.getUint16(this.off(this.addresses.device) + 2, true);
  }

  setUsedIdx(idx: number): void {
    this.view.setUint16(this.off(this.addresses.device) + 2, idx & 0xffff, true);
  }

  usedEntry(slot: number): { id: number; len: number } {
    const o = this.off(this.addresses.device) + 4 + 8 * (slot % this.size);
    return { id: this.view.getUint32(o, true), len: this.view.getUint32(o + 4, true) };
  }

  writeUsedEntry(slot: number, id: number, len: number): void {
    const o = this.off(this.addresses.device) + 4 + 8 * (slot % this.size);
    this.view.setUint32(o, id, true);
    this.view.setUint32(o + 4, len, true);
  }

  /** Raw desc fields as the driver wrote them. */
  readDesc(i: number): { addr: number; len: number; flags: number; next: number } {
    return this.readDescAt(this.addresses.desc + 16 * i);
  }

  readDescAt(at: number): { addr: number; len: number; flags: number; next: number } {
    const o = this.off(at);
    return {
      addr: Number(this.view.getBigUint64(o, true)),
      len: this.view.getUint32(o + 8, true),
      flags: this.view.getUint16(o + 12, true),
      next: this.view.getUint16(o + 14, true),
    };
  }

  availEntry(i: number): number {
    return this.view.getUint16(this.off(this.addresses.driver) + 4 + 2 * (i % this.size), true);
  }

  u16(addr: number): number {
    return this.view.getUint16(this.off(addr), true);
  }

  setU16(addr: number, v: number): void {
    this.view.setUint16(this.off(addr), v, true);
  }
}
