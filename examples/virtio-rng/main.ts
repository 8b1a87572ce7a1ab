#!/usr/bin/env node
// vq-rng: serves the virtio-rng example over vhost-user, e.g. to QEMU's vhost-user-rng-pci.
import { parseArgs } from 'node:util';
import { VhostUserDaemon, featureMask, RING_FEATURES, VIRTIO_F_IN_ORDER, VIRTIO_F_RING_PACKED } from 'vqkit';
import { RngDevice } from './rng-device.js';

const HELP = `usage: node examples/virtio-rng/dist/main.js --socket PATH [options]

Serves a virtio-rng device (id 4) on a vhost-user socket. Each buffer the guest's driver
posts is filled with random bytes. QEMU: -chardev socket,id=rng,path=PATH
  -device vhost-user-rng-pci,chardev=rng[,in_order=on][,packed=on]

  --socket PATH     the vhost-user socket to listen on (required)
  --no-in-order     do not offer VIRTIO_F_IN_ORDER
  --no-packed       do not offer VIRTIO_F_RING_PACKED
  --record FILE     append every byte given to the guest to FILE
  --threads N       data-plane threads (default: the CPUs)
  --help            this text`;

const { values: flags } = parseArgs({
  options: {
    socket: { type: 'string' },
    'no-in-order': { type: 'boolean' },
    'no-packed': { type: 'boolean' },
    record: { type: 'string' },
    threads: { type: 'string' },
    help: { type: 'boolean' },
  },
});
if (flags.help === true || flags.socket === undefined) {
  console.log(HELP);
  process.exit(flags.help === true ? 0 : 2);
}
const threads = flags.threads === undefined ? undefined : Number(flags.threads);
if (threads !== undefined && !(Number.isInteger(threads) && threads > 0)) {
  console.error(`vq-rng: --threads must be a positive integer, not '${flags.threads}'`);
  process.exit(2);
}

let features = RING_FEATURES;
if (flags['no-in-order'] === true) features &= ~featureMask(VIRTIO_F_IN_ORDER);
if (flags['no-packed'] === true) features &= ~featureMask(VIRTIO_F_RING_PACKED);
const log = (line: string): void => void process.stdout.write(`vq-rng: ${line}\n`);
const daemon = new VhostUserDaemon({
  ports: [{ socketPath: flags.socket, device: new RngDevice({ features, recordPath: flags.record ?? null }), log }],
  pool: { threads },
  isolation: 'thread',
  controlPath: null,
  log,
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void daemon.close());
await daemon.serve();
