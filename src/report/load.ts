import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchReport } from '../harness/bench.js';
import type { DpdkBenchReport } from '../harness/bench-dpdk.js';
import type { ScaleBenchReport } from '../harness/bench-scale.js';
import type { RingtestBenchReport } from '../harness/bench-ringtest.js';

/** A file in the reports directory is not a report this version of vqkit can read. */
export class ReportFormatError extends Error {
  override readonly name = 'ReportFormatError';
}

export type AnyReport = BenchReport | DpdkBenchReport | ScaleBenchReport | RingtestBenchReport;

export interface LoadedReports {
  ring?: BenchReport;
  /** The ring suite with --workload rotating (every descriptor changes each lap). */
  ringRotating?: BenchReport;
  vhostUser?: BenchReport;
  dpdk?: DpdkBenchReport;
  scale?: ScaleBenchReport;
  ringtest?: RingtestBenchReport;
  /** The files each was read from. */
  files: string[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** Parses and checks one JSON report; what is missing is named. */
export function parseReport(file: string, text: string): AnyReport {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ReportFormatError(`${file}: not JSON (${(e as Error).message})`);
  }
  if (!isObject(v) || typeof v.suite !== 'string')
    throw new ReportFormatError(`${file}: not a vq bench report (no suite)`);
  const need = (fields: string[], where: Record<string, unknown>, what: string): void => {
    const missing = fields.filter((f) => !(f in where));
    if (missing.length > 0) {
      throw new ReportFormatError(
        `${file}: ${what} lacks ${missing.join(', ')} (made by an older vqkit? run the suite again)`,
      );
    }
  };
  need(['date', 'machine', 'command', 'runs'], v, `the ${v.suite} report`);
  if (v.suite === 'ring' || v.suite === 'vhost-user') {
    need(['durationMs', 'variants', 'ratios'], v, `the ${v.suite} report`);
    if (!Array.isArray(v.variants) || v.variants.length === 0) throw new ReportFormatError(`${file}: no variants`);
    for (const x of v.variants as unknown[]) {
      if (!isObject(x)) throw new ReportFormatError(`${file}: a variant is not an object`);
      need(
        ['ring', 'inOrder', 'usedEntries', 'mode', 'batch', 'queueSize', 'indirect', 'medianBuffersPerSec'],
        x,
        'a variant',
      );
    }
    return v as unknown as BenchReport;
  }
  if (v.suite === 'dpdk') {
    need(['rows', 'seconds'], v, 'the dpdk report');
    if (!Array.isArray(v.rows) || v.rows.length === 0) throw new ReportFormatError(`${file}: no rows`);
    for (const x of v.rows as unknown[]) {
      if (!isObject(x)) throw new ReportFormatError(`${file}: a row is not an object`);
      need(
        [
          'ring',
          'inOrder',
          'frameBytes',
          'dpdkVhost',
          'vqkit',
          'vqkitCopy',
          'vqkitDriver',
          'ratio',
          'copyRatio',
          'driverRatio',
        ],
        x,
        'a row',
      );
    }
    return v as unknown as DpdkBenchReport;
  }
  if (v.suite === 'scale') {
    need(['summary', 'targets', 'samples', 'dataPlaneThreads'], v, 'the scale report');
    if (!Array.isArray(v.summary) || v.summary.length === 0) throw new ReportFormatError(`${file}: no port counts`);
    return v as unknown as ScaleBenchReport;
  }
  if (v.suite === 'ringtest') {
    need(['rows', 'buffers', 'source'], v, 'the ringtest report');
    if (!Array.isArray(v.rows) || v.rows.length === 0) throw new ReportFormatError(`${file}: no rows`);
    for (const x of v.rows as unknown[]) {
      if (!isObject(x)) throw new ReportFormatError(`${file}: a row is not an object`);
      need(['name', 'program', 'mode', 'ringtest', 'vqkit', 'vqkitNoSpin', 'ratio'], x, 'a row');
    }
    return v as unknown as RingtestBenchReport;
  }
  throw new ReportFormatError(`${file}: unknown suite "${String(v.suite)}"`);
}

/**
 * The newest report of each suite in `dir` (by its date); a `vq bench --quick` report counts only where no full one
 * exists.
 */
export function loadReports(dir: string): LoadedReports {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch (e) {
    throw new ReportFormatError(`cannot read ${dir}: ${(e as Error).message}`);
  }
  const best = new Map<string, { report: AnyReport; file: string }>();
  const rank = (r: AnyReport): string => `${r.command.includes('--quick') ? 0 : 1} ${r.date}`;
  for (const name of names.sort()) {
    const file = join(dir, name);
    const report = parseReport(file, readFileSync(file, 'utf8'));
    const rotating = 'workload' in report && report.workload === 'rotating';
    const key = rotating ? `${report.suite} rotating` : report.suite;
    const cur = best.get(key);
    if (cur === undefined || rank(report) > rank(cur.report)) best.set(key, { report, file });
  }
  if (best.size === 0)
    throw new ReportFormatError(`${dir} holds no vq bench reports (run vq bench ring --out ${dir}/ring.json)`);
  return {
    ring: best.get('ring')?.report as BenchReport | undefined,
    ringRotating: best.get('ring rotating')?.report as BenchReport | undefined,
    vhostUser: best.get('vhost-user')?.report as BenchReport | undefined,
    dpdk: best.get('dpdk')?.report as DpdkBenchReport | undefined,
    scale: best.get('scale')?.report as ScaleBenchReport | undefined,
    ringtest: best.get('ringtest')?.report as RingtestBenchReport | undefined,
    files: [...best.values()].map((b) => b.file),
  };
}
