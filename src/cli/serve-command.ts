import { closeSync } from 'node:fs';
import { DEFAULT_SPIN_US } from '../harness/options.js';
import { VSOCK_MIN_GUEST_CID } from '../spec/vsock.js';
import { VsockService } from '../devices/vsock/vsock-service.js';
import type { ServedDevice } from '../transport/vhost-user/served-device.js';
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseMac } from '../devices/net/frame.js';
import { openPcap } from '../devices/net/pcap.js';
import {
  NetService,
  NetSwitch,
  switchSlotBytes,
  type NetBackend,
  type RxUsedEntries,
} from '../devices/net/net-service.js';
import {
  VIRTIO_F_EVENT_IDX,
  VIRTIO_F_INDIRECT_DESC,
  VIRTIO_F_IN_ORDER,
  VIRTIO_F_RING_PACKED,
  VIRTIO_F_VERSION_1,
} from '../spec/features.js';
import {
  VhostUserDaemon,
  defaultControlPath,
  type DaemonPort,
  type Isolation,
} from '../transport/vhost-user/daemon.js';
import { VhostUserBackend } from '../transport/vhost-user/backend.js';
import { ThreadPool, type ThreadPoolOptions } from '../runtime/thread-pool.js';
import { TestService } from '../devices/test/test-service.js';
import { featureMask, type Features } from '../virtqueue/features.js';
import type { UsedEntryPolicy } from '../virtqueue/types.js';
import { positiveInt } from './run-command.js';

export function serveCommand(): Command {
  const serve = new Command('serve').description('Serve a vqkit device over vhost-user.');
  serve.addCommand(
    daemonOptions(
      ringFeatureOptions(
        new Command('test')
          .description(
            'Serve the test device (what vhost_test is to virtio_test) on a vhost-user socket, one front-end at a time. ' +
              'Offers VERSION_1 and the ring features below; logs what each front-end negotiated. Stop with Ctrl-C.',
          )
          .requiredOption('--socket <path>', 'the vhost-user unix socket')
          .option('--client', 'connect to a front-end listening on the socket, instead of listening'),
      ),
    )
      .option('--queue-size <n>', 'largest queue size accepted', positiveInt('queue size'), 32768)
      .option('--queues <n>', 'queues offered (GET_QUEUE_NUM)', positiveInt('queues'), 1)
      .addOption(
        new Option('--used-entries <policy>', 'with IN_ORDER: one used entry per batch, or per buffer')
          .choices(['batched', 'per-buffer'])
          .default('batched'),
      )
      .option('--flush-every <n>', 'publish used buffers after at most n chains', positiveInt('flush every'), 64)
      .option('--no-verify-data', 'do not check or write data bytes (for drivers run with --no-verify-data)')
      .action(async (flags: Record<string, unknown>, cmd: Command) => {
        const log = (line: string): void => void process.stdout.write(`vq serve test: ${line}\n`);
        const device = new TestService({
          features: offeredRingFeatures(flags),
          queues: flags.queues as number,
          maxQueueSize: flags.queueSize as number,
          usedEntries: flags.usedEntries as UsedEntryPolicy,
          flushEvery: flags.flushEvery as number,
          device: { verifyData: flags.verifyData !== false },
        });
        await serveOne(device, flags, log);
        cmd.setOptionValue('exitCode', 0);
      }),
  );
  serve.addCommand(netCommand());
  serve.addCommand(vsockCommand());
  return serve;
}

/** The ring features a served device offers: each on by default, each with a --no- flag. */
export function ringFeatureOptions(cmd: Command): Command {
  return cmd
    .option('--in-order', 'offer VIRTIO_F_IN_ORDER (default)')
    .option('--no-in-order', 'do not offer IN_ORDER')
    .option('--packed', 'offer VIRTIO_F_RING_PACKED (default)')
    .option('--no-packed', 'do not offer RING_PACKED')
    .option('--indirect', 'offer INDIRECT_DESC (default)')
    .option('--no-indirect', 'do not offer INDIRECT_DESC')
    .option('--event-idx', 'offer EVENT_IDX (default)')
    .option('--no-event-idx', 'do not offer EVENT_IDX');
}

