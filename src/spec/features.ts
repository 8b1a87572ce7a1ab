/** Reserved (device-independent) feature bits, VIRTIO 1.2 section 6 "Reserved Feature Bits". INDIRECT_DESC: the driver may use indirect descriptor tables (bit 28). */
export const VIRTIO_F_INDIRECT_DESC = 28;
/** Notifications are suppressed by event indices (used_event, avail_event) instead of flags (bit 29). */
export const VIRTIO_F_EVENT_IDX = 29;
/** Modern virtio (VIRTIO 1.0 and later); vqkit requires it (bit 32). */
export const VIRTIO_F_VERSION_1 = 32;
/** The device reaches memory through a platform IOMMU (bit 33). */
export const VIRTIO_F_ACCESS_PLATFORM = 33;
/** The packed ring layout (bit 34). */
export const VIRTIO_F_RING_PACKED = 34;
/** The device uses buffers in the order they were made available (bit 35). */
export const VIRTIO_F_IN_ORDER = 35;
/** Memory accesses are ordered as the platform orders them (bit 36). */
export const VIRTIO_F_ORDER_PLATFORM = 36;
/** The device supports single root I/O virtualization (bit 37). */
export const VIRTIO_F_SR_IOV = 37;
/** The driver sends extra data with its notifications (bit 38). */
export const VIRTIO_F_NOTIFICATION_DATA = 38;
/** The driver uses a device-provided value in its notifications (bit 39). */
export const VIRTIO_F_NOTIF_CONFIG_DATA = 39;
/** The driver may reset a single queue (bit 40). */
export const VIRTIO_F_RING_RESET = 40;

/** Device status bits, VIRTIO 1.2 section 2.1. ACKNOWLEDGE: the guest has noticed the device. */
export const VIRTIO_CONFIG_S_ACKNOWLEDGE = 1;
/** Device status: the guest knows how to drive the device. */
export const VIRTIO_CONFIG_S_DRIVER = 2;
/** Device status: the driver is set up and ready. */
export const VIRTIO_CONFIG_S_DRIVER_OK = 4;
/** Device status: the driver accepted the features. */
export const VIRTIO_CONFIG_S_FEATURES_OK = 8;
/** Device status: the device hit an error it cannot recover from without a reset. */
export const VIRTIO_CONFIG_S_DEVICE_NEEDS_RESET = 64;
/** Device status: the driver gave up on the device. */
export const VIRTIO_CONFIG_S_FAILED = 128;

/** Names for logs: bit number -> spec name. */
export const FEATURE_NAMES: ReadonlyMap<number, string> = new Map([
  [VIRTIO_F_INDIRECT_DESC, 'INDIRECT_DESC'],
  [VIRTIO_F_EVENT_IDX, 'EVENT_IDX'],
  [VIRTIO_F_VERSION_1, 'VERSION_1'],
  [VIRTIO_F_ACCESS_PLATFORM, 'ACCESS_PLATFORM'],
  [VIRTIO_F_RING_PACKED, 'RING_PACKED'],
  [VIRTIO_F_IN_ORDER, 'IN_ORDER'],
  [VIRTIO_F_ORDER_PLATFORM, 'ORDER_PLATFORM'],
  [VIRTIO_F_SR_IOV, 'SR_IOV'],
  [VIRTIO_F_NOTIFICATION_DATA, 'NOTIFICATION_DATA'],
  [VIRTIO_F_NOTIF_CONFIG_DATA, 'NOTIF_CONFIG_DATA'],
  [VIRTIO_F_RING_RESET, 'RING_RESET'],
]);
