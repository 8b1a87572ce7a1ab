import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VIRTQ_DESC_F_AVAIL, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_USED, VIRTQ_DESC_F_WRITE } from '../src/spec/packed.js';
import { VIRTIO_F_IN_ORDER } from '../src/spec/features.js';
import {
  connectBackend,
  featureMask,
  FrontendSetup,
  GuestMemory,
  packedRingLayout,
  ReadinessLoop,
  ringWants,
  VhostUserConnection,
  VhostUserProtocolFeature,
  type Owned,
} from '../src/index.js';
import { runFrontend } from '../src/drivers/test/test-frontend.js';
import { DEFAULT_RUN } from '../src/harness/options.js';
import { ServeProcess } from './support/serve-process.js';

// A hostile driver on a packed ring, over vhost-user: descriptors written by hand into the memory it shares with a
// real `vq serve test` daemon. Each breaks that queue alone (a typed error in the log, the error eventfd signalled);
// the daemon then serves the next front-end.

const dir = mkdtempSync(join(tmpdir(), 'vq-hostile-vu-'));
let daemon: ServeProcess;
const SIZE = 16;
const DATA = 0x8000;

beforeAll(async () => {
  daemon = new ServeProcess('test', join(dir, 'packed.sock'), ['--no-verify-data']);
  await daemon.waitFor(/listening on/);
});
afterAll(async () => {
  await daemon.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A packed descriptor: addr, len, Buffer ID, flags. */
type Desc = [number, number, number, number];
const avail = (wrap: number): number => (wrap ? VIRTQ_DESC_F_AVAIL : VIRTQ_DESC_F_USED);

/**
 * Sets up one packed ring (IN_ORDER as asked) on the daemon, writes `descs` into it from position 0, publishes them in
 * one go (the first descriptor's flags last) and kicks; resolves once the daemon signals the error eventfd.
 */
async function hostileRing(inOrder: boolean, descs: Desc[]): Promise<void> {
  const owned: Owned[] = [];
  const conn = new VhostUserConnection(connectBackend(daemon.socket), false);
  try {
    const setup = new FrontendSetup(conn, owned);
    await setup.handshake(featureMask(VhostUserProtocolFeature.CONFIGURE_MEM_SLOTS));
    const negotiated = setup.negotiate(ringWants({ ring: 'packed', inOrder, indirect: false, eventIdx: false }));
    setup.setFeatures(negotiated);
    const shared = setup.shareMemory('vqkit-guest', 0, 1 << 16);
    const view = new GuestMemory([{ guestAddr: 0, size: 1 << 16, buffer: shared.mapping.buffer }]).regions[0].view;
    const { addresses } = packedRingLayout(0, SIZE);
    const fds = setup.setUpVring(0, SIZE, true, addresses, shared, undefined, true);
    setup.enableVrings([0]);
    // Later descriptors first, so the device sees the chain only when the first one's flags land.
    for (let i = descs.length - 1; i >= 0; i--) {
      const [addr, len, id, flags] = descs[i];
      const at = addresses.desc + 16 * i;
      view.setBigUint64(at, BigInt(addr), true);
      view.setUint32(at + 8, len, true);
      view.setUint16(at + 12, id, true);
      view.setUint16(at + 14, flags, true);
    }
    fds.kick.signal();
    expect(await ReadinessLoop.shared().readable(fds.err!.fd, AbortSignal.timeout(60_000))).toBe(true);
  } finally {
    conn.close();
    owned.reverse().forEach((o) => o.close());
  }
}

describe('a hostile driver on a packed ring over vhost-user', () => {
  it.each([
    {
      what: "flags that disagree with the wrap counter mid-chain (the previous lap's AVAIL/USED)",
      inOrder: true,
      descs: [
        [DATA, 64, 0, VIRTQ_DESC_F_NEXT | avail(1)],
        [DATA + 64, 64, 0, avail(0)],
      ] as Desc[],
      error: /DESC_NOT_AVAILABLE at index 1/,
    },
    {
      what: 'a Buffer ID out of range',
      inOrder: false,
      descs: [[DATA, 64, SIZE, VIRTQ_DESC_F_WRITE | avail(1)]] as Desc[],
      error: /BUFFER_ID_OUT_OF_RANGE at index 0 \(value 16\)/,
    },
    {
      what: 'a buffer outside the memory the front-end shared (the address exactly in the log)',
      inOrder: true,
      descs: [[2 ** 40, 64, 0, VIRTQ_DESC_F_WRITE | avail(1)]] as Desc[],
      error: /ADDRESS_OUT_OF_RANGE at index 0 \(value 0x10000000000\)/,
    },
  ])('$what: refused with its typed error, the error eventfd signalled, the daemon serves on', async (c) => {
    const from = daemon.lines.length;
    await hostileRing(c.inOrder, c.descs);
    expect(await daemon.waitFor(c.error, from)).toMatch(/queue 0: VirtqueueError/);
    await daemon.sessionEnded(from);
    const next = daemon.lines.length;
    const r = await runFrontend(daemon.socket, {
      ...DEFAULT_RUN,
      ring: 'packed',
      inOrder: true,
      indirect: false,
      buffers: 2000,
      verifyData: false,
    });
    expect(r.result.failure ?? null).toBeNull();
    expect(r.negotiated & featureMask(VIRTIO_F_IN_ORDER)).not.toBe(0n);
    await daemon.sessionEnded(next);
  });
});
