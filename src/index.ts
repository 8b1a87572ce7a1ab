/**
 * vqkit: virtio virtqueues with VIRTIO_F_IN_ORDER, in TypeScript.
 *
 * The public API, in four parts:
 *
 * - **The virtqueue engine**: the split and packed rings, driver and device sides, over bounds-checked guest memory,
 *   with IN_ORDER, INDIRECT_DESC and EVENT_IDX as negotiated. It runs anywhere JavaScript does.
 * - **The device model**: what a vhost-user back-end serves ({@link ServedDevice}), how its queues run on the
 *   daemon's data-plane threads ({@link DataPlaneUnit}, {@link openQueueUnit}), and the daemon itself
 *   ({@link VhostUserDaemon}).
 * - **The vhost-user front-end**: the steps a driver process takes to share memory with a back-end and set up its
 *   rings ({@link FrontendSetup}).
 * - **vqkit's own devices and drivers**: test, net and vsock.
 *
 * What is not exported here is internal and may change without notice: the ring parsers, the vhost-user message
 * codec, the readiness loop and thread pool internals, the system-call bindings (os/), the benchmark harness and
 * the command line. See docs/API.md.
 *
 * @packageDocumentation
 */

// The virtqueue engine.
export {
  createDeviceQueue,
  createDriverQueue,
  PackedDevice,
  PackedDriver,
  SplitDevice,
  SplitDriver,
  splitRingLayout,
  packedRingLayout,
} from './virtqueue/index.js';
export type { SplitDeviceConfig } from './virtqueue/split/split-device.js';
export type { PackedDeviceConfig } from './virtqueue/packed/packed-device.js';
export { BufferBurst } from './virtqueue/buffer-burst.js';
export { Chain } from './virtqueue/chain.js';
export { ScatterList } from './virtqueue/scatter-list.js';
export { VirtqueueError, VirtqueueErrorCode, VirtqueueUsageError } from './virtqueue/errors.js';
export { RingSetupError } from './virtqueue/ring-views.js';
export {
  bit,
  describeFeatures,
  featureMask,
  FeatureNegotiationError,
  hasFeature,
  negotiate,
  RING_FEATURES,
  ringFeatures,
  ringWants,
} from './virtqueue/features.js';
export type { Features, RingFeatures, RingWants } from './virtqueue/features.js';
export type {
  DeviceQueueConfig,
  DeviceStats,
  DriverQueueConfig,
  DriverStats,
  IndirectChoice,
  QueueConfig,
  RingAddresses,
  UsedEntryPolicy,
  VirtqueueDevice,
  VirtqueueDriver,
} from './virtqueue/types.js';
export * from './spec/features.js';
export { VIRTIO_ID_NET } from './spec/net.js';
export {
  VIRTIO_ID_VSOCK,
  VIRTIO_VSOCK_F_SEQPACKET,
  VIRTIO_VSOCK_TYPE_SEQPACKET,
  VIRTIO_VSOCK_TYPE_STREAM,
} from './spec/vsock.js';

// Guest memory.
export { GuestMemory, GuestMemoryError, MAX_SAFE_ADDRESS, MemoryFault, MemoryRegion } from './memory/guest-memory.js';
export type { RegionInit } from './memory/guest-memory.js';

// The device model, the vhost-user back-end and its daemon.
export type {
  DeviceSession,
  QueueStart,
  ServedDevice,
  UnitResult,
  UnitStart,
} from './transport/vhost-user/served-device.js';
export type { SharedRegion } from './transport/vhost-user/memory-table.js';
export type { MemoryRegion as VhostUserMemoryRegion } from './transport/vhost-user/messages.js';
export type { DataPlaneUnit, UnitModule } from './runtime/data-plane.js';
export type { AsyncUnitModule } from './runtime/loop-thread-worker.js';
export { openQueueUnit } from './transport/vhost-user/queue-unit.js';
export type { QueueHandler, QueueUnitOptions } from './transport/vhost-user/queue-unit.js';
export { VhostUserDaemon, defaultControlPath } from './transport/vhost-user/daemon.js';
export type { DaemonOptions, DaemonPort, DaemonStatus, Isolation } from './transport/vhost-user/daemon.js';
export { VhostUserBackend, BACKEND_PROTOCOL_FEATURES } from './transport/vhost-user/backend.js';
export type { BackendOptions, PortStatus } from './transport/vhost-user/backend.js';
export type { SessionChild } from './runtime/session-child.js';
export { ThreadPool } from './runtime/thread-pool.js';
export type { PooledUnit, ThreadPoolOptions } from './runtime/thread-pool.js';
export { askControl, ControlError } from './runtime/control-server.js';
export { VhostUserProtocolError } from './transport/vhost-user/messages.js';
export type { ProtocolErrorCode } from './transport/vhost-user/messages.js';
export { VhostUserRequest, VhostUserProtocolFeature } from './spec/vhost-user.js';

