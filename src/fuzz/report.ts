import type { FailureKind, Surface } from './target.js';

/** What one surface's campaign did and found. */
export interface SurfaceResult {
  surface: Surface;
  description: string;
  runs: number;
  seconds: number;
  execsPerSecond: number;
  /** Branch arms reached in the surface's modules, of those instrumented. */
  branches: { covered: number; total: number };
  /** The distilled corpus written back to fuzz/corpus/<surface>. */
  corpus: { entries: number; bytes: number };
  /** Regression cases replayed first. */
  regressions: number;
  failures: { kind: FailureKind; message: string; count: number; file: string }[];
  /** Inputs that ran past the time limit (the process is killed on the first). */
  hangs: number;
}

export interface CampaignReport {
  date: string;
  command: string;
  machine: string;
  node: string;
  runsPerSurface: number;
  timeLimitMs: number;
  surfaces: SurfaceResult[];
}

const count = (r: SurfaceResult, kind: FailureKind): number =>
  r.failures.filter((f) => f.kind === kind).reduce((n, f) => n + f.count, 0);

/** The campaign's table for docs/fuzz.md. */
export function campaignTable(report: CampaignReport): string {
  const rows = report.surfaces.map((r) =>
    [
      r.surface,
      r.runs.toLocaleString('en-US'),
      Math.round(r.execsPerSecond).toLocaleString('en-US'),
      `${(r.seconds / 60).toFixed(1)} min`,
      `${r.branches.covered} / ${r.branches.total} (${((100 * r.branches.covered) / Math.max(1, r.branches.total)).toFixed(1)}%)`,
      `${r.corpus.entries} (${(r.corpus.bytes / 1024).toFixed(1)} KiB)`,
      count(r, 'escape') + count(r, 'invariant') + count(r, 'out-of-bounds') + count(r, 'unbounded'),
      r.hangs,
      count(r, 'escape'),
    ].join(' | '),
  );
  return [
    '| surface | inputs | inputs/s | time | branches reached | corpus | crashes | hangs | escapes |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r} |`),
  ].join('\n');
}
