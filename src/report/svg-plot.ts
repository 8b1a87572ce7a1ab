/** Small SVG charts for the performance report: line charts over batch sizes, grouped bar charts. No dependencies. */

export interface Series {
  name: string;
  /** [x, y] points; y null where there is no figure. */
  points: [number, number | null][];
  dashed?: boolean;
}

export interface LineChart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** x on a log2 axis (batch sizes), y on a log10 axis (per-buffer counters spanning decades). */
  logX?: boolean;
  logY?: boolean;
  /** Horizontal reference lines, e.g. a target. */
  guides?: { y: number; label: string }[];
}

export interface BarChart {
  title: string;
  yLabel: string;
  /** One group of bars per category; one bar per series in each. */
  categories: string[];
  series: { name: string; values: (number | null)[] }[];
  guides?: { y: number; label: string }[];
}

const W = 760;
const H = 420;
const M = { left: 70, right: 190, top: 40, bottom: 60 };
const PW = W - M.left - M.right;
const PH = H - M.top - M.bottom;
export const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];
const FONT = 'font-family="DejaVu Sans, Arial, sans-serif"';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (v: number): string =>
  Math.abs(v) >= 100 || v === 0
    ? v.toFixed(0)
    : Math.abs(v) >= 1
      ? String(+v.toPrecision(3))
      : String(+v.toPrecision(2));

/** "Nice" linear ticks from 0 (or below) to at least max. */
function linearTicks(min: number, max: number): number[] {
  const span = max - min || 1;
  const raw = span / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((k) => k * mag).find((s) => span / s <= 6)!;
  const ticks: number[] = [];
  for (let t = Math.floor(min / step) * step; t <= max + step * 0.999; t += step) ticks.push(+t.toPrecision(12));
  return ticks;
}

function frame(title: string, xLabel: string, yLabel: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${M.left + PW / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold" ${FONT}>${esc(title)}</text>`,
    `<text x="${M.left + PW / 2}" y="${H - 15}" text-anchor="middle" font-size="12" ${FONT}>${esc(xLabel)}</text>`,
    `<text transform="translate(18 ${M.top + PH / 2}) rotate(-90)" text-anchor="middle" font-size="12" ${FONT}>${esc(yLabel)}</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

function legend(entries: { name: string; color: string; dashed?: boolean; bar?: boolean }[]): string[] {
  return entries.flatMap((e, i) => {
    const y = M.top + 10 + i * 20;
    const x = M.left + PW + 15;
    const mark = e.bar
      ? `<rect x="${x}" y="${y - 6}" width="22" height="10" fill="${e.color}"/>`
      : `<line x1="${x}" y1="${y}" x2="${x + 22}" y2="${y}" stroke="${e.color}" stroke-width="2.5"${e.dashed ? ' stroke-dasharray="6 3"' : ''}/>`;
    return [mark, `<text x="${x + 28}" y="${y + 4}" font-size="11" ${FONT}>${esc(e.name)}</text>`];
  });
}

function yAxis(ticks: number[], y: (v: number) => number): string[] {
  return ticks.flatMap((t) => [
    `<line x1="${M.left}" y1="${y(t)}" x2="${M.left + PW}" y2="${y(t)}" stroke="#e5e5e5"/>`,
    `<text x="${M.left - 6}" y="${y(t) + 4}" text-anchor="end" font-size="11" ${FONT}>${fmt(t)}</text>`,
  ]);
}

function guideLines(guides: { y: number; label: string }[] | undefined, y: (v: number) => number): string[] {
  return (guides ?? []).flatMap((g) => [
    `<line x1="${M.left}" y1="${y(g.y)}" x2="${M.left + PW}" y2="${y(g.y)}" stroke="#444" stroke-dasharray="2 3"/>`,
    `<text x="${M.left + PW - 4}" y="${y(g.y) - 4}" text-anchor="end" font-size="10" ${FONT}>${esc(g.label)}</text>`,
  ]);
}

export function lineChart(c: LineChart): string {
  const xs = [...new Set(c.series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
  const ys = c.series.flatMap((s) => s.points.map((p) => p[1])).filter((v): v is number => v !== null);
  ys.push(...(c.guides ?? []).map((g) => g.y));
  if (xs.length === 0 || ys.length === 0) throw new Error(`plot "${c.title}" has no data`);
  const tx = (v: number): number => (c.logX ? Math.log2(v) : v);
  const [x0, x1] = [tx(xs[0]), tx(xs[xs.length - 1])];
  const x = (v: number): number => M.left + (x1 === x0 ? PW / 2 : ((tx(v) - x0) / (x1 - x0)) * PW);
  let yTicks: number[];
  let y: (v: number) => number;
  if (c.logY) {
    const pos = ys.filter((v) => v > 0);
    const lo = Math.floor(Math.log10(Math.min(...pos)));
    const hi = Math.ceil(Math.log10(Math.max(...pos)));
    yTicks = Array.from({ length: hi - lo + 1 }, (_, i) => 10 ** (lo + i));
    y = (v: number): number => M.top + PH - ((Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo || 1)) * PH;
  } else {
    yTicks = linearTicks(Math.min(0, ...ys), Math.max(...ys));
    const [lo, hi] = [yTicks[0], yTicks[yTicks.length - 1]];
    y = (v: number): number => M.top + PH - ((v - lo) / (hi - lo)) * PH;
  }
  const body = [
    ...yAxis(yTicks, y),
    ...xs.flatMap((v) => [
      `<line x1="${x(v)}" y1="${M.top + PH}" x2="${x(v)}" y2="${M.top + PH + 5}" stroke="#333"/>`,
      `<text x="${x(v)}" y="${M.top + PH + 18}" text-anchor="middle" font-size="11" ${FONT}>${fmt(v)}</text>`,
    ]),
    `<line x1="${M.left}" y1="${M.top + PH}" x2="${M.left + PW}" y2="${M.top + PH}" stroke="#333"/>`,
    `<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${M.top + PH}" stroke="#333"/>`,
    ...guideLines(c.guides, y),
    ...c.series.flatMap((s, i) => {
      const color = PALETTE[i % PALETTE.length];
      const pts = s.points.filter((p): p is [number, number] => p[1] !== null);
      const path = pts.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ');
      return [
        `<polyline fill="none" stroke="${color}" stroke-width="2.5"${s.dashed ? ' stroke-dasharray="6 3"' : ''} points="${path}"/>`,
        ...pts.map((p) => `<circle cx="${x(p[0]).toFixed(1)}" cy="${y(p[1]).toFixed(1)}" r="3" fill="${color}"/>`),
      ];
    }),
    ...legend(c.series.map((s, i) => ({ name: s.name, color: PALETTE[i % PALETTE.length], dashed: s.dashed }))),
  ];
  return frame(c.title, c.xLabel, c.yLabel, body);
}

