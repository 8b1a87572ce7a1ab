import type { FuzzTarget, Surface } from '../target.js';
import { netTarget } from './net.js';
import { ringDeviceTarget } from './ring-device.js';
import { ringDriverTarget } from './ring-driver.js';
import { vhostUserTarget } from './vhost-user.js';
import { vsockTarget } from './vsock.js';

/** Each surface's target. */
export const TARGETS: Record<Surface, FuzzTarget> = {
  'ring-device': ringDeviceTarget,
  'ring-driver': ringDriverTarget,
  'vhost-user': vhostUserTarget,
  net: netTarget,
  vsock: vsockTarget,
};

/** The compiled modules (under dist/) whose branches count as each surface's coverage. */
export const SURFACE_MODULES: Record<Surface, readonly string[]> = {
  'ring-device': ['virtqueue/', 'memory/'],
  'ring-driver': ['virtqueue/', 'memory/'],
  'vhost-user': [
    'transport/vhost-user/session.js',
    'transport/vhost-user/messages.js',
    'transport/vhost-user/reader.js',
    'transport/vhost-user/memory-check.js',
    'transport/vhost-user/memory-table.js',
  ],
  net: [
    'devices/net/frame.js',
    'devices/net/net-pair.js',
    'devices/net/net-control.js',
    'devices/net/net-state.js',
    'drivers/net/net-driver.js',
  ],
  vsock: ['devices/vsock/endpoint.js', 'devices/vsock/packet.js', 'devices/vsock/vsock-device.js'],
};
