/** virtio-vsock (VIRTIO 1.2 section 5.10): device id 19. Names as in the spec and Linux's uapi virtio_vsock.h. */

export const VIRTIO_ID_VSOCK = 19;

/** Device feature bits. Without either, a device and driver speak stream sockets. */
export const VIRTIO_VSOCK_F_STREAM = 0;
/** Seqpacket sockets: message bounds (EOM, EOR) on the RW packets. */
export const VIRTIO_VSOCK_F_SEQPACKET = 1;

export const VSOCK_FEATURE_NAMES: ReadonlyMap<number, string> = new Map([
  [VIRTIO_VSOCK_F_STREAM, 'VSOCK_STREAM'],
  [VIRTIO_VSOCK_F_SEQPACKET, 'VSOCK_SEQPACKET'],
]);

/** Virtqueues: the device puts packets for the driver on rx, takes the driver's from tx, and posts events. */
export const VSOCK_RX_QUEUE = 0;
export const VSOCK_TX_QUEUE = 1;
export const VSOCK_EVENT_QUEUE = 2;
export const VSOCK_QUEUES = 3;

/** The well-known CIDs: the host is 2; guests get 3 and up. */
export const VMADDR_CID_HOST = 2;
export const VSOCK_MIN_GUEST_CID = 3;

/** struct virtio_vsock_config: le64 guest_cid. */
export const VSOCK_CONFIG_GUEST_CID = 0;
export const VSOCK_CONFIG_SIZE = 8;

/** struct virtio_vsock_hdr (packed, 44 bytes, little-endian): field offsets. */
export const VSOCK_HDR_SRC_CID = 0;
export const VSOCK_HDR_DST_CID = 8;
export const VSOCK_HDR_SRC_PORT = 16;
export const VSOCK_HDR_DST_PORT = 20;
export const VSOCK_HDR_LEN = 24;
export const VSOCK_HDR_TYPE = 28;
export const VSOCK_HDR_OP = 30;
export const VSOCK_HDR_FLAGS = 32;
export const VSOCK_HDR_BUF_ALLOC = 36;
export const VSOCK_HDR_FWD_CNT = 40;
export const VSOCK_HDR_SIZE = 44;

/** The header's socket type: a byte stream. */
export const VIRTIO_VSOCK_TYPE_STREAM = 1;
/** The header's socket type: messages with bounds (needs VIRTIO_VSOCK_F_SEQPACKET). */
export const VIRTIO_VSOCK_TYPE_SEQPACKET = 2;

export const VIRTIO_VSOCK_OP_INVALID = 0;
export const VIRTIO_VSOCK_OP_REQUEST = 1;
export const VIRTIO_VSOCK_OP_RESPONSE = 2;
export const VIRTIO_VSOCK_OP_RST = 3;
export const VIRTIO_VSOCK_OP_SHUTDOWN = 4;
export const VIRTIO_VSOCK_OP_RW = 5;
export const VIRTIO_VSOCK_OP_CREDIT_UPDATE = 6;
export const VIRTIO_VSOCK_OP_CREDIT_REQUEST = 7;

export const VSOCK_OP_NAMES: readonly string[] = [
  'INVALID',
  'REQUEST',
  'RESPONSE',
  'RST',
  'SHUTDOWN',
  'RW',
  'CREDIT_UPDATE',
  'CREDIT_REQUEST',
];

/** RW flags on SOCK_SEQPACKET: the end of a message (EOM), and of a record (EOR, MSG_EOR on the sender). */
export const VIRTIO_VSOCK_SEQ_EOM = 1;
export const VIRTIO_VSOCK_SEQ_EOR = 2;

/** SHUTDOWN flags: the sender will receive no more, send no more. */
export const VIRTIO_VSOCK_SHUTDOWN_RCV = 1;
export const VIRTIO_VSOCK_SHUTDOWN_SEND = 2;

/** struct virtio_vsock_event: le32 id. */
export const VIRTIO_VSOCK_EVENT_TRANSPORT_RESET = 0;
export const VSOCK_EVENT_SIZE = 4;
