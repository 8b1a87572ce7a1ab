/** virtio-net (VIRTIO 1.2 section 5.1): device id 1. Names as in the spec and Linux's uapi virtio_net.h. */

export const VIRTIO_ID_NET = 1;

/** Device feature bits. */
export const VIRTIO_NET_F_CSUM = 0;
export const VIRTIO_NET_F_GUEST_CSUM = 1;
export const VIRTIO_NET_F_MTU = 3;
export const VIRTIO_NET_F_MAC = 5;
export const VIRTIO_NET_F_GUEST_TSO4 = 7;
export const VIRTIO_NET_F_HOST_TSO4 = 11;
export const VIRTIO_NET_F_MRG_RXBUF = 15;
export const VIRTIO_NET_F_STATUS = 16;
export const VIRTIO_NET_F_CTRL_VQ = 17;
export const VIRTIO_NET_F_CTRL_RX = 18;
export const VIRTIO_NET_F_CTRL_VLAN = 19;
export const VIRTIO_NET_F_MQ = 22;
export const VIRTIO_NET_F_CTRL_MAC_ADDR = 23;

export const NET_FEATURE_NAMES: ReadonlyMap<number, string> = new Map([
  [VIRTIO_NET_F_CSUM, 'NET_CSUM'],
  [VIRTIO_NET_F_GUEST_CSUM, 'NET_GUEST_CSUM'],
  [VIRTIO_NET_F_MTU, 'NET_MTU'],
  [VIRTIO_NET_F_MAC, 'NET_MAC'],
  [VIRTIO_NET_F_MRG_RXBUF, 'NET_MRG_RXBUF'],
  [VIRTIO_NET_F_STATUS, 'NET_STATUS'],
  [VIRTIO_NET_F_CTRL_VQ, 'NET_CTRL_VQ'],
  [VIRTIO_NET_F_CTRL_RX, 'NET_CTRL_RX'],
  [VIRTIO_NET_F_CTRL_VLAN, 'NET_CTRL_VLAN'],
  [VIRTIO_NET_F_MQ, 'NET_MQ'],
  [VIRTIO_NET_F_CTRL_MAC_ADDR, 'NET_CTRL_MAC_ADDR'],
]);

/**
 * struct virtio_net_hdr (with VERSION_1 always the 12-byte form that includes num_buffers): flags u8, gso_type u8,
 * hdr_len u16, gso_size u16, csum_start u16, csum_offset u16, num_buffers u16.
 */
export const VIRTIO_NET_HDR_SIZE = 12;
export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
export const VIRTIO_NET_HDR_F_DATA_VALID = 2;
export const VIRTIO_NET_HDR_GSO_NONE = 0;
export const NET_HDR_NUM_BUFFERS_OFFSET = 10;

/** struct virtio_net_config: mac[6], status u16, max_virtqueue_pairs u16, mtu u16. */
export const NET_CONFIG_MAC = 0;
export const NET_CONFIG_STATUS = 6;
export const NET_CONFIG_MAX_VIRTQUEUE_PAIRS = 8;
export const NET_CONFIG_MTU = 10;
export const NET_CONFIG_SIZE = 12;
export const VIRTIO_NET_S_LINK_UP = 1;

/** Queues: receiveq N at 2N, transmitq N at 2N+1, the control queue after the last pair. */
export const rxQueueIndex = (pair: number): number => 2 * pair;
export const txQueueIndex = (pair: number): number => 2 * pair + 1;
export const ctrlQueueIndex = (pairs: number): number => 2 * pairs;

/** Control queue: a 2-byte header (class, command), command data, then a 1-byte ack the device writes. */
export const VIRTIO_NET_CTRL_HDR_SIZE = 2;
export const VIRTIO_NET_OK = 0;
export const VIRTIO_NET_ERR = 1;
export const VIRTIO_NET_CTRL_RX = 0;
export const VIRTIO_NET_CTRL_RX_PROMISC = 0;
export const VIRTIO_NET_CTRL_RX_ALLMULTI = 1;
export const VIRTIO_NET_CTRL_MAC = 1;
export const VIRTIO_NET_CTRL_MAC_TABLE_SET = 0;
export const VIRTIO_NET_CTRL_MAC_ADDR_SET = 1;
export const VIRTIO_NET_CTRL_MQ = 4;
export const VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET = 0;
export const VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN = 1;
export const VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX = 0x8000;

/** Ethernet: destination MAC, source MAC, ethertype. */
export const ETH_HEADER_SIZE = 14;
export const ETH_ALEN = 6;
/** A frame as large as the MTU allows: header, payload and one VLAN tag. */
export const maxFrameSize = (mtu: number): number => mtu + ETH_HEADER_SIZE + 4;
