import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { VsockConnection } from '../src/devices/vsock/endpoint.js';
import { VIRTIO_F_IN_ORDER, VIRTIO_F_RING_PACKED } from '../src/spec/features.js';
import { VhostUserFrontendError } from '../src/transport/vhost-user/frontend-setup.js';
import { openNetPort } from '../src/drivers/net/net-port.js';
import { VsockPort } from '../src/drivers/vsock/vsock-port.js';
import { hasFeature } from '../src/virtqueue/features.js';
import { ServeProcess, VQ } from './support/serve-process.js';
import type { DaemonStatus } from '../src/transport/vhost-user/daemon.js';
import { hostConnect, hostListen, readAll } from '../src/harness/vsock-host.js';

// vqkit's vsock driver (the guest side, in this process) against `vq serve vsock` (a second process) over
// vhost-user, with the host side reached through the daemon's unix sockets.

const dir = mkdtempSync(join(tmpdir(), 'vq-vsock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const MiB = 1 << 20;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Everything a connection receives, consumed as it comes; resolves when the peer has ended. */
function drain(conn: VsockConnection): Promise<Buffer> {
  const parts: Buffer[] = [];
  return new Promise((resolve, reject) => {
    conn.onData = (b) => {
      parts.push(Buffer.from(b));
      conn.consumed(b.length);
    };
    conn.onEnd = () => resolve(Buffer.concat(parts));
    conn.onClose = (why) => (why === 'closed' ? resolve(Buffer.concat(parts)) : reject(new Error(`connection ${why}`)));
  });
}

const connected = (conn: VsockConnection): Promise<void> =>
  new Promise((resolve, reject) => {
    conn.onConnected = resolve;
    conn.onClose = (why) => reject(new Error(`connection ${why}`));
  });

const combos = (['split', 'packed'] as const).flatMap((ring) => [true, false].map((inOrder) => ({ ring, inOrder })));

describe("vqkit's vsock driver and vsock device over vhost-user (two processes)", () => {
  async function withDevice(
    c: { ring: 'split' | 'packed'; inOrder: boolean },
    body: (port: VsockPort, uds: string, d: ServeProcess) => Promise<void>,
  ): Promise<void> {
    const socket = join(dir, `v${n}.sock`);
    const uds = join(dir, `v${n++}.uds`);
    const d = new ServeProcess('vsock', socket, ['--uds-path', uds, '--guest-cid', '42']);
    let port: VsockPort | null = null;
    try {
      await d.waitFor(/listening on/);
      port = await VsockPort.open(socket, {
        ...c,
        indirect: false,
        eventIdx: true,
        queueSize: 128,
        idleTimeoutMs: 10_000,
      });
      const running = port.run();
      await d.waitFor(/host programs connect to/);
      await body(port, uds, d);
      port.close();
      expect(await running).toBeNull();
    } finally {
      port?.close();
      await d.stop();
    }
  }

  it.each(combos)(
    '$ring, IN_ORDER $inOrder: 8 MiB each way, guest to host and host to guest, checksums match',
    async (c) => {
      await withDevice(c, async (port, uds) => {
        expect(port.guestCid).toBe(42);
        expect(hasFeature(port.negotiated, VIRTIO_F_IN_ORDER)).toBe(c.inOrder);
        expect(hasFeature(port.negotiated, VIRTIO_F_RING_PACKED)).toBe(c.ring === 'packed');
        // Guest to host port 5000: the host program echoes a digest of what it got, then its own 8 MiB.
        const fromHost = randomBytes(8 * MiB);
        const server = await hostListen(uds, 5000, (s) => {
          void readAll(s).then((got) => {
            s.write(`${sha(got)} ${got.length}\n`);
            s.end(fromHost);
          });
        });
        const up = randomBytes(8 * MiB);
        const conn = port.endpoint.connect(5000);
        await connected(conn);
        const back = drain(conn);
        conn.write(up);
        conn.shutdown(2);
        const got = await back;
        const line = got.subarray(0, got.indexOf(10)).toString();
        expect(line).toBe(`${sha(up)} ${up.length}`);
        expect(sha(got.subarray(got.indexOf(10) + 1))).toBe(sha(fromHost));
        server.close();

        // Host to guest port 6000: the guest side echoes.
        port.endpoint.listen(6000, (g) => {
          g.accept();
          const parts: Buffer[] = [];
          g.onData = (b) => {
            parts.push(Buffer.from(b));
            g.consumed(b.length);
          };
          g.onEnd = () => {
            g.write(Buffer.concat(parts));
            g.shutdown();
          };
        });
        const { socket, reply } = await hostConnect(uds, 6000);
        expect(reply).toMatch(/^OK \d+$/);
        const echoed = readAll(socket);
        socket.resume();
        const down = randomBytes(8 * MiB);
        socket.end(down);
        expect(sha(await echoed)).toBe(sha(down));
      });
    },
  );

  it('many streams at once, and a host reader that reads slowly: nothing lost or duplicated', async () => {
    await withDevice({ ring: 'split', inOrder: true }, async (port, uds) => {
      const got = new Map<number, Promise<Buffer>>();
      let i = 0;
      const server = await hostListen(uds, 7000, (s) => {
        const k = i++;
        // Every other reader pauses between reads: the guest must wait for its credit, not lose data.
        if (k % 2 === 1) {
          s.on('data', () => {
            s.pause();
            setTimeout(() => s.resume(), 5);
          });
        }
        got.set(k, readAll(s));
      });
      const streams = Array.from({ length: 12 }, (_, k) => randomBytes(MiB + k * 4099));
      const conns = streams.map(() => port.endpoint.connect(7000));
      await Promise.all(conns.map(connected));
      conns.forEach((c, k) => {
        c.onClose = () => {};
        c.write(streams[k]);
        c.shutdown(2);
      });
      await new Promise((r) => setTimeout(r, 0));
      while (got.size < streams.length) await new Promise((r) => setTimeout(r, 10));
      const received = await Promise.all([...got.values()]);
      expect(received.map(sha).sort()).toEqual(streams.map(sha).sort());
      server.close();
    });
  });

  it('a driver gone mid-stream closes its host sockets; the next driver gets TRANSPORT_RESET and connects anew', async () => {
    const socket = join(dir, `v${n}.sock`);
    const uds = join(dir, `v${n++}.uds`);
    const d = new ServeProcess('vsock', socket, ['--uds-path', uds, '--guest-cid', '5']);
    const opts = {
      ring: 'split' as const,
      inOrder: true,
      indirect: false,
      eventIdx: true,
      queueSize: 64,
      idleTimeoutMs: 10_000,
    };
    try {
      await d.waitFor(/listening on/);
      const hostSockets: Socket[] = [];
      const server = await hostListen(uds, 4000, (s) => hostSockets.push(s));
      const first = await VsockPort.open(socket, opts);
      const firstRun = first.run();
      const conn = first.endpoint.connect(4000);
      await connected(conn);
      conn.write(randomBytes(MiB));
      while (hostSockets.length === 0) await new Promise((r) => setTimeout(r, 5));
      // (Half-open host sockets: the device's side closing shows as the end of what they read.)
      const hostClosed = new Promise<void>((resolve) => hostSockets[0].once('end', () => resolve()));
      hostSockets[0].resume();
      // The front-end goes away with the stream open: the device's host side must not keep the socket.
      first.close();
      await firstRun;
      await hostClosed;
      const second = await VsockPort.open(socket, opts);
      const secondRun = second.run();
      while (second.driver.stats.events === 0) await new Promise((r) => setTimeout(r, 5));
      expect(second.driver.stats.events).toBe(1);
      const again = second.endpoint.connect(4000);
      await connected(again);
      second.close();
      expect(await secondRun).toBeNull();
      server.close();
    } finally {
      await d.stop();
    }
  });

  it('a back-end without a vsock config space is refused by the driver with VhostUserFrontendError', async () => {
    const opts = {
      ring: 'split' as const,
      inOrder: true,
      indirect: false,
      eventIdx: true,
      queueSize: 64,
      idleTimeoutMs: 5000,
    };
    // The test device has no config space at all (no CONFIG protocol feature).
    const test = new ServeProcess('test', join(dir, `t${n++}.sock`));
    try {
      await test.waitFor(/listening on/);
      await expect(VsockPort.open(test.socket, opts)).rejects.toThrow(VhostUserFrontendError);
      await expect(VsockPort.open(test.socket, opts)).rejects.toThrow(/the back-end has no config space/);
    } finally {
      await test.stop();
    }
    // The vsock device's 8 bytes are not a net config space: it refuses the 12-byte read with an empty reply.
    const vsock = new ServeProcess('vsock', join(dir, `v${n}.sock`), [
      '--uds-path',
      join(dir, `v${n++}.uds`),
      '--guest-cid',
      '3',
    ]);
    try {
      await vsock.waitFor(/listening on/);
      const net = openNetPort(vsock.socket, { ...opts, mergeable: true, control: true, pairs: 1 });
      await expect(net).rejects.toThrow(VhostUserFrontendError);
      await expect(net).rejects.toThrow(/the back-end refused GET_CONFIG of 12 bytes/);
    } finally {
      await vsock.stop();
    }
  });

  it('a host program that does not send a CONNECT line is disconnected, and the log says why', async () => {
    await withDevice({ ring: 'split', inOrder: true }, async (_port, uds, d) => {
      const cases: [string, RegExp][] = [
        ['HELLO 5\n', /host connection refused: bad line "HELLO 5"/],
        ['CONNECT 99999999999\n', /host connection refused: bad line "CONNECT 99999999999"/],
        ['x'.repeat(100), /host connection refused: no CONNECT line/],
      ];
      for (const [line, logged] of cases) {
        const from = d.lines.length;
        const s = createConnection({ path: uds, allowHalfOpen: true });
        s.write(line);
        const ended = await new Promise<string>((resolve) => {
          let got = '';
          s.on('data', (c: Buffer) => (got += c.toString()));
          s.once('end', () => resolve(got));
        });
        expect(ended).toBe('');
        s.destroy();
        await d.waitFor(logged, from);
      }
    });
  });

  it('a guest connection to a host port nobody listens on is refused with RST; so is a host one to a closed guest port', async () => {
    await withDevice({ ring: 'packed', inOrder: true }, async (port, uds, d) => {
      const conn = port.endpoint.connect(7999);
      await expect(connected(conn)).rejects.toThrow(/reset by peer/);
      await d.waitFor(/host port 7999: refused/);
      const { socket, reply } = await hostConnect(uds, 8999);
      expect(reply).toBe('');
      expect(socket.readableEnded).toBe(true);
      socket.destroy();
    });
  });
});

describe('one vsock daemon, three VMs', () => {
  it('each VM has its own socket, CID and host socket; a host program reaches the guest of its own VM only', async () => {
    const vms = [3, 4, 5].map((cid) => ({ cid, socket: join(dir, `vm${cid}.sock`), uds: join(dir, `vm${cid}.uds`) }));
    const d = new ServeProcess(
      'vsock',
      vms[0].socket,
      vms.flatMap((v, i) =>
        i === 0
          ? ['--uds-path', v.uds, '--guest-cid', String(v.cid)]
          : ['--vm', `guest-cid=${v.cid},socket=${v.socket},uds-path=${v.uds}`],
      ),
    );
    const ports: VsockPort[] = [];
    const running: Promise<string | null>[] = [];
    try {
      for (const v of vms) await d.waitFor(new RegExp(`listening on ${v.socket}`));
      for (const v of vms) {
        const port = await VsockPort.open(v.socket, {
          ring: 'split',
          inOrder: true,
          indirect: false,
          eventIdx: true,
          queueSize: 128,
          idleTimeoutMs: 10_000,
        });
        ports.push(port);
        running.push(port.run());
        expect(port.guestCid).toBe(v.cid);
        // Each guest answers on port 7000 with its own CID.
        port.endpoint.listen(7000, (g) => {
          g.accept();
          g.write(Buffer.from(`guest ${v.cid}\n`));
          g.shutdown();
        });
      }
      for (const v of vms) await d.waitFor(new RegExp(`cid ${v.cid}: .*host programs connect to ${v.uds}`));
      // All three at once, each through its own VM's host socket.
      const answers = await Promise.all(
        vms.map(async (v) => {
          const { socket, reply } = await hostConnect(v.uds, 7000);
          expect(reply).toMatch(/^OK \d+$/);
          const got = readAll(socket);
          socket.resume();
          return (await got).toString();
        }),
      );
      expect(answers).toEqual(vms.map((v) => `guest ${v.cid}\n`));
      const status = JSON.parse(
        execFileSync(process.execPath, [VQ, 'status', '--socket', vms[0].socket, '--json'], { encoding: 'utf8' }),
      ) as DaemonStatus;
      expect(status.ports.map((p) => [p.socket, p.device, p.connected])).toEqual(
        vms.map((v) => [v.socket, 'vsock', true]),
      );
    } finally {
      ports.forEach((p) => p.close());
      for (const r of running) expect(await r).toBeNull();
      await d.stop();
    }
  });
});
