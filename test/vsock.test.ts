import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { VsockConnection } from '../src/devices/vsock/endpoint.js';
import { VIRTIO_F_IN_ORDER, VIRTIO_F_RING_PACKED } from '../src/spec/features.js';
import {
  VIRTIO_VSOCK_F_SEQPACKET,
  VIRTIO_VSOCK_SHUTDOWN_SEND,
  VIRTIO_VSOCK_TYPE_SEQPACKET,
} from '../src/spec/vsock.js';
import { MAX_HOST_MESSAGE } from '../src/devices/vsock/seqpacket-link.js';
import { closeFd, readMessage } from '../src/os/fd.js';
import { SOCK_SEQPACKET, loadLibc } from '../src/os/libc.js';
import { listenUnix, sendMessage, tryAcceptUnix } from '../src/os/unix-socket.js';
import { VhostUserFrontendError } from '../src/transport/vhost-user/frontend-setup.js';
import { openNetPort } from '../src/drivers/net/net-port.js';
import { VsockPort } from '../src/drivers/vsock/vsock-port.js';
import { hasFeature } from '../src/virtqueue/features.js';
import { ServeProcess, VqProcess, VQ } from './support/serve-process.js';
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

describe('one vsock daemon, sibling VMs', () => {
  /** A daemon with a VM per entry (CID and groups), each driven by vqkit's driver as its guest. */
  async function withVms(
    vms: { cid: number; groups: string[] }[],
    body: (guests: Map<number, VsockPort>, d: VqProcess) => Promise<void>,
  ): Promise<void> {
    const specs = vms.map((v) => ({
      ...v,
      socket: join(dir, `s${n}-${v.cid}.sock`),
      uds: join(dir, `s${n}-${v.cid}.uds`),
    }));
    n++;
    const d = new VqProcess([
      'serve',
      'vsock',
      ...specs.flatMap((v) => [
        '--vm',
        `guest-cid=${v.cid},socket=${v.socket},uds-path=${v.uds}` +
          (v.groups.length > 0 ? `,groups=${v.groups.join('+')}` : ''),
      ]),
    ]);
    const guests = new Map<number, VsockPort>();
    const running: Promise<string | null>[] = [];
    try {
      for (const v of specs) await d.waitFor(new RegExp(`listening on ${v.socket}`));
      for (const v of specs) {
        const port = await VsockPort.open(v.socket, {
          ring: v.cid % 2 === 0 ? 'packed' : 'split',
          inOrder: true,
          indirect: false,
          eventIdx: true,
          queueSize: 128,
          idleTimeoutMs: 10_000,
        });
        guests.set(v.cid, port);
        running.push(port.run());
      }
      for (const v of specs) await d.waitFor(new RegExp(`cid ${v.cid}: .*host programs connect to`));
      await body(guests, d);
    } finally {
      guests.forEach((p) => p.close());
      for (const r of running) expect(await r).toBeNull();
      await d.stop();
    }
  }

  const refused = (conn: VsockConnection): Promise<string> =>
    new Promise((resolve) => {
      conn.onConnected = () => resolve('connected');
      conn.onClose = (why) => resolve(why);
    });

  it('guests in a shared group stream to each other by CID (split to packed), 4 MiB each way, checksums match', async () => {
    await withVms(
      [
        { cid: 3, groups: ['g'] },
        { cid: 4, groups: ['g', 'h'] },
      ],
      async (guests) => {
        const up = randomBytes(4 * MiB);
        const down = randomBytes(4 * MiB);
        const served = new Promise<Buffer>((resolve, reject) => {
          guests.get(3)!.endpoint.listen(7000, (conn) => {
            expect(conn.peerCid).toBe(4);
            conn.accept();
            drain(conn).then(resolve, reject);
            conn.write(down);
            conn.shutdown(VIRTIO_VSOCK_SHUTDOWN_SEND);
          });
        });
        const conn = guests.get(4)!.endpoint.connect(7000, 3);
        const got = drain(conn);
        conn.onConnected = () => {
          conn.write(up);
          conn.shutdown(VIRTIO_VSOCK_SHUTDOWN_SEND);
        };
        expect(sha(await served)).toBe(sha(up));
        expect(sha(await got)).toBe(sha(down));
      },
    );
  });

  it('flow control holds end to end: a reader that takes nothing holds the writer in the other guest back, and nothing is lost', async () => {
    await withVms(
      [
        { cid: 3, groups: ['g'] },
        { cid: 4, groups: ['g'] },
      ],
      async (guests) => {
        const blob = randomBytes(3 * MiB);
        const reader = guests.get(3)!;
        const parts: Buffer[] = [];
        let held = 0;
        let release: () => void = () => {};
        const full = new Promise<void>((resolve) => (release = resolve));
        const received = new Promise<Buffer>((resolve, reject) => {
          reader.endpoint.listen(7001, (conn) => {
            conn.accept();
            conn.onData = (b) => {
              parts.push(Buffer.from(b));
              held += b.length;
              // Nothing consumed until the whole credit is taken: the writer must stop there.
              if (held >= reader.endpoint.bufAlloc) release();
              if (held > reader.endpoint.bufAlloc)
                reject(new Error(`${held} bytes arrived on ${reader.endpoint.bufAlloc} of credit`));
            };
            void full.then(() => {
              conn.onData = (b) => {
                parts.push(Buffer.from(b));
                conn.consumed(b.length);
              };
              conn.consumed(held);
            });
            conn.onEnd = () => resolve(Buffer.concat(parts));
            conn.onClose = (why) => (why === 'closed' ? resolve(Buffer.concat(parts)) : reject(new Error(why)));
          });
        });
        const writer = guests.get(4)!.endpoint.connect(7001, 3);
        let waitingAtFull = -1;
        writer.onConnected = () => {
          writer.write(blob);
          writer.shutdown(VIRTIO_VSOCK_SHUTDOWN_SEND);
        };
        void full.then(() => (waitingAtFull = writer.outBytes));
        expect(sha(await received)).toBe(sha(blob));
        // When the reader held its whole credit, the rest was still in the writer, not lost or piled in the daemon.
        expect(waitingAtFull).toBeGreaterThanOrEqual(blob.length - reader.endpoint.bufAlloc - 64 * 1024);
      },
    );
  });

  it('a connect outside a shared group, to an unknown CID, or to a VM that has gone gets RST', async () => {
    await withVms(
      [
        { cid: 3, groups: ['g'] },
        { cid: 4, groups: ['g'] },
        { cid: 5, groups: ['other'] },
        { cid: 6, groups: [] },
      ],
      async (guests, d) => {
        guests.get(3)!.endpoint.listen(7000, (conn) => conn.accept());
        expect(await refused(guests.get(4)!.endpoint.connect(7000, 3))).toBe('connected');
        expect(await refused(guests.get(5)!.endpoint.connect(7000, 3))).toBe('reset by peer');
        expect(await refused(guests.get(6)!.endpoint.connect(7000, 3))).toBe('reset by peer');
        expect(await refused(guests.get(4)!.endpoint.connect(7000, 99))).toBe('reset by peer');
        guests.get(3)!.close();
        await d.waitFor(/cid 3: .*no longer reachable by other guests \(1 of their connections reset\)/);
        expect(await refused(guests.get(4)!.endpoint.connect(7000, 3))).toBe('reset by peer');
      },
    );
  });
});