export function barChart(c: BarChart): string {
  const ys = c.series.flatMap((s) => s.values).filter((v): v is number => v !== null);
  ys.push(...(c.guides ?? []).map((g) => g.y));
  if (c.categories.length === 0 || ys.length === 0) throw new Error(`plot "${c.title}" has no data`);
  const yTicks = linearTicks(0, Math.max(...ys));
  const hi = yTicks[yTicks.length - 1];
  const y = (v: number): number => M.top + PH - (v / hi) * PH;
  const groupW = PW / c.categories.length;
  const barW = (groupW * 0.8) / c.series.length;
  const body = [
    ...yAxis(yTicks, y),
    `<line x1="${M.left}" y1="${M.top + PH}" x2="${M.left + PW}" y2="${M.top + PH}" stroke="#333"/>`,
    ...c.categories.flatMap((cat, g) => {
      const gx = M.left + g * groupW + groupW * 0.1;
      const lines = cat.split('\n');
      return [
        ...lines.map(
          (l, i) =>
            `<text x="${gx + groupW * 0.4}" y="${M.top + PH + 16 + i * 13}" text-anchor="middle" font-size="10" ${FONT}>${esc(l)}</text>`,
        ),
        ...c.series.flatMap((s, i) => {
          const v = s.values[g];
          if (v === null) return [];
          return [
            `<rect class="bar" x="${(gx + i * barW).toFixed(1)}" y="${y(v).toFixed(1)}" width="${(barW - 1).toFixed(1)}" height="${(M.top + PH - y(v)).toFixed(1)}" fill="${PALETTE[i % PALETTE.length]}"/>`,
          ];
        }),
      ];
    }),
    ...guideLines(c.guides, y),
    ...legend(c.series.map((s, i) => ({ name: s.name, color: PALETTE[i % PALETTE.length], bar: true }))),
  ];
  return frame(c.title, '', c.yLabel, body);
}
