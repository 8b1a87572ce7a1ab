import { closeSync, openSync, writeSync } from 'node:fs';

const PCAP_MAGIC = 0xa1b2c3d4;
const LINKTYPE_ETHERNET = 1;
const SNAPLEN = 65535;
const RECORD_HEADER = 16;

/**
 * Creates (truncates) a pcap file and writes its global header (microsecond timestamps, Ethernet). Returns the fd:
 * opened for appending, so the worker threads of a port can each add whole records with one write.
 */
export function openPcap(path: string): number {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(PCAP_MAGIC, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(SNAPLEN, 16);
  header.writeUInt32LE(LINKTYPE_ETHERNET, 20);
  const created = openSync(path, 'w');
  writeSync(created, header);
  closeSync(created);
  return openSync(path, 'a');
}

/** Appends one frame as a pcap record (header and bytes in one write, so records from several threads never mix). */
export function writePcapRecord(fd: number, frame: Uint8Array, offset: number, length: number): void {
  const record = Buffer.allocUnsafe(RECORD_HEADER + length);
  // Seconds and microseconds from one reading of one clock, so they agree.
  const usecs = Math.floor((performance.timeOrigin + performance.now()) * 1000);
  record.writeUInt32LE(Math.floor(usecs / 1_000_000), 0);
  record.writeUInt32LE(usecs % 1_000_000, 4);
  record.writeUInt32LE(length, 8);
  record.writeUInt32LE(length, 12);
  record.set(frame.subarray(offset, offset + length), RECORD_HEADER);
  writeSync(fd, record);
}
