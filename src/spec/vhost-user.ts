/**
 * The vhost-user protocol (QEMU docs/interop/vhost-user.rst): a unix stream socket carrying 12-byte headers
 * (request, flags, size), little-endian payloads and, as SCM_RIGHTS, file descriptors.
 */

export const VHOST_USER_HEADER_SIZE = 12;
/** Header flags: bits 0-1 the version (1), REPLY on replies, NEED_REPLY to ask for a REPLY_ACK. */
export const VHOST_USER_VERSION = 0x1;
export const VHOST_USER_VERSION_MASK = 0x3;
export const VHOST_USER_REPLY = 0x4;
export const VHOST_USER_NEED_REPLY = 0x8;

/** Front-end requests. */
export const VhostUserRequest = {
  GET_FEATURES: 1,
  SET_FEATURES: 2,
  SET_OWNER: 3,
  RESET_OWNER: 4,
  SET_MEM_TABLE: 5,
  SET_LOG_BASE: 6,
  SET_LOG_FD: 7,
  SET_VRING_NUM: 8,
  SET_VRING_ADDR: 9,
  SET_VRING_BASE: 10,
  GET_VRING_BASE: 11,
  SET_VRING_KICK: 12,
  SET_VRING_CALL: 13,
  SET_VRING_ERR: 14,
  GET_PROTOCOL_FEATURES: 15,
  SET_PROTOCOL_FEATURES: 16,
  GET_QUEUE_NUM: 17,
  SET_VRING_ENABLE: 18,
  SEND_RARP: 19,
  NET_SET_MTU: 20,
  SET_BACKEND_REQ_FD: 21,
  IOTLB_MSG: 22,
  SET_VRING_ENDIAN: 23,
  GET_CONFIG: 24,
  SET_CONFIG: 25,
  GET_INFLIGHT_FD: 31,
  SET_INFLIGHT_FD: 32,
  RESET_DEVICE: 34,
  GET_MAX_MEM_SLOTS: 36,
  ADD_MEM_REG: 37,
  REM_MEM_REG: 38,
  SET_STATUS: 39,
  GET_STATUS: 40,
} as const;
export type VhostUserRequest = (typeof VhostUserRequest)[keyof typeof VhostUserRequest];

const REQUEST_NAMES = new Map<number, string>(Object.entries(VhostUserRequest).map(([k, v]) => [v, k]));
export const requestName = (request: number): string => REQUEST_NAMES.get(request) ?? `request ${request}`;

/** In the virtio feature set: the back-end speaks protocol features (GET/SET_PROTOCOL_FEATURES). */
export const VHOST_USER_F_PROTOCOL_FEATURES = 30;

/** Protocol feature bits. */
export const VhostUserProtocolFeature = {
  MQ: 0,
  LOG_SHMFD: 1,
  RARP: 2,
  REPLY_ACK: 3,
  NET_MTU: 4,
  BACKEND_REQ: 5,
  CROSS_ENDIAN: 6,
  CRYPTO_SESSION: 7,
  PAGEFAULT: 8,
  CONFIG: 9,
  BACKEND_SEND_FD: 10,
  HOST_NOTIFIER: 11,
  INFLIGHT_SHMFD: 12,
  RESET_DEVICE: 13,
  INBAND_NOTIFICATIONS: 14,
  CONFIGURE_MEM_SLOTS: 15,
  STATUS: 16,
} as const;

/** SET_VRING_KICK/CALL/ERR payload: bits 0-7 the queue index; bit 8 set means no fd (poll instead). */
export const VHOST_USER_VRING_INDEX_MASK = 0xff;
export const VHOST_USER_VRING_NOFD_MASK = 0x100;

/** The memory table without CONFIGURE_MEM_SLOTS holds at most this many regions. */
export const VHOST_MEMORY_BASELINE_NREGIONS = 8;
/** struct vhost_user_memory_region: guest_phys_addr, memory_size, userspace_addr, mmap_offset (u64 each). */
export const VHOST_USER_MEMORY_REGION_SIZE = 32;
/** struct vhost_vring_addr: index u32, flags u32, desc u64, used u64, avail u64, log u64. */
export const VHOST_USER_VRING_ADDR_SIZE = 40;
/** struct vhost_user_config header: offset, size, flags (u32 each), then the bytes. */
export const VHOST_USER_CONFIG_HEADER_SIZE = 12;
export const VHOST_USER_MAX_CONFIG_SIZE = 256;
