import { connectUnix } from '../../src/os/unix-socket.js';
import { VIRTIO_F_EVENT_IDX, VIRTIO_F_IN_ORDER, VIRTIO_F_VERSION_1 } from '../../src/spec/features.js';
import {
  VHOST_USER_F_PROTOCOL_FEATURES,
  VHOST_USER_NEED_REPLY,
  VHOST_USER_VERSION,
  VhostUserProtocolFeature as P,
  VhostUserRequest as R,
} from '../../src/spec/vhost-user.js';
import { VhostUserConnection } from '../../src/transport/vhost-user/connection.js';
import { decodeU64, encodeU64 } from '../../src/transport/vhost-user/messages.js';
import { bit, featureMask, type Features } from '../../src/virtqueue/features.js';

/** A hand-driven front-end that has negotiated REPLY_ACK, so every request it sends can be answered (0: done). */
export interface RawFrontend {
  conn: VhostUserConnection;
  /** Sends a request asking for a reply; the u64 the back-end answered (0 ok, nonzero refused). */
  ask: (req: number, payload?: Uint8Array, fds?: number[]) => Promise<bigint>;
}

/** `extra`: features asked for beyond VERSION_1, IN_ORDER and EVENT_IDX (RING_PACKED, say). */
export async function rawFrontend(socket: string, extra: Features = 0n): Promise<RawFrontend> {
  const conn = new VhostUserConnection(connectUnix(socket), false);
  const call = async (req: number, p?: Uint8Array, fds: number[] = [], flags = VHOST_USER_VERSION): Promise<bigint> => {
    conn.send(req, p, fds, flags);
    const reply = await conn.receive();
    if (reply === null) throw new Error('disconnected');
    return decodeU64({ ...reply, fds: [] });
  };
  await call(R.GET_FEATURES);
  await call(R.GET_PROTOCOL_FEATURES);
  conn.send(R.SET_PROTOCOL_FEATURES, encodeU64(featureMask(P.REPLY_ACK, P.CONFIGURE_MEM_SLOTS)));
  const features =
    featureMask(VIRTIO_F_VERSION_1, VIRTIO_F_IN_ORDER, VIRTIO_F_EVENT_IDX) |
    bit(VHOST_USER_F_PROTOCOL_FEATURES) |
    extra;
  conn.send(R.SET_FEATURES, encodeU64(features));
  const ask = (req: number, p?: Uint8Array, fds: number[] = []) =>
    call(req, p, fds, VHOST_USER_VERSION | VHOST_USER_NEED_REPLY);
  return { conn, ask };
}
