import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runReconnectingFrontend } from '../src/drivers/test/reconnecting-frontend.js';
import { DEFAULT_RUN } from '../src/harness/options.js';
import { ServeProcess } from './support/serve-process.js';

// A back-end killed and restarted under a front-end that reconnects (issue #20, part 3), as DPDK's virtio-user with
// server=1 does: vqkit's test front-end listens, `vq serve test --client` connects, and is killed with SIGKILL and
// started again three times mid-run. The driver checks every buffer's bytes and counts each completion: a buffer
// completed before a kill and used again would be a duplicate completion (the driver refuses it), one lost would
// leave the run short.

const dir = mkdtempSync(join(tmpdir(), 'vq-reconnect-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a back-end restarted under a reconnecting front-end', () => {
  it.each([true, false])(
    'split, IN_ORDER %s: killed three times mid-run, resumed each time at the used idx; every buffer verified, completed once',
    async (inOrder) => {
      const path = join(dir, `fe-${inOrder}.sock`);
      const buffers = 60_000;
      let progress = 0;
      const waiters: { at: number; resolve: () => void }[] = [];
      const onProgress = (completed: number): void => {
        progress = completed;
        for (const w of waiters.filter((x) => progress >= x.at)) w.resolve();
      };
      const reached = (at: number): Promise<void> =>
        progress >= at ? Promise.resolve() : new Promise((resolve) => waiters.push({ at, resolve }));
      const run = runReconnectingFrontend(
        path,
        { ...DEFAULT_RUN, ring: 'split', inOrder, buffers, batch: 2, queueSize: 256 },
        30_000,
        onProgress,
      );
      const daemons: ServeProcess[] = [];
      try {
        for (let kill = 0; kill < 3; kill++) {
          const d = new ServeProcess('test', path, ['--client', '--no-packed']);
          daemons.push(d);
          // Killed once it has served a thousand buffers of its own, mid-traffic. If the run ended first (a slow kill
          // let a back-end finish it), waiting on would hang: the check below then reports too few connections.
          const ended = run.then(
            () => true,
            () => true,
          );
          if (await Promise.race([d.waitFor(/queue 0 started/).then(() => false), ended])) break;
          if (await Promise.race([reached(progress + 1000).then(() => false), ended])) break;
          d.proc.kill('SIGKILL');
          await once(d.proc, 'exit');
        }
        const last = new ServeProcess('test', path, ['--client', '--no-packed']);
        daemons.push(last);
        const r = await run;
        expect({
          failure: r.result.failure,
          completed: r.result.completed,
          connections: r.connections,
          resumes: r.resumedAt.length,
        }).toEqual({ failure: null, completed: buffers, connections: 4, resumes: 3 });
        // Each restarted back-end was handed the driver's avail idx and resumed at the used idx instead, where the
        // killed one had stopped completing (the log names both).
        for (const d of daemons.slice(1)) await d.waitFor(/resum/);
      } finally {
        for (const d of daemons) if (d.proc.exitCode === null && d.proc.signalCode === null) await d.stop();
      }
    },
  );
});