/** VERSION_1 and the ring features the flags of ringFeatureOptions leave on. */
export function offeredRingFeatures(flags: Record<string, unknown>): Features {
  const bits = [VIRTIO_F_VERSION_1];
  if (flags.inOrder !== false) bits.push(VIRTIO_F_IN_ORDER);
  if (flags.packed !== false) bits.push(VIRTIO_F_RING_PACKED);
  if (flags.indirect !== false) bits.push(VIRTIO_F_INDIRECT_DESC);
  if (flags.eventIdx !== false) bits.push(VIRTIO_F_EVENT_IDX);
  return featureMask(...bits);
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

function backendArg(v: string): string {
  if (['loop', 'switch', 'sink', 'copy'].includes(v) || /^tap:[A-Za-z0-9_.-]{1,15}$/.test(v)) return v;
  throw new InvalidArgumentError('backend must be loop, switch, sink, copy or tap:NAME (NAME up to 15 characters)');
}

function macArg(v: string): Uint8Array {
  try {
    return parseMac(v);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

/** The pcap file of port i when several ports share one --pcap name: capture.pcap -> capture-port1.pcap. */
const pcapPathFor = (path: string, port: number, ports: number): string =>
  ports === 1 ? path : path.replace(/(\.pcap)?$/, (ext) => `-port${port}${ext}`);

function netCommand(): Command {
  return daemonOptions(
    ringFeatureOptions(
      new Command('net')
        .description(
          'Serve the virtio-net device (id 1) on one or more vhost-user sockets (one port each), for QEMU, DPDK ' +
            "virtio-user or vqkit's own driver. Offers MAC, MTU, STATUS, MRG_RXBUF, CTRL_VQ (RX mode, MAC filter, " +
            'MAC address, MQ) and MQ when --queues > 1; checksum and GSO offloads are not offered yet. Each queue pair ' +
            'runs on the data-plane threads (--threads). Logs what each front-end negotiated. Stop with Ctrl-C.',
        )
        .requiredOption('--socket <path>', 'a vhost-user unix socket; repeat for several ports', collect, [])
        .option(
          '--backend <kind>',
          'where frames go: loop (back on the same port, MACs swapped), switch (a learning switch joining all ' +
            'the sockets), tap:NAME (a host TAP interface, created if absent), sink (counted and dropped where it ' +
            'lies), copy (copied out of guest memory into a buffer, as DPDK does into an mbuf, then dropped)',
          backendArg,
          'loop',
        )
        .option('--mac <mac>', "the first port's MAC (later ports count up from it)", macArg)
        .option('--queues <n>', 'queue pairs per port (MQ when more than 1)', positiveInt('queues'), 1)
        .option('--mtu <n>', 'the MTU in config space (VIRTIO_NET_F_MTU)', positiveInt('mtu'), 1500),
    ),
  )
    .option('--mrg-rxbuf', 'offer VIRTIO_NET_F_MRG_RXBUF (default)')
    .option('--no-mrg-rxbuf', 'do not offer mergeable receive buffers')
    .addOption(
      new Option(
        '--rx-used-entries <policy>',
        'with IN_ORDER, receive completions: auto (one used entry per buffer, which DPDK needs: docs/net.md), batched (one per run of full buffers), per-buffer',
      )
        .choices(['auto', 'batched', 'per-buffer'])
        .default('auto'),
    )
    .option('--pcap <file>', 'write every frame of the port to this pcap file (several ports: FILE-portN.pcap)')
    .option('--client', 'connect to a front-end listening on the socket (DPDK virtio-user server=1)')
    .option('--queue-size <n>', 'largest queue size accepted', positiveInt('queue size'), 32768)
    .action(async (flags: Record<string, unknown>, cmd: Command) => {
      const sockets = flags.socket as string[];
      const backendFlag = flags.backend as string;
      if (
        flags.isolation === 'process' &&
        (backendFlag === 'switch' || backendFlag.startsWith('tap:') || flags.pcap !== undefined)
      ) {
        cmd.error(
          'error: --isolation process serves the loop, sink and copy backends without --pcap (a switch, a TAP interface ' +
            "or a capture file would be shared between the front-ends' processes)",
          { exitCode: 2 },
        );
      }
      if (backendFlag.startsWith('tap:') && sockets.length > 1) {
        // cmd.error prints the message (a CommanderError thrown here would end the command silently).
        cmd.error('error: a tap backend serves one socket (run one daemon per TAP interface)', { exitCode: 2 });
      }
      const mtu = flags.mtu as number;
      const sw = backendFlag === 'switch' ? new NetSwitch(switchSlotBytes(mtu)) : null;
      const baseMac = (flags.mac as Uint8Array | undefined) ?? parseMac('52:54:00:12:34:56');
      const ports: DaemonPort[] = [];
      const services: NetService[] = [];
      const pcapFds: number[] = [];
      sockets.forEach((socketPath, port) => {
        const name = `net${port}`;
        const log = (line: string): void => void process.stdout.write(`vq serve net: ${name}: ${line}\n`);
        const mac = Uint8Array.from(baseMac);
        mac[5] = (mac[5] + port) & 0xff;
        const pcap = flags.pcap as string | undefined;
        const pcapFd = pcap === undefined ? -1 : openPcap(pcapPathFor(pcap, port, sockets.length));
        if (pcapFd >= 0) pcapFds.push(pcapFd);
        const backend: NetBackend =
          sw !== null
            ? { kind: 'switch', switch: sw }
            : backendFlag.startsWith('tap:')
              ? { kind: 'tap', name: backendFlag.slice(4) }
              : { kind: backendFlag as 'loop' | 'sink' | 'copy' };
        const device = new NetService({
          name,
          ringFeatures: offeredRingFeatures(flags),
          mac,
          mtu,
          pairs: flags.queues as number,
          mergeable: flags.mrgRxbuf !== false,
          backend,
          pcapFd,
          maxQueueSize: flags.queueSize as number,
          rxUsedEntries: flags.rxUsedEntries as RxUsedEntries,
        });
        services.push(device);
        ports.push({ socketPath, client: flags.client === true, device, log });
      });
      await serveUntilSignalled(ports, flags, (line) => void process.stdout.write(`vq serve net: ${line}\n`));
      services.forEach((s) => s.close());
      sw?.close();
      pcapFds.forEach((fd) => closeSync(fd));
      process.stdout.write('vq serve net: stopped\n');
      cmd.setOptionValue('exitCode', 0);
    });
}

function guestCidArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < VSOCK_MIN_GUEST_CID || n > 0xffff_fffe)
    throw new InvalidArgumentError(`guest CID must be ${VSOCK_MIN_GUEST_CID}..4294967294 (0-2 are reserved)`);
  return n;
}

interface VmSpec {
  socket: string;
  udsPath: string;
  guestCid: number;
  groups: string[];
}

/** --vm guest-cid=C,socket=S,uds-path=U[,groups=G1+G2] (vhost-device-vsock's form). */
function vmArg(v: string, prev: VmSpec[]): VmSpec[] {
  const fields = new Map<string, string>();
  for (const part of v.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) throw new InvalidArgumentError(`'${part}' is not key=value (want guest-cid=C,socket=S,uds-path=U)`);
    fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const unknown = [...fields.keys()].filter((k) => !['guest-cid', 'socket', 'uds-path', 'groups'].includes(k));
  if (unknown.length > 0)
    throw new InvalidArgumentError(`unknown --vm key ${unknown.join(', ')} (guest-cid, socket, uds-path, groups)`);
  const groups = (fields.get('groups') ?? '').split('+').filter((g) => g !== '');
  const bad = groups.find((g) => !/^[A-Za-z0-9_.-]{1,64}$/.test(g));
  if (bad !== undefined) throw new InvalidArgumentError(`bad group name '${bad}' (letters, digits, _ . -; up to 64)`);
  for (const k of ['guest-cid', 'socket', 'uds-path'])
    if (!fields.get(k)) throw new InvalidArgumentError(`--vm needs ${k}= (guest-cid=C,socket=S,uds-path=U)`);
  return [
    ...prev,
    {
      guestCid: guestCidArg(fields.get('guest-cid')!),
      socket: fields.get('socket')!,
      udsPath: fields.get('uds-path')!,
      groups,
    },
  ];
}

function vsockCommand(): Command {
  return daemonOptions(
    ringFeatureOptions(
      new Command('vsock')
        .description(
          "Serve the virtio-vsock device (id 19) on a vhost-user socket, for QEMU (vhost-user-vsock-pci) or vqkit's " +
            'own driver: stream sockets with credit flow control, the guest CID in config space. Host side as in ' +
            'Firecracker and vhost-device-vsock: a host program connects to --uds-path, writes "CONNECT <port>\\n" and ' +
            'reads "OK <host port>\\n", then streams to that guest port; a guest connecting to host port P is joined ' +
            'to the unix socket <uds-path>_P (RST if nobody listens there). One daemon serves several VMs: repeat ' +
            '--vm guest-cid=C,socket=S,uds-path=U[,groups=G1+G2] (as vhost-device-vsock), each with its own socket, ' +
            'CID and host socket. VMs that share a group reach each other by CID (sibling VMs); by default a VM is ' +
            'in no group. Seqpacket sockets (VIRTIO_VSOCK_F_SEQPACKET) are offered: a guest connecting to host port ' +
            'P with one is joined to a SOCK_SEQPACKET unix socket at <uds-path>_P, message for message. Stop with Ctrl-C.',
        )
        .option('--socket <path>', 'the vhost-user unix socket (one VM; or use --vm)')
        .option('--uds-path <path>', 'the unix socket host programs connect to (and the prefix of <path>_P)')
        .option('--guest-cid <n>', "the guest's CID, served in config space", guestCidArg)
        .option(
          '--vm <spec>',
          'a VM: guest-cid=C,socket=S,uds-path=U, and groups=G1+G2 to reach the VMs sharing a group; repeat for several',
          vmArg,
          [],
        )
        .option(
          '--seqpacket',
          'offer VIRTIO_VSOCK_F_SEQPACKET (default): message-bound sockets, between VMs and to the host',
        )
        .option('--no-seqpacket', 'offer stream sockets only'),
    ),
  )
    .option('--client', 'connect to a front-end listening on the socket, instead of listening')
    .option('--queue-size <n>', 'largest queue size accepted', positiveInt('queue size'), 32768)
    .action(async (flags: Record<string, unknown>, cmd: Command) => {
      const vms = [...(flags.vm as VmSpec[])];
      const single = [flags.socket, flags.udsPath, flags.guestCid];
      if (single.some((v) => v !== undefined)) {
        if (single.some((v) => v === undefined))
          cmd.error('error: --socket, --uds-path and --guest-cid go together (or use --vm)', { exitCode: 2 });
        vms.unshift({
          socket: flags.socket as string,
          udsPath: flags.udsPath as string,
          guestCid: flags.guestCid as number,
          groups: [],
        });
      }
      if (vms.length === 0)
        cmd.error('error: no VM: give --socket, --uds-path and --guest-cid, or --vm', { exitCode: 2 });
      if (flags.isolation === 'process' && vms.some((vm) => vm.groups.length > 0)) {
        cmd.error(
          'error: --isolation process serves each VM in a process of its own, so VMs cannot reach each other: groups= needs the shared daemon',
          { exitCode: 2 },
        );
      }
      for (const key of ['socket', 'udsPath', 'guestCid'] as const) {
        const seen = new Set(vms.map((v) => v[key]));
        if (seen.size !== vms.length)
          cmd.error(
            `error: two VMs share a ${key === 'udsPath' ? 'uds-path' : key === 'guestCid' ? 'guest CID' : 'socket'}`,
            { exitCode: 2 },
          );
      }
      const ports = vms.map((vm) => {
        const prefix = vms.length === 1 ? 'vq serve vsock' : `vq serve vsock: cid ${vm.guestCid}`;
        const log = (line: string): void => void process.stdout.write(`${prefix}: ${line}\n`);
        const device = new VsockService({
          ringFeatures: offeredRingFeatures(flags),
          guestCid: vm.guestCid,
          groups: vm.groups,
          seqpacket: flags.seqpacket !== false,
          udsPath: vm.udsPath,
          maxQueueSize: flags.queueSize as number,
        });
        return { socketPath: vm.socket, client: flags.client === true, device, log };
      });
      const log = (line: string): void => void process.stdout.write(`vq serve vsock: ${line}\n`);
      await serveUntilSignalled(ports, flags, log);
      log('stopped');
      cmd.setOptionValue('exitCode', 0);
    });
}

/** Serves `device` on --socket (listening, or connecting with --client) until SIGINT or SIGTERM. */
async function serveOne(device: ServedDevice, flags: Record<string, unknown>, log: (line: string) => void) {
  await serveUntilSignalled(
    [{ socketPath: flags.socket as string, client: flags.client === true, device, log }],
    flags,
    log,
  );
  log('stopped');
}

/** Serves the ports until SIGINT or SIGTERM, then stops every port (their queues finish) and the data plane. */
async function serveUntilSignalled(
  ports: readonly DaemonPort[],
  flags: Record<string, unknown>,
  log: (line: string) => void,
): Promise<void> {
  const pool = {
    threads: flags.threads as number | undefined,
    cpus: flags.cpus as number[] | undefined,
    busyPollUs: flags.busyPoll as number,
  };
  if (flags.sessionFd !== undefined) return serveSession(ports, flags, pool, log);
  const daemon = new VhostUserDaemon({
    ports,
    pool,
    isolation: flags.isolation as Isolation,
    // A session child is this same command with the connection as its fd 3.
    sessionArgv: (port) => [
      process.argv[1],
      ...process.argv.slice(2),
      '--session-fd',
      '3',
      '--session-port',
      String(port),
    ],
    controlPath:
      flags.control === false
        ? null
        : ((flags.control as string | undefined) ?? defaultControlPath(ports[0].socketPath)),
    log,
  });
  const stop = (): void => void daemon.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await daemon.serve();
}

/** A session child (--isolation process): serves the one connection it was given on port --session-port, then exits. */
async function serveSession(
  ports: readonly DaemonPort[],
  flags: Record<string, unknown>,
  pool: ThreadPoolOptions,
  log: (line: string) => void,
): Promise<void> {
  const port = ports[flags.sessionPort as number];
  if (port === undefined) throw new RangeError(`--session-port ${String(flags.sessionPort)}: no such port`);
  const backend = new VhostUserBackend({ ...port, client: false, pool: new ThreadPool({ ...pool, log }) });
  const stop = (): void => void backend.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await backend.serveConnection(flags.sessionFd as number);
  } finally {
    await backend.options.pool!.close();
  }
}

