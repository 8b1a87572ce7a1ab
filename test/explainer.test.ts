import { describe, expect, it } from 'vitest';
import { descriptorCells, entryText, headerText } from '../src/explainer/format.js';
import { DEFAULT_CONFIG, QueueModel, type ExplainerConfig } from '../src/explainer/model.js';

// The explainer's model is vqkit's engine stepped by hand; what it shows is decoded from guest memory. These check
// that what it shows is what the spec says each step writes.

const model = (c: Partial<ExplainerConfig>): QueueModel => new QueueModel({ ...DEFAULT_CONFIG, ...c });

describe('the explainer model (vqkit engine over one ArrayBuffer)', () => {
  it("split, IN_ORDER, batched: sequential descriptors, one used entry at the batch's first slot naming its last head", () => {
    const m = model({ ring: 'split', inOrder: true, usedEntries: 'batched', queueSize: 8 });
    const steps = m.run(4, 2);
    const s = m.snapshot();
    // Four buffers of two descriptors each, in ring order: next = x + 1, wrapping to 0 (the driver writes it even where
    // NEXT is clear and the device ignores it); heads 0, 2, 4, 6 in the avail ring.
    expect(s.descriptors.map((d) => d.fields.next)).toEqual([1, 2, 3, 4, 5, 6, 7, 0]);
    expect(s.descriptors.map((d) => d.fields.flags & 1)).toEqual([1, 0, 1, 0, 1, 0, 1, 0]);
    expect(s.driverArea.entries.slice(0, 4).map((e) => e.fields.id)).toEqual([0, 2, 4, 6]);
    expect(s.driverArea.header.fields.idx).toBe(4);
    // One used entry, at slot 0 (the first buffer's), with the last buffer's head; used idx moved by 4.
    expect(s.deviceArea.header.fields.idx).toBe(4);
    expect(s.deviceArea.entries[0].fields).toEqual({ id: 6, len: 64 });
    expect(s.deviceArea.entries[1].fields).toEqual({ id: 0, len: 0 });
    expect(s.counters).toMatchObject({
      buffersAdded: 4,
      usedEntriesWritten: 1,
      usedEntriesRead: 1,
      buffersReclaimed: 4,
    });
    expect(steps.flatMap((r) => r.rules)).toEqual(
      expect.arrayContaining(['split-sequential', 'split-next', 'device-in-order', 'split-batch', 'skipped-in-full']),
    );
  });

  it('split without IN_ORDER: one used entry per buffer', () => {
    const m = model({ ring: 'split', inOrder: false, queueSize: 8 });
    m.run(4, 2);
    const s = m.snapshot();
    expect(s.deviceArea.entries.slice(0, 4).map((e) => e.fields.id)).toEqual([0, 2, 4, 6]);
    expect(s.counters).toMatchObject({ usedEntriesWritten: 4, usedEntriesRead: 4 });
  });

  it('split, IN_ORDER, per-buffer used entries: one per buffer even though order is kept', () => {
    const m = model({ ring: 'split', inOrder: true, usedEntries: 'per-buffer', queueSize: 8 });
    m.run(4, 1);
    expect(m.snapshot().counters.usedEntriesWritten).toBe(4);
  });

  it("packed, IN_ORDER, batched: the used descriptor overwrites the batch's first, with the last Buffer ID; the wrap counters flip after a full ring", () => {
    const m = model({ ring: 'packed', inOrder: true, queueSize: 8 });
    m.run(4, 2);
    const s = m.snapshot();
    // Four chains of two descriptors fill the ring of eight: position 0 now holds the used descriptor of the batch.
    expect(s.descriptors[0].fields.id).toBe(3);
    expect(descriptorCells(s, s.descriptors[0]).at(-1)).toBe('used');
    expect(descriptorCells(s, s.descriptors[2]).at(-1)).toBe('available');
    expect(s.wrap).toEqual({ driver: 0, driverNext: 0, device: 0, deviceNext: 0 });
    expect(s.counters).toMatchObject({ usedEntriesWritten: 1, buffersReclaimed: 4, driverRingSlotsWritten: 8 });
  });

  it('INDIRECT_DESC: a buffer of several segments takes one ring descriptor and a sequential table', () => {
    const m = model({ ring: 'split', inOrder: true, indirect: true, queueSize: 8 });
    const r = m.add(3);
    const s = m.snapshot();
    expect(s.descriptors[0].fields.flags & 4).toBe(4);
    expect(s.descriptors[0].fields.len).toBe(3 * 16);
    expect(s.counters.driverDescriptorsWritten).toBe(4);
    expect(r.rules).toContain('indirect-sequential');
  });

  it('EVENT_IDX: the driver asks for an interrupt only at used_event; a second flush before it reads is not interrupted', () => {
    const m = model({ ring: 'split', inOrder: true, eventIdx: true, queueSize: 8 });
    m.add(1);
    m.add(1);
    m.kick();
    m.take();
    m.complete();
    expect(m.flush().text).toMatch(/interrupted the driver/);
    m.take();
    m.complete();
    expect(m.flush().text).toMatch(/no interrupt/);
    expect(m.snapshot().counters).toMatchObject({ interruptsSent: 1, interruptsSuppressed: 1 });
  });

  it('a step marks exactly the slots its bytes changed', () => {
    const m = model({ ring: 'split', inOrder: true, queueSize: 8 });
    m.add(2);
    m.kick();
    let s = m.snapshot();
    expect(s.driverArea.header.changed).toBe(true);
    expect(s.descriptors.filter((d) => d.changed)).toHaveLength(0);
    m.take();
    m.complete();
    m.flush();
    s = m.snapshot();
    expect(s.deviceArea.entries.filter((e) => e.changed).map((e) => e.index)).toEqual([0]);
    expect(s.descriptors.filter((d) => d.changed)).toHaveLength(0);
  });

  it('the same steps give the same page text, run after run (the browser test compares the DOM with this)', () => {
    const text = (): string[] => {
      const m = model({ ring: 'packed', inOrder: true, queueSize: 8 });
      m.run(3, 2);
      m.add(1);
      m.kick();
      const s = m.snapshot();
      return [
        ...s.descriptors.map((d) => descriptorCells(s, d).join('|')),
        headerText(s.driverArea.header),
        headerText(s.deviceArea.header),
        ...s.deviceArea.entries.map(entryText),
      ];
    };
    expect(text()).toEqual(text());
  });
});
