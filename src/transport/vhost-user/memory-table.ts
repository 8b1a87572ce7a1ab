import { GuestMemory } from '../../memory/guest-memory.js';
import { Mapping } from '../../os/mapping.js';
import type { MemoryRegion } from './messages.js';

/** A region of the front-end's memory table with the fd it came with (owned by the session that received it). */
export interface SharedRegion extends MemoryRegion {
  fd: number;
}

/**
 * Maps every region of a memory table (each fd from its start through mmap_offset + size, since mmap offsets must be
 * page-aligned and mmap_offset need not be) and returns guest memory over them. The caller closes the mappings.
 */
export function mapMemoryTable(regions: readonly SharedRegion[]): { memory: GuestMemory; mappings: Mapping[] } {
  const mappings: Mapping[] = [];
  try {
    for (const r of regions) mappings.push(Mapping.map(r.fd, r.mmapOffset + r.size));
    const memory = new GuestMemory(
      regions.map((r, i) => ({
        guestAddr: r.guestAddr,
        size: r.size,
        buffer: mappings[i].buffer,
        offset: r.mmapOffset,
      })),
    );
    return { memory, mappings };
  } catch (e) {
    mappings.forEach((m) => m.close());
    throw e;
  }
}

/** A front-end (user) address as a guest physical address, or null if no region holds `len` bytes there. */
export function userToGuest(regions: readonly MemoryRegion[], userAddr: number, len: number): number | null {
  for (const r of regions) {
    if (userAddr >= r.userAddr && userAddr + len <= r.userAddr + r.size) return userAddr - r.userAddr + r.guestAddr;
  }
  return null;
}