describe('vsock seqpacket sockets (VIRTIO_VSOCK_F_SEQPACKET)', () => {
  /** A SOCK_SEQPACKET unix socket listening at `path`, as a host program would; its messages as they come. */
  function seqpacketHost(path: string) {
    const listener = listenUnix(path, 4, SOCK_SEQPACKET);
    const buf = new Uint8Array(MAX_HOST_MESSAGE + 1);
    let fd = -1;
    const messages: Buffer[] = [];
    let ended = false;
    const poll = async (until: () => boolean): Promise<void> => {
      for (let i = 0; i < 10_000 && !until(); i++) {
        if (fd < 0) fd = tryAcceptUnix(listener) ?? -1;
        for (let n = fd < 0 ? null : readMessage(fd, buf); n !== null; n = readMessage(fd, buf)) {
          if (n === 0) {
            ended = true;
            break;
          }
          messages.push(Buffer.from(buf.subarray(0, n)));
        }
        await new Promise((r) => setTimeout(r, 5));
      }
      if (!until()) throw new Error(`the host socket at ${path} did not get there (${messages.length} messages)`);
    };
    return {
      messages,
      poll,
      get ended() {
        return ended;
      },
      send: (m: Uint8Array) => expect(sendMessage(fd, m)).toBe(true),
      /** Lets this socket send messages of up to `bytes` (SO_SNDBUFFORCE: the default caps them near 208 KiB). */
      allowMessages: (bytes: number) => {
        const value = new Uint8Array(4);
        new DataView(value.buffer).setInt32(0, bytes + 4096, true);
        expect(Number(loadLibc().setsockopt(fd, 1 /* SOL_SOCKET */, 32 /* SO_SNDBUFFORCE */, value, 4))).toBe(0);
      },
      /** The host program goes: its end of the socket is closed. */
      hangUp: () => {
        closeFd(fd);
        fd = -1;
      },
      close: () => {
        if (fd >= 0) closeFd(fd);
        closeFd(listener);
      },
    };
  }

  /** What a guest connection receives as messages (onData pieces joined at each onMessageEnd). */
  function messagesOf(conn: VsockConnection): Buffer[] {
    const out: Buffer[] = [];
    let parts: Buffer[] = [];
    conn.onData = (b) => {
      parts.push(Buffer.from(b));
      conn.consumed(b.length);
    };
    conn.onMessageEnd = () => {
      out.push(Buffer.concat(parts));
      parts = [];
    };
    return out;
  }

  const sizes = [1, 100, 4096, 4097, 10_000, 65_536, 200_000];
  const until = async (f: () => boolean): Promise<void> => {
    for (let i = 0; i < 10_000 && !f(); i++) await new Promise((r) => setTimeout(r, 5));
    expect(f()).toBe(true);
  };

  /**
   * A daemon with one VM, its guest (vqkit's driver, `ring`) connected with a seqpacket socket to host port 6100,
   * where a SOCK_SEQPACKET unix socket listens: `body` gets the guest's connection, the host socket and the daemon.
   */
  async function withSeqpacketLink(
    ring: 'split' | 'packed',
    body: (
      conn: VsockConnection,
      host: ReturnType<typeof seqpacketHost>,
      d: ServeProcess,
      port: VsockPort,
    ) => Promise<void>,
  ): Promise<void> {
    const socket = join(dir, `sp${n}.sock`);
    const uds = join(dir, `sp${n++}.uds`);
    const d = new ServeProcess('vsock', socket, ['--uds-path', uds, '--guest-cid', '3']);
    let port: VsockPort | null = null;
    const host = seqpacketHost(`${uds}_6100`);
    try {
      await d.waitFor(/listening on/);
      port = await VsockPort.open(socket, {
        ring,
        inOrder: true,
        indirect: false,
        eventIdx: true,
        queueSize: 128,
        idleTimeoutMs: 10_000,
      });
      expect(hasFeature(port.negotiated, VIRTIO_VSOCK_F_SEQPACKET)).toBe(true);
      const running = port.run();
      const conn = port.endpoint.connect(6100, 2, VIRTIO_VSOCK_TYPE_SEQPACKET);
      await body(conn, host, d, port);
      port.close();
      expect(await running).toBeNull();
    } finally {
      host.close();
      port?.close();
      await d.stop();
    }
  }

  it('guest to host: each message is one message on a SOCK_SEQPACKET unix socket at <uds-path>_P, and back', async () => {
    await withSeqpacketLink('packed', async (conn, host, d, port) => {
      const back = messagesOf(conn);
      await connected(conn);
      const sent = sizes.map((s) => randomBytes(s));
      for (const m of sent) conn.writeMessage(m);
      await host.poll(() => host.messages.length === sent.length);
      expect(host.messages.map((m) => sha(m))).toEqual(sent.map((m) => sha(m)));
      const replies = sizes.map((s) => randomBytes(s));
      for (const m of replies) host.send(m);
      await until(() => back.length === replies.length);
      expect(back.map((m) => sha(m))).toEqual(replies.map((m) => sha(m)));
      host.allowMessages(MAX_HOST_MESSAGE + 1);
      // A host message longer than the bridge takes cannot reach the guest whole: the connection is reset.
      const closed = new Promise((r) => (conn.onClose = r));
      host.send(randomBytes(MAX_HOST_MESSAGE + 1));
      expect(await closed).toBe('reset by peer');
      await d.waitFor(/\(seqpacket\): a message of more than 262144 bytes/);
      // Nobody listens on host port 6101: RST at once, of the seqpacket type the guest matches.
      const refusedConn = port.endpoint.connect(6101, 2, VIRTIO_VSOCK_TYPE_SEQPACKET);
      expect(await new Promise((r) => (refusedConn.onClose = r))).toBe('reset by peer');
    });
  });

  it('a guest message for a host program that has gone resets the connection, and the log says why', async () => {
    await withSeqpacketLink('split', async (conn, host, d) => {
      messagesOf(conn);
      await connected(conn);
      conn.writeMessage(randomBytes(100));
      await host.poll(() => host.messages.length === 1);
      // The host program closes: the guest hears the end of its sending, then a message to it finds nobody.
      const ended = new Promise<void>((r) => (conn.onEnd = r));
      host.hangUp();
      await ended;
      const closed = new Promise((r) => (conn.onClose = r));
      conn.writeMessage(randomBytes(100));
      expect(await closed).toBe('reset by peer');
      await d.waitFor(/\(seqpacket\): the host program is gone/);
    });
  });

  it('between guests: messages forwarded whole, larger ones in pieces of a receive buffer, bounds kept', async () => {
    const specs = [3, 4].map((cid) => ({
      cid,
      socket: join(dir, `sps${n}-${cid}.sock`),
      uds: join(dir, `sps${n}-${cid}.uds`),
    }));
    n++;
    const d = new VqProcess([
      'serve',
      'vsock',
      ...specs.flatMap((v) => ['--vm', `guest-cid=${v.cid},socket=${v.socket},uds-path=${v.uds},groups=g`]),
    ]);
    const ports: VsockPort[] = [];
    try {
      for (const v of specs) await d.waitFor(new RegExp(`listening on ${v.socket}`));
      for (const v of specs) {
        ports.push(
          await VsockPort.open(v.socket, {
            ring: 'split',
            inOrder: true,
            indirect: false,
            eventIdx: true,
            queueSize: 128,
            idleTimeoutMs: 10_000,
          }),
        );
      }
      const running = ports.map((p) => p.run());
      let got: Buffer[] = [];
      ports[0].endpoint.listen(7100, (conn) => {
        expect(conn.type).toBe(VIRTIO_VSOCK_TYPE_SEQPACKET);
        got = messagesOf(conn);
        conn.accept();
      });
      const conn = ports[1].endpoint.connect(7100, 3, VIRTIO_VSOCK_TYPE_SEQPACKET);
      await connected(conn);
      const sent = sizes.filter((s) => s < ports[0].endpoint.bufAlloc).map((s) => randomBytes(s));
      for (const m of sent) conn.writeMessage(m);
      await until(() => got.length === sent.length);
      expect(got.map((m) => [m.length, sha(m)])).toEqual(sent.map((m) => [m.length, sha(m)]));
      ports.forEach((p) => p.close());
      for (const r of running) expect(await r).toBeNull();
    } finally {
      ports.forEach((p) => p.close());
      await d.stop();
    }
  });
});
