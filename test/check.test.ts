import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import type { CheckReport } from '../src/conformance/report.js';
import { behaviourNames } from '../src/conformance/driver-judge.js';
import { runNetTraffic } from '../src/drivers/net/net-frontend.js';
import { runFrontend } from '../src/drivers/test/test-frontend.js';
import { checkDevice } from '../src/harness/check-device.js';
import { checkDriver } from '../src/harness/check-driver.js';
import { DEFAULT_RUN } from '../src/harness/options.js';
import { RING_FEATURES } from '../src/virtqueue/features.js';
import { ServeProcess, VQ } from './support/serve-process.js';
import { randomBytes } from 'node:crypto';
import { VsockPort } from '../src/drivers/vsock/vsock-port.js';
import { VIRTIO_VSOCK_SHUTDOWN_SEND } from '../src/spec/vsock.js';

// vqkit judged by its own checker, in both roles, over real sockets, shared memory and eventfds.

const dir = mkdtempSync(join(tmpdir(), 'vq-check-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let sockets = 0;
const socketPath = (): string => join(dir, `c${sockets++}.sock`);

const verdictOf = (r: CheckReport, id: string): string | undefined => r.rules.find((v) => v.id === id)?.verdict;

/** Nothing failed or warned; every rule that applies was exercised. */
function clean(r: CheckReport): void {
  expect(r.rules.filter((v) => v.verdict === 'fail' || v.verdict === 'warn')).toEqual([]);
  expect(r.exitCode).toBe(0);
}

describe('vq check device against vq serve', () => {
  for (const device of ['test', 'net'] as const) {
    for (const ring of ['split', 'packed'] as const) {
      it(`${device}, ${ring}, IN_ORDER: conforms, with batched used entries seen and judged`, async () => {
        const socket = socketPath();
        const serve = new ServeProcess(device, socket, device === 'net' ? ['--backend', 'loop'] : []);
        try {
          await serve.waitFor(/listening on/);
          const r = await checkDevice({
            socket,
            device,
            ring,
            inOrder: true,
            indirect: true,
            eventIdx: true,
            mergeable: true,
            rxBufferBytes: 512,
            queueSize: 256,
            count: 3000,
            seed: 3,
            stallMs: 10_000,
            command: 'test',
          });
          clean(r);
          expect(r.interop[0]).toMatchObject({ outcome: 'ok', completed: 3000 });
          expect(verdictOf(r, 'device.in-order')).toBe('pass');
          expect(verdictOf(r, ring === 'split' ? 'device.split-batch' : 'device.packed-batch')).toBe('pass');
          expect(verdictOf(r, 'device.payload')).toBe('pass');
          expect(verdictOf(r, 'device.notify')).toBe('pass');
        } finally {
          await serve.stop();
        }
      });
    }
  }

  for (const ring of ['split', 'packed'] as const) {
    it(`vsock, ${ring}, IN_ORDER: four streams echoed by a host program, each digest equal`, async () => {
      const socket = socketPath();
      const uds = `${socket}.uds`;
      const serve = new ServeProcess('vsock', socket, ['--uds-path', uds, '--guest-cid', '9']);
      try {
        await serve.waitFor(/listening on/);
        const r = await checkDevice({
          socket,
          device: 'vsock',
          udsPath: uds,
          ring,
          inOrder: true,
          indirect: true,
          eventIdx: true,
          mergeable: false,
          queueSize: 128,
          count: 512,
          seed: 1,
          stallMs: 10_000,
          command: 'test',
        });
        clean(r);
        expect(r.interop[0]).toMatchObject({ outcome: 'ok', completed: 4 });
        expect(verdictOf(r, ring === 'split' ? 'device.split-batch' : 'device.packed-batch')).toBe('pass');
        expect(verdictOf(r, 'device.payload')).toBe('pass');
      } finally {
        await serve.stop();
      }
    });
  }

  it('a device that does not write what its type defines breaks device.payload (and only that)', async () => {
    // The test device with --no-verify-data writes no data bytes: the driver finds the pattern missing.
    const socket = socketPath();
    const serve = new ServeProcess('test', socket, ['--no-verify-data']);
    try {
      await serve.waitFor(/listening on/);
      const r = await checkDevice({
        socket,
        device: 'test',
        ring: 'split',
        inOrder: true,
        indirect: true,
        eventIdx: true,
        mergeable: false,
        queueSize: 64,
        count: 1000,
        seed: 3,
        stallMs: 10_000,
        command: 'test',
      });
      expect(r.exitCode).toBe(1);
      expect(r.rules.filter((v) => v.verdict === 'fail').map((v) => v.id)).toEqual(['device.payload']);
      expect(r.rules.find((v) => v.id === 'device.payload')!.first!.detail).toMatch(/buffer #0: written byte/);
      expect(r.interop[0].outcome).toBe('broken');
    } finally {
      await serve.stop();
    }
  });

  it('vsock without --uds-path is refused before anything connects', async () => {
    const out = spawnSync(
      process.execPath,
      [VQ, 'check', 'device', '--vhost-user', join(dir, 'x.sock'), '--device', 'vsock'],
      {
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    expect(out.status).toBe(2);
    expect(out.stderr).toMatch(/--device vsock needs --uds-path/);
  });

  it('--json prints the report and the exit status says conforms', async () => {
    const socket = socketPath();
    const serve = new ServeProcess('test', socket);
    try {
      await serve.waitFor(/listening on/);
      const out = spawnSync(
        process.execPath,
        [VQ, 'check', 'device', '--vhost-user', socket, '--device', 'test', '--count', '2000', '--json'],
        { encoding: 'utf8', timeout: 60_000 },
      );
      expect(out.status).toBe(0);
      const r = JSON.parse(out.stdout) as CheckReport;
      expect(r).toMatchObject({ role: 'device', exitCode: 0 });
      expect(r.command).toBe(`vq check device --vhost-user ${socket} --device test --count 2000 --json`);
      expect(r.rules.map((v) => v.id)).toContain('device.split-batch');
    } finally {
      await serve.stop();
    }
  });

  it('a socket nobody serves is a clear error, exit 2', () => {
    const out = spawnSync(process.execPath, [VQ, 'check', 'device', '--vhost-user', join(dir, 'none.sock')], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(out.status).toBe(2);
    expect(out.stderr).toMatch(/^vq: /);
  });
});

/** Waits for the check's socket, then runs `driver` on it: the driver runs until the check closes the socket. */
async function driveWhileChecked(socket: string, driver: () => Promise<unknown>): Promise<void> {
  while (!existsSync(socket)) await sleep(10);
  await driver().catch(() => undefined);
}

const PHASE_MS = 300;

describe('vq check driver against vqkit’s own drivers', () => {
  for (const ring of ['split', 'packed'] as const) {
    it(`net driver, ${ring}: every rule holds and every behaviour is survived`, async () => {
      const socket = socketPath();
      const checking = checkDriver({
        socket,
        client: false,
        device: 'net',
        ringFeatures: RING_FEATURES,
        mergeable: true,
        expectEcho: false,
        behaviours: behaviourNames,
        phaseMs: PHASE_MS,
        stallMs: 10_000,
        connectTimeoutMs: 30_000,
        lingerMs: 0,
        seed: 2,
        command: 'test',
        log: () => {},
      });
      const driving = driveWhileChecked(socket, () =>
        runNetTraffic(socket, {
          ring,
          inOrder: true,
          indirect: true,
          eventIdx: true,
          mergeable: true,
          control: true,
          queueSize: 256,
          pairs: 1,
          frames: 1e9,
          frameSize: 'random',
          window: 64,
          rxBufferBytes: 512,
          idleTimeoutMs: 30_000,
          seed: 1,
        }),
      );
      const r = await checking;
      await driving;
      clean(r);
      expect(r.interop.map((f) => [f.behaviour, f.outcome])).toEqual(behaviourNames.map((b) => [b, 'ok']));
      if (ring === 'split') expect(verdictOf(r, 'driver.in-order-next')).toBe('pass');
      expect(verdictOf(r, 'driver.no-reuse')).toBe('pass');
    });
  }

  it('vsock driver: streams echoed by the host all along, every behaviour survived', async () => {
    const socket = socketPath();
    const uds = `${socket}.uds`;
    const checking = checkDriver({
      socket,
      client: false,
      device: 'vsock',
      udsPath: uds,
      guestCid: 7,
      ringFeatures: RING_FEATURES,
      mergeable: false,
      expectEcho: false,
      behaviours: behaviourNames,
      phaseMs: PHASE_MS,
      stallMs: 10_000,
      connectTimeoutMs: 30_000,
      lingerMs: 0,
      seed: 2,
      command: 'test',
      log: () => {},
    });
    let echoed = 0;
    let wrong = 0;
    await driveWhileChecked(socket, async () => {
      const port = await VsockPort.open(socket, {
        ring: 'split',
        inOrder: true,
        indirect: true,
        eventIdx: true,
        queueSize: 128,
        idleTimeoutMs: 10_000,
      });
      const running = port.run();
      // One 64 KiB stream after another to the check's echo port, until the check closes the device.
      const data = randomBytes(64 * 1024);
      const gone = running.then(() => null);
      for (;;) {
        const stream = new Promise<Buffer | null>((resolve) => {
          const parts: Buffer[] = [];
          const conn = port.endpoint.connect(5000);
          conn.onConnected = () => {
            conn.write(data);
            conn.shutdown(VIRTIO_VSOCK_SHUTDOWN_SEND);
          };
          conn.onData = (b) => {
            parts.push(Buffer.from(b));
            conn.consumed(b.length);
          };
          conn.onEnd = () => resolve(Buffer.concat(parts));
          conn.onClose = () => resolve(null);
        });
        // The check ends by closing the device: the port stops, and the stream in flight with it.
        const back = await Promise.race([stream, gone]);
        if (back === null) break;
        if (back.equals(data)) echoed++;
        else wrong++;
      }
      port.close();
      await running;
    });
    const r = await checking;
    clean(r);
    expect(r.interop.map((f) => f.outcome)).toEqual(behaviourNames.map(() => 'ok'));
    expect(echoed).toBeGreaterThan(0);
    expect(wrong).toBe(0);
  });

  it('test driver (random chains, indirect tables): every rule holds and every behaviour is survived', async () => {
    const socket = socketPath();
    const checking = checkDriver({
      socket,
      client: false,
      device: 'test',
      ringFeatures: RING_FEATURES,
      mergeable: false,
      expectEcho: false,
      behaviours: behaviourNames,
      phaseMs: PHASE_MS,
      stallMs: 10_000,
      connectTimeoutMs: 30_000,
      lingerMs: 0,
      seed: 2,
      command: 'test',
      log: () => {},
    });
    const driving = driveWhileChecked(socket, () =>
      runFrontend(socket, { ...DEFAULT_RUN, ring: 'split', buffers: 1e9, indirectMode: 'random' }),
    );
    const r = await checking;
    await driving;
    clean(r);
    expect(r.interop.map((f) => f.outcome)).toEqual(behaviourNames.map(() => 'ok'));
    expect(verdictOf(r, 'driver.in-order-indirect')).toBe('pass');
  });
});
