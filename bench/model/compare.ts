// Paired comparison of two `bench model` runs on the same examples: a candidate checkpoint
// against the shipped one, per language and task, from their per-example files
// (`*-examples.jsonl`). Both runs must have drawn the same examples (same --n and --seed, same
// held-out data): examples are matched on (language group, path, line, target) and a mismatch
// is an error, not a smaller sample.
//
//   ./bin/slipstream bench model --compare BASE-examples.jsonl CANDIDATE-examples.jsonl [--out FILE]
//
// Differences are candidate − base in points, with paired bootstrap 95% intervals (2,000
// resamples, the same as the run's own model − baseline intervals).

import { readFileSync } from 'node:fs';
import { pairedDifference, r1 } from '../stats';
import { GROUP_LABEL, GROUPS, type Group } from './heldout';

/** What this comparison reads of one example record. */
export interface ExampleScores {
  group: Group;
  path: string;
  line: number;
  target: string;
  scores: Record<string, { model: { em: 0 | 1; es: number } }>;
}

/** a − b in points (EM and ES), paired bootstrap 95% intervals. */
export interface PairedDiff {
  em: number;
  emCi95: [number, number];
  es: number;
  esCi95: [number, number];
}

/** Paired a − b over the same examples' scores (em 0/1, es in [0, 1]), in points. */
export function pairedScoreDiff(a: ReadonlyArray<{ em: number; es: number }>, b: ReadonlyArray<{ em: number; es: number }>): PairedDiff {
  const e = pairedDifference(
    a.map((x) => x.em),
    b.map((x) => x.em),
  );
  const s = pairedDifference(
    a.map((x) => x.es),
    b.map((x) => x.es),
  );
  return { em: r1(100 * e.diff), emCi95: [r1(100 * e.ci95[0]), r1(100 * e.ci95[1])], es: r1(100 * s.diff), esCi95: [r1(100 * s.ci95[0]), r1(100 * s.ci95[1])] };
}

export interface TaskComparison extends PairedDiff {
  n: number;
  base: { em: number; es: number };
  candidate: { em: number; es: number };
  /** examples where exactly one of the two is an exact match */
  onlyBase: number;
  onlyCandidate: number;
}

export function readExamples(file: string): ExampleScores[] {
  const out: ExampleScores[] = [];
  const lines = readFileSync(file, 'utf8').split('\n');
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    let rec: ExampleScores;
    try {
      rec = JSON.parse(line) as ExampleScores;
    } catch (e) {
      throw new Error(`${file}:${i + 1}: not JSON (${(e as Error).message})`);
    }
    if (typeof rec.group !== 'string' || typeof rec.scores !== 'object' || rec.scores === null) {
      throw new Error(`${file}:${i + 1}: not a bench model example record (no group/scores)`);
    }
    out.push(rec);
  });
  return out;
}

const key = (r: ExampleScores): string => JSON.stringify([r.group, r.path, r.line, r.target]);

/** Per language group and task, candidate − base on the examples both runs scored. */
export function compareExamples(base: ExampleScores[], cand: ExampleScores[]): Partial<Record<Group | 'all', Record<string, TaskComparison>>> {
  const byKey = new Map(cand.map((r) => [key(r), r]));
  if (byKey.size !== cand.length) throw new Error('the candidate run has the same example twice');
  const pairs: Array<[ExampleScores, ExampleScores]> = [];
  for (const b of base) {
    const c = byKey.get(key(b));
    if (!c) throw new Error(`the runs drew different examples: ${b.group} ${b.path}:${b.line} is only in the base run (same --n, --seed and data?)`);
    pairs.push([b, c]);
  }
  if (pairs.length !== cand.length) throw new Error(`the runs drew different examples: ${cand.length - pairs.length} only in the candidate run`);
  const out: Partial<Record<Group | 'all', Record<string, TaskComparison>>> = {};
  const groups: Array<Group | 'all'> = [...GROUPS.filter((g) => pairs.some(([b]) => b.group === g)), 'all'];
  for (const g of groups) {
    const ps = g === 'all' ? pairs : pairs.filter(([b]) => b.group === g);
    const tasks = Object.keys(ps[0][0].scores).filter((t) => ps.every(([b, c]) => b.scores[t]?.model && c.scores[t]?.model));
    const res: Record<string, TaskComparison> = {};
    for (const t of tasks) {
      const bm = ps.map(([b]) => b.scores[t].model);
      const cm = ps.map(([, c]) => c.scores[t].model);
      const be = bm.map((x) => x.em as number);
      const ce = cm.map((x) => x.em as number);
      const avg = (xs: number[]): number => r1((100 * xs.reduce((a, x) => a + x, 0)) / xs.length);
      res[t] = {
        n: ps.length,
        base: { em: avg(be), es: avg(bm.map((x) => x.es)) },
        candidate: { em: avg(ce), es: avg(cm.map((x) => x.es)) },
        ...pairedScoreDiff(cm, bm),
        onlyBase: be.filter((x, i) => x === 1 && ce[i] === 0).length,
        onlyCandidate: be.filter((x, i) => x === 0 && ce[i] === 1).length,
      };
    }
    out[g] = res;
  }
  return out;
}

export function compareMarkdown(baseFile: string, candFile: string, cmp: ReturnType<typeof compareExamples>): string {
  const md = [
    '# bench model: candidate − base, paired on the same examples',
    '',
    `base: \`${baseFile}\`; candidate: \`${candFile}\`. Points; paired bootstrap 95% CI (2,000 resamples).`,
    '',
    '| language | task | n | EM base → candidate | Δ EM [95% CI] | ES base → candidate | Δ ES [95% CI] | exact only in base / only in candidate |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const [g, tasks] of Object.entries(cmp)) {
    for (const [t, c] of Object.entries(tasks ?? {})) {
      const label = g === 'all' ? 'all' : GROUP_LABEL[g as Group];
      md.push(`| ${label} | ${t} | ${c.n} | ${c.base.em} → ${c.candidate.em} | ${c.em >= 0 ? '+' : ''}${c.em} [${c.emCi95[0]}, ${c.emCi95[1]}] | ${c.base.es} → ${c.candidate.es} | ${c.es >= 0 ? '+' : ''}${c.es} [${c.esCi95[0]}, ${c.esCi95[1]}] | ${c.onlyBase} / ${c.onlyCandidate} |`);
    }
  }
  return `${md.join('\n')}\n`;
}
