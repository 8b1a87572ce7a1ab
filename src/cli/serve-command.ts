import { Command, Option } from 'commander';
import {
  VIRTIO_F_EVENT_IDX,
  VIRTIO_F_INDIRECT_DESC,
  VIRTIO_F_IN_ORDER,
  VIRTIO_F_RING_PACKED,
  VIRTIO_F_VERSION_1,
} from '../spec/features.js';
import { VhostUserBackend } from '../transport/vhost-user/backend.js';
import { TestService } from '../transport/vhost-user/test-service.js';
import { featureMask } from '../virtqueue/features.js';
import type { UsedEntryPolicy } from '../virtqueue/types.js';
import { positiveInt } from './run-command.js';

export function serveCommand(): Command {
  const serve = new Command('serve').description('Serve a vqkit device over vhost-user.');
  serve.addCommand(
    new Command('test')
      .description(
        'Serve the test device (what vhost_test is to virtio_test) on a vhost-user socket, one front-end at a time. ' +
          'Offers VERSION_1 and the ring features below; logs what each front-end negotiated. Stop with Ctrl-C.',
      )
      .requiredOption('--socket <path>', 'the vhost-user unix socket')
      .option('--client', 'connect to a front-end listening on the socket, instead of listening')
      .option('--in-order', 'offer VIRTIO_F_IN_ORDER (default)')
      .option('--no-in-order', 'do not offer IN_ORDER')
      .option('--packed', 'offer VIRTIO_F_RING_PACKED (default)')
      .option('--no-packed', 'do not offer RING_PACKED')
      .option('--indirect', 'offer INDIRECT_DESC (default)')
      .option('--no-indirect', 'do not offer INDIRECT_DESC')
      .option('--event-idx', 'offer EVENT_IDX (default)')
      .option('--no-event-idx', 'do not offer EVENT_IDX')
      .option('--queue-size <n>', 'largest queue size accepted', positiveInt('queue size'), 32768)
      .option('--queues <n>', 'queues offered (GET_QUEUE_NUM)', positiveInt('queues'), 1)
      .addOption(
        new Option('--used-entries <policy>', 'with IN_ORDER: one used entry per batch, or per buffer')
          .choices(['batched', 'per-buffer'])
          .default('batched'),
      )
      .option('--flush-every <n>', 'publish used buffers after at most n chains', positiveInt('flush every'), 64)
      .option('--busy-poll <us>', 'busy-poll this many microseconds for work before sleeping on a kick', Number, 0)
      .option('--no-verify-data', 'do not check or write data bytes (for drivers run with --no-verify-data)')
      .action(async (flags: Record<string, unknown>, cmd: Command) => {
        const bits = [VIRTIO_F_VERSION_1];
        if (flags.inOrder !== false) bits.push(VIRTIO_F_IN_ORDER);
        if (flags.packed !== false) bits.push(VIRTIO_F_RING_PACKED);
        if (flags.indirect !== false) bits.push(VIRTIO_F_INDIRECT_DESC);
        if (flags.eventIdx !== false) bits.push(VIRTIO_F_EVENT_IDX);
        const log = (line: string): void => void process.stdout.write(`vq serve test: ${line}\n`);
        const device = new TestService({
          features: featureMask(...bits),
          queues: flags.queues as number,
          maxQueueSize: flags.queueSize as number,
          usedEntries: flags.usedEntries as UsedEntryPolicy,
          flushEvery: flags.flushEvery as number,
          busyPollUs: flags.busyPoll as number,
          device: { verifyData: flags.verifyData !== false },
        });
        const backend = new VhostUserBackend({
          socketPath: flags.socket as string,
          client: flags.client === true,
          device,
          log,
        });
        const stop = (): void => void backend.close();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        await backend.serve();
        log('stopped');
        cmd.setOptionValue('exitCode', 0);
      }),
  );
  return serve;
}
