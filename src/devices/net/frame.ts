import {
  ETH_ALEN,
  ETH_HEADER_SIZE,
  NET_HDR_NUM_BUFFERS_OFFSET,
  VIRTIO_NET_HDR_F_DATA_VALID,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_NONE,
  VIRTIO_NET_HDR_SIZE,
} from '../../spec/net.js';

/** Why a frame or a virtio_net_hdr was refused. The frame is dropped and counted; the port keeps working. */
export const NetFrameErrorCode = {
  /** The buffer is shorter than the 12-byte virtio_net_hdr. */
  SHORT_HEADER: 'SHORT_HEADER',
  /** The header asks for an offload that was not negotiated (checksum, GSO). */
  BAD_HEADER: 'BAD_HEADER',
  /** Less than an Ethernet header after the virtio_net_hdr. */
  RUNT_FRAME: 'RUNT_FRAME',
  /** Longer than the MTU allows. */
  FRAME_TOO_LONG: 'FRAME_TOO_LONG',
  /** A transmit buffer with device-writable segments. */
  WRITABLE_TX: 'WRITABLE_TX',
  /** A received frame does not fit the receive buffers the driver gave. */
  RX_BUFFER_TOO_SMALL: 'RX_BUFFER_TOO_SMALL',
  /** Driver side: num_buffers is 0, or more than the buffers the device returned / than allowed. */
  BAD_NUM_BUFFERS: 'BAD_NUM_BUFFERS',
} as const;
export type NetFrameErrorCode = (typeof NetFrameErrorCode)[keyof typeof NetFrameErrorCode];

export class NetFrameError extends Error {
  override readonly name = 'NetFrameError';
  constructor(
    readonly code: NetFrameErrorCode,
    readonly queue: string,
    detail: string,
  ) {
    super(`${queue}: ${code}: ${detail}`);
  }
}

/** Checks a transmitted virtio_net_hdr (no offloads are offered, so none may be asked for); null if fine. */
export function txHeaderProblem(h: Uint8Array, at: number): string | null {
  const flags = h[at];
  if ((flags & ~(VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID)) !== 0)
    return `flags 0x${flags.toString(16)}`;
  if ((flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0) return 'NEEDS_CSUM without VIRTIO_NET_F_CSUM';
  if (h[at + 1] !== VIRTIO_NET_HDR_GSO_NONE) return `gso_type ${h[at + 1]} without any GSO feature`;
  return null;
}

/** Writes a receive header: no offloads, `numBuffers` buffers for this frame. */
export function writeRxHeader(h: Uint8Array, at: number, numBuffers: number): void {
  h.fill(0, at, at + VIRTIO_NET_HDR_SIZE);
  h[at + NET_HDR_NUM_BUFFERS_OFFSET] = numBuffers & 0xff;
  h[at + NET_HDR_NUM_BUFFERS_OFFSET + 1] = numBuffers >>> 8;
}

export const readNumBuffers = (h: Uint8Array, at: number): number =>
  h[at + NET_HDR_NUM_BUFFERS_OFFSET] | (h[at + NET_HDR_NUM_BUFFERS_OFFSET + 1] << 8);

/** Swaps destination and source MAC of the frame at `at`, in place (what testpmd's macswap does). */
export function swapMacs(frame: Uint8Array, at: number): void {
  for (let i = at; i < at + ETH_ALEN; i++) {
    const d = frame[i];
    frame[i] = frame[ETH_ALEN + i];
    frame[ETH_ALEN + i] = d;
  }
}

/** "52:54:00:12:34:56" -> 6 bytes; throws on anything else. */
export function parseMac(text: string): Uint8Array {
  const parts = text.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
    throw new RangeError(`not a MAC address: ${JSON.stringify(text)} (want six hex pairs, e.g. 52:54:00:12:34:56)`);
  }
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

export const formatMac = (mac: Uint8Array, at = 0): string =>
  Array.from(mac.subarray(at, at + ETH_ALEN), (b) => b.toString(16).padStart(2, '0')).join(':');

/** The MAC as a number (48 bits fit a double exactly): a map key. */
export const macKey = (b: Uint8Array, at: number): number =>
  ((b[at] << 8) | b[at + 1]) * 0x1_0000_0000 +
  (((b[at + 2] << 24) | (b[at + 3] << 16) | (b[at + 4] << 8) | b[at + 5]) >>> 0);

const BROADCAST_KEY = 0xffff_ffff_ffff;
/** Whether the address at `at` (a frame's destination, say) is multicast (broadcast included). */
export const isMulticast = (b: Uint8Array, at: number): boolean => (b[at] & 1) !== 0;
export const isBroadcast = (b: Uint8Array, at: number): boolean => macKey(b, at) === BROADCAST_KEY;

export { ETH_HEADER_SIZE, VIRTIO_NET_HDR_SIZE };
