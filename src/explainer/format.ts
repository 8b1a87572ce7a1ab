// How the explainer writes a slot and a counter: shared by the page (DOM) and the tests (Node), so that the two can
// be compared text for text.
import type { Counters, Slot, Snapshot } from './model.js';

const hex = (n: number): string => `0x${n.toString(16)}`;

/** Split descriptor flags: NEXT, WRITE, INDIRECT. Packed adds AVAIL (bit 7) and USED (bit 15). */
export function flagNames(flags: number): string {
  const names: string[] = [];
  if (flags & 1) names.push('N');
  if (flags & 2) names.push('W');
  if (flags & 4) names.push('I');
  if (flags & 0x80) names.push('A');
  if (flags & 0x8000) names.push('U');
  return names.join(' ') || '-';
}

/**
 * What a packed descriptor's AVAIL and USED bits say: they differ on an available descriptor and are equal on a used
 * one (both 1 in a lap the wrap counters are 1, both 0 in the next). A slot never written says nothing.
 */
export function packedState(flags: number, written: boolean): 'available' | 'used' | '' {
  if (!written) return '';
  return ((flags >> 7) & 1) !== ((flags >> 15) & 1) ? 'available' : 'used';
}

/** One descriptor as a table row's cells. */
export function descriptorCells(s: Snapshot, d: Slot): string[] {
  const f = d.fields;
  if (s.config.ring === 'split') {
    return [String(d.index), f.addr === 0 ? '-' : hex(f.addr), String(f.len), flagNames(f.flags), String(f.next)];
  }
  return [
    String(d.index),
    f.addr === 0 ? '-' : hex(f.addr),
    String(f.len),
    String(f.id),
    flagNames(f.flags),
    packedState(f.flags, f.addr !== 0 || f.len !== 0 || f.flags !== 0),
  ];
}

/** The column heads for descriptorCells(). */
export function descriptorHeads(s: Snapshot): string[] {
  return s.config.ring === 'split'
    ? ['#', 'addr', 'len', 'flags', 'next']
    : ['#', 'addr', 'len', 'Buffer ID', 'flags', 'state'];
}

/** A ring header (split avail or used ring; packed event suppression) as "name value" pairs. */
export function headerText(h: Slot): string {
  return Object.entries(h.fields)
    .map(([k, v]) => `${k} ${v}`)
    .join('  ');
}

/** One avail or used ring entry. */
export function entryText(e: Slot): string {
  return 'len' in e.fields ? `id ${e.fields.id} len ${e.fields.len}` : `${e.fields.id}`;
}

/** The counters the page shows, in order, with their labels. */
export const COUNTER_LABELS: [keyof Counters, string][] = [
  ['buffersAdded', 'buffers added'],
  ['driverDescriptorsWritten', 'descriptors the driver wrote'],
  ['driverRingSlotsWritten', 'ring slots the driver wrote'],
  ['kicksSent', 'kicks sent'],
  ['kicksSuppressed', 'kicks suppressed'],
  ['chainsTaken', 'chains the device took'],
  ['buffersUsed', 'buffers used'],
  ['usedEntriesWritten', 'used entries the device wrote'],
  ['interruptsSent', 'interrupts sent'],
  ['interruptsSuppressed', 'interrupts suppressed'],
  ['buffersReclaimed', 'buffers the driver took back'],
  ['usedEntriesRead', 'used entries the driver read'],
];
