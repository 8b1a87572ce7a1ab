// The "IN_ORDER demystified" page: controls, keyboard, and drawing the model's snapshot. Browser only (DOM); the
// model it drives is vqkit's real engine (model.ts), built into the page's bundle by esbuild.
import { COUNTER_LABELS, descriptorCells, descriptorHeads, entryText, headerText } from './format.js';
import {
  DEFAULT_CONFIG,
  MAX_SEGMENTS,
  QueueModel,
  type ExplainerConfig,
  type Snapshot,
  type StepResult,
} from './model.js';
import { RULES, type RuleId } from './rules.js';
import { FIGURES } from './figures.js';

interface PageState {
  config: ExplainerConfig;
  segments: number;
  runCount: number;
  /** Side by side: the same steps on a second queue with IN_ORDER off. */
  sideBySide: boolean;
  models: QueueModel[];
  log: string[];
  rules: RuleId[];
}

const $ = <T extends HTMLElement>(sel: string): T => document.querySelector<T>(sel)!;

const state: PageState = {
  config: { ...DEFAULT_CONFIG },
  segments: 2,
  runCount: 4,
  sideBySide: false,
  models: [],
  log: [],
  rules: [],
};

/** (Re)creates the queue(s) from the configuration: a fresh ring, nothing added. */
function reset(): void {
  const c = state.config;
  state.models = [new QueueModel(c)];
  if (state.sideBySide) state.models.push(new QueueModel({ ...c, inOrder: !c.inOrder }));
  state.log = [];
  state.rules = [];
  render();
}

/** Applies one step to every queue shown; the first queue's result is logged and its rules quoted. */
function step(apply: (m: QueueModel) => StepResult | StepResult[]): void {
  const results = state.models.map((m) => [apply(m)].flat());
  const mine = results[0];
  state.log.push(...mine.map((r) => r.text));
  state.rules = [...new Set(mine.flatMap((r) => r.rules))];
  render();
}

const STEPS: Record<string, () => void> = {
  add: () => step((m) => m.add(state.segments)),
  kick: () => step((m) => m.kick()),
  take: () => step((m) => m.take()),
  complete: () => step((m) => m.complete()),
  flush: () => step((m) => m.flush()),
  reclaim: () => step((m) => m.reclaim()),
  run: () => step((m) => m.run(state.runCount, state.segments)),
  reset,
};

/** Keyboard: each step and toggle has a key (shown on its button). */
const KEYS: Record<string, () => void> = {
  a: STEPS.add,
  k: STEPS.kick,
  t: STEPS.take,
  c: STEPS.complete,
  f: STEPS.flush,
  r: STEPS.reclaim,
  n: STEPS.run,
  x: STEPS.reset,
  i: () => toggle('inOrder'),
  b: () => setConfig({ usedEntries: state.config.usedEntries === 'batched' ? 'per-buffer' : 'batched' }),
  d: () => toggle('indirect'),
  e: () => toggle('eventIdx'),
  p: () => setConfig({ ring: state.config.ring === 'split' ? 'packed' : 'split' }),
  s: () => {
    state.sideBySide = !state.sideBySide;
    reset();
  },
  '+': () => setSegments(state.segments + 1),
  '-': () => setSegments(state.segments - 1),
};

function toggle(key: 'inOrder' | 'indirect' | 'eventIdx'): void {
  setConfig({ [key]: !state.config[key] });
}

function setConfig(change: Partial<ExplainerConfig>): void {
  state.config = { ...state.config, ...change };
  reset();
}

function setSegments(n: number): void {
  state.segments = Math.max(1, Math.min(MAX_SEGMENTS, n));
  render();
}

