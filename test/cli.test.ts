import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { VqProcess } from './support/serve-process.js';

const VQ = fileURLToPath(new URL('../bin/vq.js', import.meta.url));
const vq = (...args: string[]) => {
  const r = spawnSync(process.execPath, [VQ, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

describe('vq command line', () => {
  it('runs one combination and prints a table with PASS', () => {
    const r = vq('run', '--ring', 'split', '--in-order', '--event-idx', '--buffers', '3000', '--seed', '7');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/split in-order indirect event-idx batched 1T .* PASS/);
    expect(r.out).toMatch(/^1 passed, 0 failed$/m);
  });

  it('runs the default matrix, both layouts, when no combination flag is given', () => {
    const r = vq('run', '--buffers', '300');
    expect(r.code).toBe(0);
    expect(r.out.match(/PASS/g)).toHaveLength(64);
    expect(r.out).toMatch(/^split no-in-order .*ooo\/8 2T/m);
    expect(r.out).toMatch(/^packed in-order indirect event-idx batched 2T/m);
  });

  it('runs a packed ring of a size that is not a power of two', () => {
    const r = vq(
      'run',
      '--ring',
      'packed',
      '--in-order',
      '--queue-size',
      '250',
      '--threads',
      '--buffers',
      '20000',
      '--json',
    );
    expect(r.code).toBe(0);
    const [result] = JSON.parse(r.out);
    expect(result).toMatchObject({ passed: true, buffers: 20000 });
    expect(result.negotiated).toMatch(/RING_PACKED/);
    expect(result.negotiated).toMatch(/IN_ORDER/);
  });

  it('prints JSON with --json', () => {
    const r = vq('run', '--no-in-order', '--completion', 'out-of-order', '--threads', '--buffers', '2000', '--json');
    expect(r.code).toBe(0);
    const [result] = JSON.parse(r.out);
    expect(result).toMatchObject({ passed: true, buffers: 2000, failure: null });
    expect(result.negotiated).not.toMatch(/IN_ORDER/);
    expect(result.usedEntries).toBe(2000);
  });

  it('explains bad flag combinations and exits 2', () => {
    const a = vq('run', '--in-order', '--completion', 'out-of-order');
    expect(a.code).toBe(2);
    expect(a.err).toMatch(/out-of-order completion needs IN_ORDER off/);
    const b = vq('run', '--ring', 'split', '--queue-size', '100');
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/power of two/);
    const c = vq('run', '--ring', 'packed', '--queue-size', '40000');
    expect(c.code).toBe(2);
    expect(c.err).toMatch(/from 1 to 32768/);
    const d = vq('run', '--batch', '0');
    expect(d.code).not.toBe(0);
    expect(d.err).toMatch(/batch must be a positive integer/);
    const e = vq('run', '--ring', 'split', '--buffer-pool', '70000');
    expect(e.code).toBe(2);
    expect(e.err).toMatch(/^vq: buffer pool 70000: from 1 to 65536 buffers/);
    const f = vq('run', '--buffer-pool', '0');
    expect(f.code).not.toBe(0);
    expect(f.err).toMatch(/buffer pool must be a positive integer/);
  });

  it('--duration stops adding buffers after that long, and what was added completes and verifies', () => {
    const r = vq('run', '--ring', 'split', '--threads', '--duration', '0.3', '--buffers', '1000000000', '--json');
    expect(r.code).toBe(0);
    const [result] = JSON.parse(r.out);
    expect(result.passed).toBe(true);
    expect(result.buffers).toBeGreaterThan(0);
    expect(result.buffers).toBeLessThan(1_000_000_000);
  });

  it('reports a socket it cannot serve on, or a back-end it cannot reach, in one line', () => {
    const a = vq('serve', 'test', '--socket', '/nonexistent-dir/t.sock');
    expect(a.code).toBe(1);
    expect(a.err).toMatch(/^vq: bind \/nonexistent-dir\/t.sock: ENOENT \(2\)$/m);
    expect(a.err).not.toMatch(/ at /);
    const b = vq('run', '--vhost-user', '/nonexistent-dir/t.sock', '--buffers', '10');
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/cannot connect to a vhost-user back-end/);
  });

  it('--help explains the flags', () => {
    const r = vq('run', '--help');
    expect(r.code).toBe(0);
    for (const flag of [
      '--in-order',
      '--no-in-order',
      '--indirect',
      '--event-idx',
      '--queue-size',
      '--batch',
      '--threads',
      '--poll',
      '--seed',
      '--json',
    ]) {
      expect(r.out).toContain(flag);
    }
  });

  it.each([
    [
      ['serve', 'net'],
      [
        '--backend',
        '--queues',
        '--mtu',
        '--pcap',
        '--rx-used-entries',
        'not offered yet',
        '--threads',
        '--cpus',
        '--control',
      ],
    ],
    [
      ['serve', 'vsock'],
      ['--uds-path', '--guest-cid', 'CONNECT', '--in-order', '--packed', '--vm', 'guest-cid=C,socket=S,uds-path=U'],
    ],
    [['status'], ['--control', '--socket', '--json', 'front-end pid']],
    [['net-wire'], ['--vhost-user', 'patch cable', '--ring']],
    [['net-traffic'], ['--vhost-user', '--listen', '--frames', '--window']],
    [
      ['bench', 'dpdk'],
      ['--runs', '--seconds', '--ring', '--in-order', '--out'],
    ],
  ])('vq %j --help explains what it does and its flags', (cmd, words) => {
    const r = vq(...cmd, '--help');
    expect(r.code).toBe(0);
    for (const w of words) expect(r.out).toContain(w);
  });

  it('vq serve net, vq serve vsock, vq net-traffic and vq net-wire refuse bad flags and unreachable back-ends, saying why', () => {
    const cases: [string[], number, RegExp][] = [
      [
        ['serve', 'net', '--socket', '/tmp/vq-never.sock', '--backend', 'hub'],
        1,
        /backend must be loop, switch, sink, copy or tap:NAME/,
      ],
      [['serve', 'net', '--socket', '/tmp/vq-never.sock', '--backend', 'tap:bad/name'], 1, /tap:NAME/],
      [['serve', 'net', '--socket', '/tmp/vq-never.sock', '--mac', '52:54:00:zz:00:01'], 1, /not a MAC address/],
      [
        ['serve', 'net', '--socket', '/tmp/vq-a.sock', '--socket', '/tmp/vq-b.sock', '--backend', 'tap:vqt0'],
        2,
        /a tap backend serves one socket/,
      ],
      [['net-traffic', '--vhost-user', '/tmp/vq-never.sock', '--ring', 'ring'], 1, /Allowed choices are split, packed/],
      [['net-traffic', '--vhost-user', '/tmp/vq-never.sock', '--frame-size', '10'], 1, /frame size must be 60..65535/],
      [['net-wire', '--vhost-user', '/tmp/vq-never.sock'], 2, /joins exactly two back-ends/],
      [
        ['serve', 'vsock', '--socket', '/tmp/vq-never.sock', '--uds-path', '/tmp/vq-never.uds', '--guest-cid', '2'],
        1,
        /guest CID must be 3\.\.4294967294/,
      ],
      [
        ['serve', 'vsock', '--socket', '/tmp/vq-never.sock', '--guest-cid', '3'],
        2,
        /--socket, --uds-path and --guest-cid go together/,
      ],
      [['serve', 'vsock'], 2, /no VM: give --socket, --uds-path and --guest-cid, or --vm/],
      [['serve', 'vsock', '--vm', 'guest-cid=3,socket=/tmp/vq-never.sock'], 1, /--vm needs uds-path=/],
      [['serve', 'vsock', '--vm', 'guest-cid=3,sock=/tmp/a,uds-path=/tmp/b'], 1, /unknown --vm key sock/],
      [['serve', 'vsock', '--vm', 'guest-cid=1,socket=/tmp/a,uds-path=/tmp/b'], 1, /guest CID must be 3/],
      [
        [
          'serve',
          'vsock',
          '--vm',
          'guest-cid=3,socket=/tmp/a,uds-path=/tmp/b',
          '--vm',
          'guest-cid=3,socket=/tmp/c,uds-path=/tmp/d',
        ],
        2,
        /two VMs share a guest CID/,
      ],
      [['serve', 'net', '--socket', '/tmp/vq-never.sock', '--cpus', '1-0'], 1, /runs backwards/],
      [['serve', 'net', '--socket', '/tmp/vq-never.sock', '--threads', '0'], 1, /threads/],
      [['status'], 2, /say which daemon/],
      [['status', '--control', '/tmp/vq-never.ctl'], 2, /no daemon answers on \/tmp\/vq-never.ctl/],
      [
        ['net-wire', '--vhost-user', '/tmp/vq-a.sock', '--vhost-user', '/tmp/vq-never.sock'],
        2,
        /cannot connect .*vq-a\.sock/,
      ],
    ];
    for (const [args, code, message] of cases) {
      const r = vq(...args);
      expect(r.code, args.join(' ')).toBe(code);
      expect(r.err).toMatch(message);
    }
  });
});

describe('vq explain', () => {
  it('--port 0 serves the page on 127.0.0.1 (its three files, 404 for anything else) until SIGINT', async () => {
    const vq = new VqProcess(['explain', '--port', '0']);
    try {
      const line = await vq.waitFor(/serving http:\/\/127\.0\.0\.1:\d+\//);
      const base = /http:\/\/127\.0\.0\.1:\d+\//.exec(line)![0];
      const page = await fetch(base);
      expect(page.status).toBe(200);
      expect(await page.text()).toMatch(/IN_ORDER demystified/);
      const bundle = await fetch(`${base}explainer.js`);
      expect(bundle.headers.get('content-type')).toMatch(/javascript/);
      expect((await bundle.text()).length).toBeGreaterThan(10_000);
      expect((await fetch(`${base}../package.json`)).status).toBe(404);
    } finally {
      await vq.stop();
    }
    expect(vq.proc.exitCode).toBe(0);
  });

  it('--port out of range is refused, saying why', () => {
    const r = spawnSync(process.execPath, [VQ, 'explain', '--port', '70000'], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/port must be 0\.\.65535/);
  });
});
