/** Reserved (device-independent) feature bits, VIRTIO 1.2 section 6 "Reserved Feature Bits". */
export const VIRTIO_F_INDIRECT_DESC = 28;
export const VIRTIO_F_EVENT_IDX = 29;
export const VIRTIO_F_VERSION_1 = 32;
export const VIRTIO_F_ACCESS_PLATFORM = 33;
export const VIRTIO_F_RING_PACKED = 34;
export const VIRTIO_F_IN_ORDER = 35;
export const VIRTIO_F_ORDER_PLATFORM = 36;
export const VIRTIO_F_SR_IOV = 37;
export const VIRTIO_F_NOTIFICATION_DATA = 38;
export const VIRTIO_F_NOTIF_CONFIG_DATA = 39;
export const VIRTIO_F_RING_RESET = 40;

/** Device status bits, VIRTIO 1.2 section 2.1. */
export const VIRTIO_CONFIG_S_ACKNOWLEDGE = 1;
export const VIRTIO_CONFIG_S_DRIVER = 2;
export const VIRTIO_CONFIG_S_DRIVER_OK = 4;
export const VIRTIO_CONFIG_S_FEATURES_OK = 8;
export const VIRTIO_CONFIG_S_DEVICE_NEEDS_RESET = 64;
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