/** Makes an element with text (never HTML: every value shown is text). */
function el(tag: string, text?: string, attrs: Record<string, string> = {}): HTMLElement {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function table(
  heads: string[],
  rows: { cells: string[]; changed: boolean; attrs: Record<string, string> }[],
): HTMLElement {
  const t = el('table');
  const head = el('tr');
  heads.forEach((h) => head.append(el('th', h)));
  t.append(head);
  for (const r of rows) {
    const tr = el('tr', undefined, r.attrs);
    if (r.changed) tr.className = 'changed';
    r.cells.forEach((c) => tr.append(el('td', c)));
    t.append(tr);
  }
  return t;
}

/** One queue: its memory (slot by slot, from the bytes) and its counters. */
function renderQueue(s: Snapshot, which: number): HTMLElement {
  const box = el('section', undefined, { class: 'queue', 'data-model': String(which) });
  box.append(el('h2', `${s.config.ring} ring, IN_ORDER ${s.config.inOrder ? 'on' : 'off'}`));
  box.append(el('p', `negotiated: ${s.features}`, { class: 'features' }));
  const mem = el('div', undefined, { class: 'memory' });
  const descTitle = s.config.ring === 'split' ? 'Descriptor table' : 'Descriptor ring';
  const descBox = el('div', undefined, { class: 'area' });
  descBox.append(el('h3', descTitle));
  descBox.append(
    table(
      descriptorHeads(s),
      s.descriptors.map((d) => ({
        cells: descriptorCells(s, d),
        changed: d.changed,
        attrs: { 'data-area': 'desc', 'data-index': String(d.index) },
      })),
    ),
  );
  mem.append(descBox);
  const areas: [string, 'driver' | 'device', Snapshot['driverArea']][] =
    s.config.ring === 'split'
      ? [
          ['Available ring (driver area)', 'driver', s.driverArea],
          ['Used ring (device area)', 'device', s.deviceArea],
        ]
      : [
          ['Driver event suppression', 'driver', s.driverArea],
          ['Device event suppression', 'device', s.deviceArea],
        ];
  for (const [title, key, area] of areas) {
    const box2 = el('div', undefined, { class: 'area' });
    box2.append(el('h3', title));
    box2.append(
      el('p', headerText(area.header), {
        class: area.header.changed ? 'header changed' : 'header',
        'data-area': `${key}-header`,
      }),
    );
    if (area.entries.length > 0) {
      box2.append(
        table(
          ['#', key === 'driver' ? 'head' : 'used entry'],
          area.entries.map((e) => ({
            cells: [String(e.index), entryText(e)],
            changed: e.changed,
            attrs: { 'data-area': key, 'data-index': String(e.index) },
          })),
        ),
      );
    }
    mem.append(box2);
  }
  if (s.wrap !== null) {
    const w = s.wrap;
    mem.append(
      el(
        'p',
        `driver: wrap counter ${w.driver}, next descriptor ${w.driverNext} · device: wrap counter ${w.device}, next used position ${w.deviceNext}`,
        { class: 'wrap', 'data-area': 'wrap' },
      ),
    );
  }
  box.append(mem);
  box.append(
    el(
      'p',
      `in flight ${s.inFlight} · taken by the device ${s.taken} · completed, not yet published ${s.completedUnflushed}`,
      { class: 'inflight' },
    ),
  );
  const counters = el('dl', undefined, { class: 'counters' });
  for (const [key, label] of COUNTER_LABELS) {
    counters.append(el('dt', label));
    counters.append(el('dd', String(s.counters[key]), { 'data-counter': key }));
  }
  box.append(counters);
  return box;
}

function render(): void {
  const c = state.config;
  $('#opt-ring').textContent = `ring: ${c.ring} (p)`;
  $('#opt-inorder').textContent = `IN_ORDER: ${c.inOrder ? 'on' : 'off'} (i)`;
  $('#opt-used').textContent = `used entries: ${c.usedEntries} (b)`;
  $('#opt-indirect').textContent = `INDIRECT_DESC: ${c.indirect ? 'on' : 'off'} (d)`;
  $('#opt-eventidx').textContent = `EVENT_IDX: ${c.eventIdx ? 'on' : 'off'} (e)`;
  $('#opt-side').textContent = `side by side: ${state.sideBySide ? 'on' : 'off'} (s)`;
  $<HTMLInputElement>('#segments').value = String(state.segments);
  $<HTMLSelectElement>('#queue-size').value = String(c.queueSize);
  const queues = $('#queues');
  queues.replaceChildren(...state.models.map((m, i) => renderQueue(m.snapshot(), i)));
  queues.className = state.sideBySide ? 'side-by-side' : '';
  const rules = $('#rules');
  rules.replaceChildren(
    ...state.rules.map((id) => {
      const r = RULES[id];
      const b = el('blockquote', undefined, { 'data-rule': id });
      b.append(el('cite', `VIRTIO 1.2 section ${r.section}, ${r.title}`));
      b.append(el('p', r.quote));
      return b;
    }),
  );
  if (state.rules.length === 0) rules.append(el('p', 'The rule each step applies is quoted here.', { class: 'hint' }));
  $('#log').replaceChildren(...state.log.slice(-12).map((l) => el('li', l)));
}

function renderFigures(): void {
  const box = $('#figures');
  const rows = FIGURES.gains.map((g) => ({
    cells: [g.suite, g.ring, g.batch, g.gain, g.usedPerBuffer],
    changed: false,
    attrs: {},
  }));
  box.append(
    table(['suite', 'ring', 'batch', 'IN_ORDER gain (throughput)', 'used entries per buffer (IN_ORDER)'], rows),
  );
  for (const p of FIGURES.plots) {
    const fig = el('figure');
    const img = el('img', undefined, { src: p.dataUrl, alt: p.caption });
    fig.append(img, el('figcaption', p.caption));
    box.append(fig);
  }
  box.append(el('p', FIGURES.source, { class: 'hint' }));
}

function wire(): void {
  for (const [name, run] of Object.entries(STEPS)) $(`#step-${name}`).addEventListener('click', run);
  $('#opt-ring').addEventListener('click', KEYS.p);
  $('#opt-inorder').addEventListener('click', KEYS.i);
  $('#opt-used').addEventListener('click', KEYS.b);
  $('#opt-indirect').addEventListener('click', KEYS.d);
  $('#opt-eventidx').addEventListener('click', KEYS.e);
  $('#opt-side').addEventListener('click', KEYS.s);
  $<HTMLInputElement>('#segments').addEventListener('change', (e) =>
    setSegments(Number((e.target as HTMLInputElement).value)),
  );
  $<HTMLInputElement>('#run-count').addEventListener('change', (e) => {
    state.runCount = Math.max(1, Number((e.target as HTMLInputElement).value) || 1);
  });
  $<HTMLSelectElement>('#queue-size').addEventListener('change', (e) =>
    setConfig({ queueSize: Number((e.target as HTMLSelectElement).value) }),
  );
  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || (e.target as HTMLElement).tagName === 'INPUT') return;
    const run = KEYS[e.key];
    if (run === undefined) return;
    e.preventDefault();
    run();
  });
}

wire();
renderFigures();
reset();
