import type { Offence, VerdictBoard } from './board.js';
import { rulesFor, type Rule, type RuleRole } from './rules.js';

/** pass: checked and never broken; fail: a MUST broken; warn: a SHOULD broken; unchecked: nothing exercised it. */
export type Verdict = 'pass' | 'fail' | 'warn' | 'unchecked' | 'n/a';

/** One row of a report: a rule, its verdict, and where it was first broken. */
export interface RuleVerdict {
  id: string;
  level: Rule['level'];
  section: string;
  text: string;
  verdict: Verdict;
  checks: number;
  violations: number;
  first: Offence | null;
}

/** A legal device behaviour played against a driver under test, and what became of the driver. */
export interface InteropFinding {
  behaviour: string;
  description: string;
  /** ok: traffic went on with nothing wrong; broken: what `detail` says went wrong. */
  outcome: 'ok' | 'broken' | 'not run';
  /** Buffers the device completed while this behaviour was played. */
  completed: number;
  detail: string;
}

/** What `vq check` prints: one row per rule, the interoperability findings apart, and how to reproduce. */
export interface CheckReport {
  role: RuleRole;
  /** What was judged: "device at /tmp/x.sock (net)". */
  peer: string;
  /** The negotiated features in words. */
  negotiated: string;
  /** What the run did (buffers, frames, how it ended). */
  run: string;
  rules: RuleVerdict[];
  interop: InteropFinding[];
  /** The command line that reproduces this report. */
  command: string;
  /** 0 when no MUST rule was broken (and, for a driver, no behaviour broke it); else 1. */
  exitCode: number;
}

/** Which rules apply to what was negotiated. */
export interface Applicable {
  inOrder: boolean;
  packed: boolean;
}

/** The verdict of every rule of `role` from a run's board. */
export function verdicts(board: VerdictBoard, role: RuleRole, a: Applicable): RuleVerdict[] {
  return rulesFor(role).map((r) => {
    const rule: Rule = r;
    const applies =
      (!rule.inOrderOnly || a.inOrder) && (rule.ring === undefined || (rule.ring === 'packed') === a.packed);
    const checks = board.checks(r.id);
    const violations = board.violations(r.id);
    const verdict: Verdict = !applies
      ? 'n/a'
      : violations > 0
        ? r.level === 'MUST'
          ? 'fail'
          : 'warn'
        : checks > 0
          ? 'pass'
          : 'unchecked';
    return {
      id: r.id,
      level: r.level,
      section: r.section,
      text: r.text,
      verdict,
      checks,
      violations,
      first: board.firstOffence(r.id),
    };
  });
}

/** 0 unless a MUST rule failed or a legal behaviour broke the driver. */
export const exitCodeOf = (rules: readonly RuleVerdict[], interop: readonly InteropFinding[]): number =>
  rules.some((r) => r.verdict === 'fail') || interop.some((f) => f.outcome === 'broken') ? 1 : 0;

const offenceText = (o: Offence | null): string =>
  o === null ? '' : `queue ${o.queue}, index ${o.index}: ${o.detail}`;

/** The report as plain text, for a terminal. */
export function reportText(r: CheckReport): string {
  const lines = [`vq check ${r.role}: ${r.peer}`, `negotiated: ${r.negotiated}`, `run: ${r.run}`, '', 'rules:'];
  const width = Math.max(...r.rules.map((v) => v.id.length));
  for (const v of r.rules) {
    const counts = v.verdict === 'n/a' ? '' : ` (${v.checks} checked, ${v.violations} broken)`;
    lines.push(`  ${v.verdict.toUpperCase().padEnd(9)} ${v.id.padEnd(width)} ${v.level}${counts}`);
    if (v.first !== null) lines.push(`            first: ${offenceText(v.first)}`, `            spec: ${v.section}`);
  }
  if (r.interop.length > 0) {
    lines.push(
      '',
      r.role === 'driver' ? 'interoperability (legal device behaviours played against the driver):' : 'traffic:',
    );
    for (const f of r.interop) {
      const moved = r.role === 'driver' ? `${f.completed} buffers; ` : '';
      lines.push(`  ${f.outcome.toUpperCase().padEnd(9)} ${f.behaviour}: ${moved}${f.detail}`);
    }
  }
  lines.push('', `reproduce: ${r.command}`, `verdict: ${r.exitCode === 0 ? 'conforms' : 'DOES NOT CONFORM'}`);
  return lines.join('\n') + '\n';
}

const cell = (s: string): string => s.replace(/\|/g, '\\|');

/** The report as Markdown (a section of docs/conformance.md, or a bug report). */
export function reportMarkdown(r: CheckReport): string {
  const lines = [
    `### vq check ${r.role}: ${cell(r.peer)}`,
    '',
    `- negotiated: ${r.negotiated}`,
    `- run: ${r.run}`,
    `- reproduce: \`${r.command}\``,
    `- verdict: **${r.exitCode === 0 ? 'conforms' : 'does not conform'}**`,
    '',
    '| rule | level | verdict | checked | broken | first offence | spec |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...r.rules.map(
      (v) =>
        `| ${v.id} | ${v.level} | ${v.verdict} | ${v.checks} | ${v.violations} | ${cell(offenceText(v.first))} | ${cell(v.section)} |`,
    ),
  ];
  if (r.interop.length > 0) {
    lines.push('', '| behaviour played | outcome | buffers | detail |', '| --- | --- | --- | --- |');
    for (const f of r.interop) lines.push(`| ${f.behaviour} | ${f.outcome} | ${f.completed} | ${cell(f.detail)} |`);
  }
  return lines.join('\n') + '\n';
}
