import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VqProcess } from '../support/serve-process.js';
import { COUNTER_LABELS, descriptorCells, entryText, headerText } from '../../src/explainer/format.js';
import { DEFAULT_CONFIG, QueueModel, type ExplainerConfig } from '../../src/explainer/model.js';

// The explainer page (docs/explainer, built by `npm run explainer`) opened from disk in Debian's chromium, driven by
// its keyboard controls; what its DOM shows is compared with the same steps run here, in Node, on the same model.

const PAGE = pathToFileURL(fileURLToPath(new URL('../../docs/explainer/index.html', import.meta.url))).href;
const DOCS = fileURLToPath(new URL('../../docs/', import.meta.url));
let browser: Browser;

beforeAll(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    // No network here: keep chromium from reaching for one (as root it also needs --no-sandbox).
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
});
afterAll(async () => {
  await browser?.close();
});

/** The page's steps by key, as the model's methods (the page maps the same keys to the same calls). */
type Key = 'a' | 'k' | 't' | 'c' | 'f' | 'r';
const STEP: Record<Key, (m: QueueModel) => void> = {
  a: (m) => m.add(2),
  k: (m) => m.kick(),
  t: (m) => m.take(),
  c: (m) => m.complete(),
  f: (m) => m.flush(),
  r: (m) => m.reclaim(),
};
/** A batch of four, then a second batch taken and half completed: the ring mid-batch. */
const SCENARIO = 'aaaaktttt' + 'ccccf' + 'r' + 'aakttc';

/** What the page should show for a queue after `keys`, computed here. */
function expected(
  config: ExplainerConfig,
  keys: string,
): { rows: string[]; headers: string[]; entries: string[]; counters: string[] } {
  const m = new QueueModel(config);
  for (const k of keys) STEP[k as Key](m);
  const s = m.snapshot();
  return {
    rows: s.descriptors.map((d) => descriptorCells(s, d).join('|')),
    headers: [headerText(s.driverArea.header), headerText(s.deviceArea.header)],
    entries: [...s.driverArea.entries.map(entryText), ...s.deviceArea.entries.map(entryText)],
    counters: COUNTER_LABELS.map(([key]) => String(s.counters[key])),
  };
}

/** What the page shows for queue `which`, read from its DOM. */
async function shown(page: Page, which: number): Promise<ReturnType<typeof expected>> {
  const q = page.locator(`[data-model="${which}"]`);
  const rows = (area: string): Promise<string[]> =>
    q
      .locator(`tr[data-area="${area}"]`)
      .evaluateAll((trs) =>
        trs.map((tr) =>
          Array.from(tr.querySelectorAll('td'), (td) => (td as { textContent: string | null }).textContent).join('|'),
        ),
      );
  const entries = [...(await rows('driver')), ...(await rows('device'))].map((r) => r.split('|')[1]);
  return {
    rows: await rows('desc'),
    headers: [
      (await q.locator('[data-area="driver-header"]').textContent()) ?? '',
      (await q.locator('[data-area="device-header"]').textContent()) ?? '',
    ],
    entries,
    counters: await q.locator('[data-counter]').allTextContents(),
  };
}

async function openPage(url = PAGE): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url);
  await page.waitForSelector('[data-model="0"]');
  return { page, errors };
}

async function press(page: Page, keys: string): Promise<void> {
  for (const k of keys) await page.keyboard.press(k);
}

describe('the IN_ORDER explainer page in chromium', () => {
  it('loads from disk, offline, with no console error, and shows the measured figures', async () => {
    const { page, errors } = await openPage();
    expect(await page.title()).toMatch(/IN_ORDER demystified/);
    expect(await page.locator('#figures table tr').count()).toBeGreaterThan(1);
    expect(await page.locator('#figures img').count()).toBe(2);
    expect(errors).toEqual([]);
    await page.close();
  });

  it.each([
    { ring: 'split', inOrder: true },
    { ring: 'split', inOrder: false },
    { ring: 'packed', inOrder: true },
    { ring: 'packed', inOrder: false },
  ] as const)('$ring ring, IN_ORDER $inOrder: the DOM after the scenario is the Node run, slot by slot', async (c) => {
    const { page, errors } = await openPage();
    // The page starts on a split ring with IN_ORDER on: p and i switch.
    if (c.ring === 'packed') await press(page, 'p');
    if (!c.inOrder) await press(page, 'i');
    await press(page, SCENARIO);
    const config: ExplainerConfig = { ...DEFAULT_CONFIG, ring: c.ring, inOrder: c.inOrder };
    expect(await shown(page, 0)).toEqual(expected(config, SCENARIO));
    // The rule the last step applied (completing in order, under IN_ORDER) is quoted beside it.
    const quoted = await page.$$eval('#rules blockquote', (bs) =>
      bs.map((b) => (b as { dataset: { rule?: string } }).dataset.rule),
    );
    expect(quoted).toEqual(c.inOrder ? ['device-in-order'] : []);
    if (c.inOrder) {
      await page.screenshot({ path: join(DOCS, `explainer-${c.ring}.png`), fullPage: false });
    }
    expect(errors).toEqual([]);
    await page.close();
  });

  it('side by side: the same steps on a second queue with IN_ORDER off, counted apart', async () => {
    const { page, errors } = await openPage();
    await press(page, 's');
    await press(page, SCENARIO);
    expect(await shown(page, 0)).toEqual(expected({ ...DEFAULT_CONFIG }, SCENARIO));
    expect(await shown(page, 1)).toEqual(expected({ ...DEFAULT_CONFIG, inOrder: false }, SCENARIO));
    await page.screenshot({ path: join(DOCS, 'explainer-side-by-side.png'), fullPage: false });
    expect(errors).toEqual([]);
    await page.close();
  });

  it('served by vq explain --port over http, the page runs the same', async () => {
    const vq = new VqProcess(['explain', '--port', '0']);
    try {
      const line = await vq.waitFor(/serving http:\/\/127\.0\.0\.1:\d+\//);
      const { page, errors } = await openPage(/http:\/\/127\.0\.0\.1:\d+\//.exec(line)![0]);
      await press(page, SCENARIO);
      expect(await shown(page, 0)).toEqual(expected({ ...DEFAULT_CONFIG }, SCENARIO));
      expect(errors).toEqual([]);
      await page.close();
    } finally {
      await vq.stop();
    }
  });
});
