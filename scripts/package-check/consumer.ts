// A consumer of the packed vqkit tarball: type-checked against the shipped .d.ts, then run. It drives one buffer
// through each ring layout with IN_ORDER, from the driver's add to the device's complete and back.
import {
  createDeviceQueue,
  createDriverQueue,
  describeFeatures,
  GuestMemory,
  negotiate,
  openQueueUnit,
  packedRingLayout,
  RING_FEATURES,
  ringWants,
  ScatterList,
  splitRingLayout,
  VirtqueueError,
  type DataPlaneUnit,
  type ServedDevice,
  type UnitStart,
} from 'vqkit';

for (const ring of ['split', 'packed'] as const) {
  const features = negotiate(RING_FEATURES, ringWants({ ring, inOrder: true, indirect: false, eventIdx: true }));
  const memory = GuestMemory.shared(0, 1 << 16);
  const { addresses, bytes } = (ring === 'split' ? splitRingLayout : packedRingLayout)(0, 8);
  const config = { name: `${ring}.0`, size: 8, features, memory, addresses };
  const device = createDeviceQueue(config);
  const driver = createDriverQueue<string>(config);
  const sg = new ScatterList().addReadable(bytes + 64, 4).addWritable(bytes + 128, 16);
  memory.regions[0].bytes.set([1, 2, 3, 4], bytes + 64);
  driver.add(sg, 'token', false);
  driver.kickPrepare();
  const chain = device.pop();
  if (chain === null) throw new Error('the device saw no chain');
  const written = chain.write(Uint8Array.from(chain.readAll(), (b) => b * 10));
  device.complete(chain, written);
  device.flush();
  const token = driver.takeUsed();
  const out = memory.regions[0].bytes.subarray(bytes + 128, bytes + 128 + driver.usedLen);
  console.log(`${ring}: ${describeFeatures(features)}: ${token} came back with [${out.join(',')}]`);
  if (token !== 'token' || out.join(',') !== '10,20,30,40') throw new Error(`${ring}: wrong result`);
}

// The device-model types a device author writes against.
export const unitOf = (start: UnitStart): DataPlaneUnit => openQueueUnit(start, () => ({ serve: () => 0 }));
export type Device = ServedDevice;
console.log(`errors are typed: ${new VirtqueueError('AVAIL_IDX_AHEAD', 'q', 0, 1, 'example').code}`);
