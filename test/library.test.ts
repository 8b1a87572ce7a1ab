import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// Only the public API: what a user of the package imports.
import {
  connectBackend,
  createDriverQueue,
  FrontendSetup,
  GuestMemory,
  packedRingLayout,
  ReadinessLoop,
  ringWants,
  ScatterList,
  splitRingLayout,
  VhostUserConnection,
  VhostUserDaemon,
  VhostUserProtocolFeature,
  featureMask,
  type Owned,
  type VirtqueueDriver,
  type VringFds,
  type ServedDevice,
} from '../src/index.js';

// The virtio-rng example (examples/virtio-rng, built only on the public API) served by a daemon in this process,
// and driven by a driver written here on the public API too: vqkit's front-end steps and its driver queue.

const EXAMPLE = fileURLToPath(new URL('../examples/virtio-rng/', import.meta.url));
const TSC = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'vq-library-'));
let RngDevice: new (o: { recordPath: string }) => ServedDevice;

beforeAll(async () => {
  execFileSync(process.execPath, [TSC, '-p', EXAMPLE], { stdio: 'inherit' });
  ({ RngDevice } = (await import(join(EXAMPLE, 'dist/rng-device.js'))) as { RngDevice: typeof RngDevice });
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const BUFFERS = 200;
const SIZE = 64;
const BYTES = 256;

/** The rng example on its own daemon in this process, with a log kept for the test to read. */
function serveRng(name: string): {
  daemon: VhostUserDaemon;
  serving: Promise<void>;
  socket: string;
  record: string;
  log: string[];
} {
  const socket = join(dir, `${name}.sock`);
  const record = join(dir, `${name}.bytes`);
  const log: string[] = [];
  const daemon = new VhostUserDaemon({
    ports: [{ socketPath: socket, device: new RngDevice({ recordPath: record }), log: (l) => log.push(l) }],
    pool: { threads: 1 },
    isolation: 'thread',
    controlPath: null,
    log: () => {},
  });
  return { daemon, serving: daemon.serve(), socket, record, log };
}

/**
 * The driver's side, on the public API: vqkit's front-end steps (features, memory, one vring) and a driver queue over
 * the shared memory. Whatever it creates goes to `owned`.
 */
async function openRngDriver(
  conn: VhostUserConnection,
  owned: Owned[],
  ring: 'split' | 'packed',
  inOrder: boolean,
  withErr = false,
): Promise<{ driver: VirtqueueDriver<number>; memory: GuestMemory; fds: VringFds }> {
  const setup = new FrontendSetup(conn, owned);
  await setup.handshake(featureMask(VhostUserProtocolFeature.CONFIGURE_MEM_SLOTS));
  const negotiated = setup.negotiate(ringWants({ ring, inOrder, indirect: false, eventIdx: true }));
  setup.setFeatures(negotiated);
  const shared = setup.shareMemory('vq-library-test', 0, 1 << 20);
  const memory = new GuestMemory([{ guestAddr: 0, size: 1 << 20, buffer: shared.mapping.buffer }]);
  const layout = (ring === 'split' ? splitRingLayout : packedRingLayout)(0, SIZE);
  const fds = setup.setUpVring(0, SIZE, ring === 'packed', layout.addresses, shared, undefined, withErr);
  setup.enableVrings([0]);
  const config = { name: 'rng.0', size: SIZE, features: negotiated, memory, addresses: layout.addresses };
  return { driver: createDriverQueue<number>(config), memory, fds };
}

describe('a device built on the public API (examples/virtio-rng), driven through the public front-end API', () => {
  it.each([
    { ring: 'split', inOrder: true },
    { ring: 'split', inOrder: false },
    { ring: 'packed', inOrder: true },
    { ring: 'packed', inOrder: false },
  ] as const)(
    '$ring ring, IN_ORDER $inOrder: every buffer comes back filled with the bytes the device recorded',
    async ({ ring, inOrder }) => {
      const { daemon, serving, socket, record } = serveRng(`${ring}-${inOrder}`);
      const owned: Owned[] = [];
      const conn = new VhostUserConnection(connectBackend(socket), false);
      try {
        const { driver, memory, fds } = await openRngDriver(conn, owned, ring, inOrder);
        // Buffer n lives at a fixed place; its bytes are read back as they come back, in completion order.
        const dataBase = 64 << 10;
        const sg = new ScatterList();
        const received: Buffer[] = [];
        let added = 0;
        while (received.length < BUFFERS) {
          while (added < BUFFERS && driver.canAdd(sg.reset().addWritable(dataBase + added * BYTES, BYTES), false)) {
            driver.add(sg, added, false);
            added++;
          }
          if (driver.kickPrepare()) fds.kick.signal();
          if (!driver.hasUsed() && driver.enableInterrupts()) {
            await ReadinessLoop.shared().readable(fds.call.fd, AbortSignal.timeout(60_000));
          }
          fds.call.take();
          driver.disableInterrupts();
          for (let n = driver.takeUsed(); n !== undefined; n = driver.takeUsed()) {
            expect(driver.usedLen).toBe(BYTES);
            const at = dataBase + n * BYTES;
            received.push(Buffer.from(memory.regions[0].bytes.subarray(at, at + BYTES)));
          }
          expect(driver.error).toBeNull();
        }
        expect(driver.stats.buffersUsed).toBe(BUFFERS);
        // With IN_ORDER the device may batch: fewer used entries than buffers, never more.
        expect(driver.stats.usedEntriesRead).toBeLessThanOrEqual(BUFFERS);
        await daemon.close();
        await serving;
        // What the driver got is what the device wrote, buffer by buffer, in order.
        expect(Buffer.concat(received).equals(readFileSync(record))).toBe(true);
      } finally {
        conn.close();
        owned.reverse().forEach((o) => o.close());
        await daemon.close();
        await serving;
      }
    },
    60_000,
  );

  it('a buffer outside guest memory breaks that ring alone: a typed error, the error eventfd, and the port serves the next front-end', async () => {
    const { daemon, serving, socket, log } = serveRng('hostile');
    const owned: Owned[] = [];
    try {
      for (const attempt of ['hostile', 'well-behaved'] as const) {
        const conn = new VhostUserConnection(connectBackend(socket), false);
        try {
          const { driver, fds } = await openRngDriver(conn, owned, 'split', true, true);
          // The hostile one points its buffer past the end of the memory it shared.
          const addr = attempt === 'hostile' ? (1 << 20) + 4096 : 64 << 10;
          driver.add(new ScatterList().addWritable(addr, BYTES), 0, false);
          driver.kickPrepare();
          fds.kick.signal();
          if (attempt === 'hostile') {
            expect(await ReadinessLoop.shared().readable(fds.err!.fd, AbortSignal.timeout(60_000))).toBe(true);
          } else {
            while (!driver.hasUsed()) {
              if (driver.enableInterrupts())
                await ReadinessLoop.shared().readable(fds.call.fd, AbortSignal.timeout(60_000));
              fds.call.take();
            }
            expect(driver.takeUsed()).toBe(0);
            expect(driver.usedLen).toBe(BYTES);
          }
        } finally {
          conn.close();
        }
      }
      expect(
        log.some((l) => /queue 0: .*ADDRESS_OUT_OF_RANGE/.test(l)),
        log.join('\n'),
      ).toBe(true);
    } finally {
      owned.reverse().forEach((o) => o.close());
      await daemon.close();
      await serving;
    }
  }, 60_000);
});
