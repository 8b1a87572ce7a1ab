import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Testpmd } from '../../src/harness/testpmd.js';
import { ServeProcess } from '../support/serve-process.js';

// DPDK's virtio-user in server mode (server=1) reconnecting to vqkit's net back-end after it was killed with SIGKILL
// and started again (issue #20, part 3). On a split ring DPDK hands the new back-end its rings with base 0 (it never
// tracked where the device was): the back-end must resume at the used idx in shared memory, or it refuses the ring
// (AVAIL_IDX_AHEAD) and traffic never resumes. A packed ring DPDK resets, and the back-end starts where it is told. testpmd reconnects when it reads the link status (virtio-user does so
// in server mode), so the test asks it for the port's info until it has.

const dir = mkdtempSync(join(tmpdir(), 'vq-dpdk-reconnect-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The last RX-packets testpmd printed for port 0 after `from` in its output. */
const rxPackets = (out: string, from = 0): number =>
  Number([...out.slice(from).matchAll(/RX-packets:\s+(\d+)/g)].at(-1)?.[1] ?? -1);

describe('DPDK virtio-user server=1 reconnecting to a restarted vq serve net', () => {
  it.each(['split', 'packed'] as const)(
    '%s, IN_ORDER: the back-end killed and restarted three times; DPDK reconnects and traffic resumes each time',
    async (ring) => {
      const packed = ring === 'packed';
      const path = join(dir, `net-${ring}.sock`);
      const vdev = `net_virtio_user0,path=${path},queues=1,queue_size=256,in_order=1,packed_vq=${packed ? 1 : 0},mrg_rxbuf=0,server=1`;
      const testpmd = new Testpmd(vdev, ['--forward-mode=io'], [], 0, true);
      const daemons: ServeProcess[] = [];
      const serve = (): ServeProcess => {
        const d = new ServeProcess('net', path, ['--backend', 'loop', '--client', ...(packed ? [] : ['--no-packed'])]);
        daemons.push(d);
        return d;
      };
      /** Asks testpmd (`what`) every 200 ms until its output after `from` matches `done`. */
      const until = async (what: string, done: (out: string) => boolean, from: number): Promise<void> => {
        for (let i = 0; i < 150 && !done(testpmd.output.slice(from)); i++) {
          testpmd.command(what);
          await new Promise((r) => setTimeout(r, 200));
        }
        expect(done(testpmd.output.slice(from)), testpmd.output.slice(-2000)).toBe(true);
      };
      try {
        let d = serve();
        await d.waitFor(/queue 1 started/);
        testpmd.command('start tx_first');
        let mark = testpmd.output.length;
        await until('show port stats 0', (out) => rxPackets(out) >= 20_000, mark);
        for (let restart = 1; restart <= 3; restart++) {
          d.proc.kill('SIGKILL');
          await once(d.proc, 'exit');
          d = serve();
          await d.waitFor(/front-end connected/);
          mark = testpmd.output.length;
          await until('show port info 0', (out) => /reconnection succeeds/.test(out), mark);
          await d.waitFor(/queue 1 started/);
          if (!packed) {
            // DPDK's base 0 is not where the ring was: the back-end resumed at the used idx.
            await d.waitFor(/tx: resuming at used idx \d+, not at the base 0/);
          }
          // testpmd's io forwarding moves a fixed burst: the frames the killed back-end held (in its loop queue) died
          // with it, and on a packed ring DPDK drops the ones in flight when it reconnects (its log says so). A new
          // burst gives the resumed rings frames to move.
          testpmd.command('stop');
          testpmd.command('start tx_first');
          // Frames flow again: 20,000 more come back after the reconnection than at a first reading after it.
          mark = testpmd.output.length;
          await until('show port stats 0', (out) => rxPackets(out) >= 0, mark);
          const after = rxPackets(testpmd.output, mark);
          await until('show port stats 0', (out) => rxPackets(out) >= after + 20_000, mark);
        }
        for (const x of daemons) {
          expect(x.lines.filter((l) => /refused|AVAIL_IDX_AHEAD|internal error/.test(l))).toEqual([]);
        }
        testpmd.command('stop');
      } finally {
        await testpmd.stop();
        for (const x of daemons) if (x.proc.exitCode === null && x.proc.signalCode === null) await x.stop();
      }
    },
  );
});