// The vhost-user front-end.
export { VhostUserConnection } from './transport/vhost-user/connection.js';
export { connectBackend, FrontendSetup, VhostUserFrontendError } from './transport/vhost-user/frontend-setup.js';
export type { Owned, SharedGuestMemory, VringFds } from './transport/vhost-user/frontend-setup.js';
export type { VhostUserMessage } from './transport/vhost-user/messages.js';
export { ReadinessLoop } from './runtime/readiness-loop.js';
export type { ReadyHandler, Watch } from './runtime/readiness-loop.js';
export { MemFd } from './os/memfd.js';
export { Mapping } from './os/mapping.js';
export { EventFd } from './os/eventfd.js';

// vqkit's devices.
export { TestService } from './devices/test/test-service.js';
export type { TestServiceOptions } from './devices/test/test-service.js';
export { TestDevice, TestDataError } from './devices/test/test-device.js';
export type { CompletionPolicy, TestDeviceOptions, TestDeviceStats } from './devices/test/test-device.js';
export { NetService, NetSwitch } from './devices/net/net-service.js';
export type { NetBackend, NetServiceOptions, RxUsedEntries } from './devices/net/net-service.js';
export { VsockService } from './devices/vsock/vsock-service.js';
export type { VsockServiceOptions } from './devices/vsock/vsock-service.js';

// vqkit's drivers.
export { BufferSlot, TestDriver, TestVerifyError } from './drivers/test/test-driver.js';
export type { IndirectMode, TestDriverOptions, TestDriverStats } from './drivers/test/test-driver.js';
export { openNetPort } from './drivers/net/net-port.js';
export type { NetPort, NetPortOptions, NetPortPlan } from './drivers/net/net-port.js';
export type { QueuePlan } from './transport/vhost-user/guest-plan.js';
export { runNetTraffic } from './drivers/net/net-frontend.js';
export type { NetTrafficOptions, NetTrafficRun } from './drivers/net/net-frontend.js';
export type { NetTrafficResult, PairTraffic, TrafficShape } from './drivers/net/net-traffic-worker.js';
export { NetWire } from './drivers/net/net-wire.js';
export type { NetWireCounts, NetWireOptions } from './drivers/net/net-wire.js';
export { VsockPort } from './drivers/vsock/vsock-port.js';
export type { VsockPortOptions } from './drivers/vsock/vsock-port.js';
export { VsockConnection, VsockEndpoint } from './devices/vsock/endpoint.js';
export { VsockPacketError } from './devices/vsock/packet.js';
export type { VsockErrorCode, VsockHeader } from './devices/vsock/packet.js';
export type {
  VsockCloseReason,
  VsockConnState,
  VsockEndpointOptions,
  VsockEndpointStats,
} from './devices/vsock/endpoint.js';

// `vq check`: judge a peer's virtqueue behaviour, as a device or as a driver (docs/conformance.md).
export { checkDevice } from './harness/check-device.js';
export type { CheckDeviceOptions } from './harness/check-device.js';
export { checkDriver, CheckSetupError } from './harness/check-driver.js';
export type { CheckDriverOptions } from './harness/check-driver.js';
export { RULES } from './conformance/rules.js';
export type { Rule, RuleId, RuleLevel, RuleRole, KnownRule } from './conformance/rules.js';
export { VerdictBoard } from './conformance/board.js';
export type { Offence } from './conformance/board.js';
export { DeviceJudge } from './conformance/device-judge.js';
export { DriverJudge, BEHAVIOURS, CheckCounter, behaviourNames, judgeDriverOn } from './conformance/driver-judge.js';
export type { Behaviour, DriverCheck } from './conformance/driver-judge.js';
export { reportText, reportMarkdown } from './conformance/report.js';
export type { CheckReport, InteropFinding, RuleVerdict, Verdict } from './conformance/report.js';
