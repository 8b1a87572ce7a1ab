import {
  VIRTIO_VSOCK_OP_CREDIT_REQUEST,
  VIRTIO_VSOCK_OP_REQUEST,
  VIRTIO_VSOCK_TYPE_SEQPACKET,
  VIRTIO_VSOCK_TYPE_STREAM,
  VSOCK_HDR_BUF_ALLOC,
  VSOCK_HDR_DST_CID,
  VSOCK_HDR_DST_PORT,
  VSOCK_HDR_FLAGS,
  VSOCK_HDR_FWD_CNT,
  VSOCK_HDR_LEN,
  VSOCK_HDR_OP,
  VSOCK_HDR_SIZE,
  VSOCK_HDR_SRC_CID,
  VSOCK_HDR_SRC_PORT,
  VSOCK_HDR_TYPE,
  VSOCK_OP_NAMES,
} from '../../spec/vsock.js';

/** Why a vsock packet was refused: one code per kind of bad packet. */
export type VsockErrorCode =
  /** Fewer than 44 bytes where a header belongs. */
  | 'SHORT_HEADER'
  /** An op the spec does not define (or INVALID). */
  | 'BAD_OP'
  /** A socket type other than stream (or seqpacket, where negotiated and the far end takes it). */
  | 'BAD_TYPE'
  /** len says more bytes than the buffer holds, or a non-RW packet carries data. */
  | 'BAD_LENGTH'
  /** The source or destination CID is not what this link carries (a guest claiming another CID). */
  | 'BAD_CID'
  /** A packet for a connection that does not exist (answered with RST). */
  | 'UNKNOWN_CONNECTION'
  /** The peer sent more data than the credit it was given allows (the connection is reset). */
  | 'CREDIT_EXCEEDED'
  /** A packet the connection's state does not allow (RW before RESPONSE, a second REQUEST). */
  | 'BAD_STATE'
  /** A transmit buffer with device-writable parts, or a receive buffer too small for a header. */
  | 'BAD_BUFFER';

/** A packet refused: which check, on which queue. The packet is dropped; other connections go on. */
export class VsockPacketError extends Error {
  override readonly name = 'VsockPacketError';
  constructor(
    readonly code: VsockErrorCode,
    readonly where: string,
    detail: string,
  ) {
    super(`${where}: ${code}: ${detail}`);
  }
}

/** A vsock header, decoded. CIDs are numbers: the spec's le64 carries 32-bit CIDs in practice (bits above are 0). */
export interface VsockHeader {
  srcCid: number;
  dstCid: number;
  srcPort: number;
  dstPort: number;
  len: number;
  type: number;
  op: number;
  flags: number;
  bufAlloc: number;
  fwdCnt: number;
}

export const emptyHeader = (): VsockHeader => ({
  srcCid: 0,
  dstCid: 0,
  srcPort: 0,
  dstPort: 0,
  len: 0,
  type: VIRTIO_VSOCK_TYPE_STREAM,
  op: 0,
  flags: 0,
  bufAlloc: 0,
  fwdCnt: 0,
});

const u64 = (v: DataView, at: number): number => Number(v.getBigUint64(at, true));

/** Decodes the header at `at` into `h` (reused: no allocation per packet). */
export function readHeader(bytes: Uint8Array, at: number, h: VsockHeader): VsockHeader {
  const v = new DataView(bytes.buffer, bytes.byteOffset + at, VSOCK_HDR_SIZE);
  h.srcCid = u64(v, VSOCK_HDR_SRC_CID);
  h.dstCid = u64(v, VSOCK_HDR_DST_CID);
  h.srcPort = v.getUint32(VSOCK_HDR_SRC_PORT, true);
  h.dstPort = v.getUint32(VSOCK_HDR_DST_PORT, true);
  h.len = v.getUint32(VSOCK_HDR_LEN, true);
  h.type = v.getUint16(VSOCK_HDR_TYPE, true);
  h.op = v.getUint16(VSOCK_HDR_OP, true);
  h.flags = v.getUint32(VSOCK_HDR_FLAGS, true);
  h.bufAlloc = v.getUint32(VSOCK_HDR_BUF_ALLOC, true);
  h.fwdCnt = v.getUint32(VSOCK_HDR_FWD_CNT, true);
  return h;
}

export function writeHeader(bytes: Uint8Array, at: number, h: VsockHeader): void {
  const v = new DataView(bytes.buffer, bytes.byteOffset + at, VSOCK_HDR_SIZE);
  v.setBigUint64(VSOCK_HDR_SRC_CID, BigInt(h.srcCid), true);
  v.setBigUint64(VSOCK_HDR_DST_CID, BigInt(h.dstCid), true);
  v.setUint32(VSOCK_HDR_SRC_PORT, h.srcPort, true);
  v.setUint32(VSOCK_HDR_DST_PORT, h.dstPort, true);
  v.setUint32(VSOCK_HDR_LEN, h.len, true);
  v.setUint16(VSOCK_HDR_TYPE, h.type, true);
  v.setUint16(VSOCK_HDR_OP, h.op, true);
  v.setUint32(VSOCK_HDR_FLAGS, h.flags, true);
  v.setUint32(VSOCK_HDR_BUF_ALLOC, h.bufAlloc, true);
  v.setUint32(VSOCK_HDR_FWD_CNT, h.fwdCnt, true);
}

export const opName = (op: number): string => VSOCK_OP_NAMES[op] ?? `op ${op}`;

/**
 * What is wrong with a packet before any connection looks at it: its op and type, and its length against the bytes
 * that came with it. Null if nothing.
 */
export function headerProblem(
  h: VsockHeader,
  payloadBytes: number,
  seqpacket = false,
): [VsockErrorCode, string] | null {
  if (h.op < VIRTIO_VSOCK_OP_REQUEST || h.op > VIRTIO_VSOCK_OP_CREDIT_REQUEST) return ['BAD_OP', `op ${h.op}`];
  if (h.type !== VIRTIO_VSOCK_TYPE_STREAM && !(seqpacket && h.type === VIRTIO_VSOCK_TYPE_SEQPACKET)) {
    return ['BAD_TYPE', `type ${h.type} on ${opName(h.op)}`];
  }
  if (h.len > payloadBytes) return ['BAD_LENGTH', `len ${h.len} with ${payloadBytes} bytes after the header`];
  return null;
}
