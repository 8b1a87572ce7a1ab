// Builds the "IN_ORDER demystified" page into docs/explainer/: the page's HTML and CSS, and one bundle of
// src/explainer/page.ts with vqkit's engine in it (esbuild), with the measured figures of docs/bench and two plots
// of docs/plots inlined, so the page works offline from the file system.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = `${root}docs/explainer/`;
const json = (name) => JSON.parse(readFileSync(`${root}docs/bench/${name}`, 'utf8'));

/** The IN_ORDER gain and used entries per buffer at batch 32, queue 256, from a suite's report. */
function gains(report, suite, mode) {
  const group = `${mode}, queue 256, batch 32`;
  return ['split', 'packed'].map((ring) => {
    const ratio = report.ratios.find((r) => r.group === group && r.label === `${ring}: IN_ORDER gain`);
    const batched = report.variants.find((v) => v.group === group && v.variant === `${ring} in-order batched`);
    const plain = report.variants.find((v) => v.group === group && v.variant === `${ring} no in-order`);
    return {
      suite: `${suite} (${mode})`,
      ring,
      batch: '32',
      gain: `${ratio.ratioOfMedians.toFixed(3)}x`,
      usedPerBuffer: `${batched.usedEntriesPerBuffer.toFixed(4)} (without: ${plain.usedEntriesPerBuffer.toFixed(2)})`,
    };
  });
}

const ring = json('ring.json');
const vhostUser = json('vhost-user.json');
const plot = (name, caption) => ({
  caption,
  dataUrl: `data:image/svg+xml;base64,${readFileSync(`${root}docs/plots/${name}`).toString('base64')}`,
});
const figures = {
  gains: [...gains(ring, 'ring', 'poll'), ...gains(vhostUser, 'vhost-user', 'hybrid')],
  plots: [
    plot('in-order-gain.svg', 'Throughput with IN_ORDER over without, by batch size (docs/PERFORMANCE.md).'),
    plot('used-entries.svg', 'Used entries written per buffer: one per batch with IN_ORDER (docs/PERFORMANCE.md).'),
  ],
  source:
    `Medians of interleaved runs: ring suite ${ring.date.slice(0, 10)} (${ring.command}), vhost-user suite ` +
    `${vhostUser.date.slice(0, 10)} (${vhostUser.command}). docs/PERFORMANCE.md has every figure and how to ` +
    'reproduce it.',
};

mkdirSync(out, { recursive: true });
await build({
  entryPoints: [`${root}src/explainer/page.ts`],
  bundle: true,
  format: 'iife',
  target: 'es2022',
  platform: 'browser',
  outfile: `${out}explainer.js`,
  define: { __VQ_FIGURES__: JSON.stringify(figures) },
  legalComments: 'none',
  logLevel: 'warning',
});
for (const f of ['index.html', 'style.css']) copyFileSync(`${root}src/explainer/${f}`, `${out}${f}`);
console.log(`explainer: wrote ${out}index.html (open it from disk, or: npx vq explain)`);
