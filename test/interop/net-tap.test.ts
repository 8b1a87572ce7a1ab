import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VIRTIO_F_IN_ORDER, VIRTIO_F_RING_PACKED } from '../../src/spec/features.js';
import { VIRTIO_NET_F_MRG_RXBUF } from '../../src/spec/net.js';
import { hasFeature } from '../../src/virtqueue/features.js';
import { inNamespace, ip } from '../support/netns.js';
import { ServeProcess, VqProcess } from '../support/serve-process.js';

// Two network namespaces, each with a TAP interface served by its own `vq serve net --backend tap:NAME`, joined by
// `vq net-wire` (vqkit's net driver on both ports): the host kernel's ping and TCP go through vqkit both ways.

const TCP_EXCHANGE = fileURLToPath(new URL('../support/tcp-exchange.mjs', import.meta.url));
const TRANSFER_BYTES = 8 << 20;
const tag = process.pid % 100_000;

interface Exchange {
  sent: string;
  sentBytes: number;
  received: string;
  receivedBytes: number;
}
const lastJson = (out: string): Exchange => JSON.parse(out.trim().split('\n').pop()!) as Exchange;

const cases = (['split', 'packed'] as const).flatMap((ring) =>
  [true, false].flatMap((inOrder) => [true, false].map((mergeable) => ({ ring, inOrder, mergeable }))),
);

describe.each(cases)(
  'tap backend: two namespaces joined through vqkit ($ring ring, IN_ORDER $inOrder, MRG_RXBUF $mergeable)',
  ({ ring, inOrder, mergeable }) => {
    const dir = mkdtempSync(join(tmpdir(), 'vq-tap-'));
    const ns = [`vqtap${tag}a`, `vqtap${tag}b`];
    const taps = [`vqt${tag}a`, `vqt${tag}b`];
    const addrs = ['10.213.7.1', '10.213.7.2'];
    const daemons: ServeProcess[] = [];
    let wire: VqProcess;
    let negotiated = 0n;

    beforeAll(async () => {
      for (let i = 0; i < 2; i++) {
        ip('netns', 'add', ns[i]);
        ip('-n', ns[i], 'link', 'set', 'lo', 'up');
        const args = ['--backend', `tap:${taps[i]}`, ring === 'packed' ? '--packed' : '--no-packed'];
        if (i === 0) args.push('--pcap', join(dir, 'port0.pcap'));
        args.push(inOrder ? '--in-order' : '--no-in-order');
        args.push(mergeable ? '--mrg-rxbuf' : '--no-mrg-rxbuf');
        const daemon = new ServeProcess('net', join(dir, `port${i}.sock`), args, ns[i]);
        daemons.push(daemon);
        await daemon.waitFor(/listening on/);
        // The daemon created the interface in its namespace: give it an address.
        ip('-n', ns[i], 'addr', 'add', `${addrs[i]}/24`, 'dev', taps[i]);
        ip('-n', ns[i], 'link', 'set', taps[i], 'up');
      }
      wire = new VqProcess([
        'net-wire',
        '--vhost-user',
        daemons[0].socket,
        '--vhost-user',
        daemons[1].socket,
        '--ring',
        ring,
      ]);
      // (vqkit's driver asks for MRG_RXBUF; the daemon decides whether it is offered.)
      await wire.waitFor(/carrying frames/);
      const line = await wire.waitFor(/port 0 .*negotiated/);
      negotiated = BigInt(/\((0x[0-9a-f]+)\)$/.exec(line)![1]);
      console.log(`tap ${ring} IN_ORDER ${inOrder} MRG_RXBUF ${mergeable}: ${line}`);
    });

    afterAll(async () => {
      await wire?.stop();
      await Promise.all(daemons.map((d) => d.stop()));
      for (const n of ns) ip('netns', 'del', n);
      rmSync(dir, { recursive: true, force: true });
    });

    it('negotiates the ring asked for, with IN_ORDER and MRG_RXBUF exactly when the device offers them', () => {
      expect(hasFeature(negotiated, VIRTIO_F_RING_PACKED)).toBe(ring === 'packed');
      expect(hasFeature(negotiated, VIRTIO_F_IN_ORDER)).toBe(inOrder);
      expect(hasFeature(negotiated, VIRTIO_NET_F_MRG_RXBUF)).toBe(mergeable);
    });

    it('ping crosses from one namespace to the other and back', async () => {
      const out = await inNamespace(ns[0], ['ping', '-c', '3', '-i', '0.2', '-W', '5', addrs[1]]);
      expect(out).toMatch(/3 packets transmitted, 3 received/);
    });

    it('a TCP connection carries 8 MiB each way, both matching their SHA-256', async () => {
      let ready: () => void;
      const listening = new Promise<void>((resolve) => (ready = resolve));
      const server = inNamespace(
        ns[1],
        [process.execPath, TCP_EXCHANGE, 'server', addrs[1], '5001', String(TRANSFER_BYTES)],
        (line) => line === 'listening' && ready(),
      );
      await listening;
      const client = lastJson(
        await inNamespace(ns[0], [process.execPath, TCP_EXCHANGE, 'client', addrs[1], '5001', String(TRANSFER_BYTES)]),
      );
      const served = lastJson(await server);
      expect(client.receivedBytes).toBe(TRANSFER_BYTES);
      expect(served.receivedBytes).toBe(TRANSFER_BYTES);
      expect(served.received).toBe(client.sent);
      expect(client.received).toBe(served.sent);
    });

    it('the wire and both daemons account for the frames (none refused or dropped); tcpdump reads the pcap', async () => {
      await wire.stop();
      const carried = await wire.waitFor(/carried/);
      const [ab, ba] = [...carried.matchAll(/(\d+) frames/g)].map((m) => Number(m[1]));
      // 8 MiB in frames of at most 1514 bytes: at least 5800 frames each way.
      expect(ab).toBeGreaterThan(5800);
      expect(ba).toBeGreaterThan(5800);
      await Promise.all(daemons.map((d) => d.stop()));
      for (const d of daemons) {
        const summary = await d.waitFor(/pair0 stopped/);
        expect(summary).toMatch(/\(0 refused\).*\(0 refused, 0 dropped\)/);
      }
      // tcpdump reads port 0's capture: the pings both ways and the TCP connection.
      const tcpdump = (filter: string): string =>
        execFileSync('tcpdump', ['-r', join(dir, 'port0.pcap'), '-nn', filter], { encoding: 'utf8', stdio: 'pipe' });
      const icmp = tcpdump('icmp');
      expect(icmp.match(/ICMP echo request/g)?.length).toBeGreaterThanOrEqual(3);
      expect(icmp.match(/ICMP echo reply/g)?.length).toBeGreaterThanOrEqual(3);
      const syn = tcpdump('tcp[tcpflags] & tcp-syn != 0');
      expect(syn).toContain(`${addrs[1]}.5001: Flags [S]`);
      expect(syn).toContain(`${addrs[1]}.5001 > ${addrs[0]}.`);
    });
  },
);