/** The daemon's options for its data plane, common to every device. */
function daemonOptions(cmd: Command): Command {
  return cmd
    .option(
      '--threads <n>',
      'data-plane threads; each serves many queues, asleep until one is kicked (default: the CPUs this process may use)',
      positiveInt('threads'),
    )
    .option('--cpus <list>', 'pin the data-plane threads to these CPUs, in turn (e.g. 0-1 or 0,2)', cpuListArg)
    .option(
      '--busy-poll <us>',
      'a queue with nothing to do is busy-polled up to this many microseconds before it sleeps (the spin adapts: ' +
        'it halves when it finds nothing, grows back when it does); 0: sleep at once',
      Number,
      DEFAULT_SPIN_US,
    )
    .option('--control <path>', 'the control socket `vq status` asks (default: the first --socket with .ctl added)')
    .option('--no-control', 'no control socket')
    .addOption(
      new Option(
        '--isolation <mode>',
        'thread: every front-end served in this process (memory it cannot seal is trusted not to shrink); process: ' +
          'each front-end served by a child process of its own, so a front-end that truncates its memory (or any ' +
          'fault it provokes) ends only its own child',
      )
        .choices(['thread', 'process'])
        .default('thread'),
    )
    .addOption(
      new Option('--session-fd <n>', 'internal: serve the connection on this fd and exit').argParser(Number).hideHelp(),
    )
    .addOption(
      new Option('--session-port <n>', 'internal: the port that connection belongs to').argParser(Number).hideHelp(),
    );
}

/** "0-3,6" as [0, 1, 2, 3, 6]. */
function cpuListArg(v: string): number[] {
  const cpus: number[] = [];
  for (const part of v.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (m === null) throw new InvalidArgumentError('a CPU list is numbers and ranges, as 0-1 or 0,2');
    const [from, to] = [Number(m[1]), Number(m[2] ?? m[1])];
    if (to < from) throw new InvalidArgumentError(`CPU range ${part} runs backwards`);
    for (let c = from; c <= to; c++) cpus.push(c);
  }
  return cpus;
}
