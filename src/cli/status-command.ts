import { Command } from 'commander';
import { askControl } from '../runtime/control-server.js';
import { defaultControlPath, type DaemonStatus } from '../transport/vhost-user/daemon.js';

/** Counters as "name value" pairs, nested names joined with dots; zeros left out. */
function counterText(counters: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(counters).flatMap(([k, v]) => {
    if (typeof v === 'number') return v === 0 ? [] : [`${prefix}${k} ${v}`];
    if (typeof v === 'object' && v !== null) return counterText(v as Record<string, unknown>, `${prefix}${k}.`);
    return [];
  });
}

export function formatStatus(s: DaemonStatus): string {
  const lines = [
    `vq daemon pid ${s.pid}: ${s.ports.length} port(s); ` +
      (s.isolation === 'process'
        ? 'a child process per front-end'
        : `${s.threads} data-plane thread(s) serving ${s.unitsPerThread.join(', ')} unit(s)`) +
      `; ${s.processThreads} threads in all; RSS ${(s.rssBytes / 2 ** 20).toFixed(1)} MiB`,
  ];
  for (const p of s.ports) {
    const role = p.client ? 'connecting to' : 'listening on';
    if (!p.connected) {
      lines.push(`${p.socket} (${p.device}): ${role} it, no front-end (${p.sessions} served so far)`);
      continue;
    }
    const pid = p.frontendPid === null ? '' : `, front-end pid ${p.frontendPid}`;
    lines.push(`${p.socket} (${p.device}): connected${pid}, session ${p.sessions}`);
    if (p.childPid !== null) {
      lines.push(`  served by child pid ${p.childPid} (--isolation process: its queues and counters are the child's)`);
      continue;
    }
    // The description names the bits and ends with them in hex.
    lines.push(`  negotiated: ${p.negotiated ?? 'nothing yet'}`);
    const idle = p.queues.filter((q) => q.size > 0 && !q.running).map((q) => q.index);
    if (idle.length > 0) lines.push(`  queues ${idle.join(',')}: set up, not running`);
    for (const u of p.units) {
      const where = u.thread === null ? 'its own thread' : `data-plane thread ${u.thread}`;
      const counters = u.counters === null ? '' : `: ${counterText(u.counters).join(', ') || 'no traffic yet'}`;
      lines.push(`  queues ${u.queues.join(',')} on ${where}${counters}`);
    }
  }
  return lines.join('\n');
}

export function statusCommand(): Command {
  return new Command('status')
    .description(
      'Ask a running `vq serve` daemon what it serves, through its control socket: each port, its front-end pid, ' +
        'the negotiated features, its queues, the data-plane thread each runs on, and their counters (collected ' +
        'from the threads on request).',
    )
    .option('--control <path>', 'the daemon control socket (its --control)')
    .option('--socket <path>', "the daemon's first --socket: its default control socket is beside it")
    .option('--json', 'print the status as JSON')
    .action(async (flags: { control?: string; socket?: string; json?: boolean }, cmd: Command) => {
      const path = flags.control ?? (flags.socket === undefined ? undefined : defaultControlPath(flags.socket));
      if (path === undefined) cmd.error('error: say which daemon: --control PATH, or --socket PATH', { exitCode: 2 });
      const s = (await askControl(path!, 'status')) as DaemonStatus;
      process.stdout.write(flags.json ? `${JSON.stringify(s, null, 2)}\n` : `${formatStatus(s)}\n`);
      cmd.setOptionValue('exitCode', 0);
    });
}
