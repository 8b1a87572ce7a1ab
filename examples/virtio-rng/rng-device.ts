// virtio-rng (device id 4, VIRTIO 1.2 section 5.4) built only on vqkit's public API: the device model the
// vhost-user daemon serves. One queue (requestq); the driver posts device-writable buffers and the device fills
// them with random bytes. No config space, no device features: the ring features are all it negotiates.
import {
  describeFeatures,
  RING_FEATURES,
  type DeviceSession,
  type Features,
  type ServedDevice,
  type UnitStart,
} from 'vqkit';

/** What a unit of the rng device is given on its data-plane thread (structured-cloneable). */
export interface RngUnitData {
  start: UnitStart;
  /** Append every byte handed to the guest to this file (for checking what the guest read), or null. */
  recordPath: string | null;
}

export interface RngDeviceOptions {
  /** Ring features offered (default: everything vqkit implements, IN_ORDER and packed included). */
  features?: Features;
  maxQueueSize?: number;
  recordPath?: string | null;
}

export class RngDevice implements ServedDevice {
  readonly kind = 'rng';
  readonly protocolFeatures = 0n;
  readonly queues = 1;
  readonly queueNum = 1;
  readonly features: Features;
  readonly maxQueueSize: number;

  constructor(readonly o: RngDeviceOptions = {}) {
    this.features = o.features ?? RING_FEATURES;
    this.maxQueueSize = o.maxQueueSize ?? 1024;
  }

  describe(features: Features): string {
    return describeFeatures(features);
  }

  config(): null {
    return null;
  }

  openSession(): DeviceSession {
    return {
      // One queue, one unit.
      unitOf: (index) => [index],
      // The unit runs on a data-plane thread, which imports rng-unit.js and calls its openUnit with this data.
      unit: (start) => {
        const data: RngUnitData = { start, recordPath: this.o.recordPath ?? null };
        return { url: new URL('./rng-unit.js', import.meta.url), data };
      },
    };
  }
}
