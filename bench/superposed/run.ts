// Several completions from one decoding pass: what k drafts cost next to one greedy draft and
// next to k separate runs, and what they are worth (best-of-k next-line exact match), on
// held-out files, through the product path (CompletionService: the model's spm layout, token
// healing and monitors on, line mode, workspace n-grams from the example's package).
//
//   slipstream bench superposed [--quick] [--per-lang N] [--max-tokens N] [--warmup N]
//                               [--seed N] [--model DIR] [--out FILE]
//
// Examples: target lines sampled uniformly from each language group's held-out files
// (bench/model/examples.ts: a line with a letter or digit), the cursor after the line's
// indentation (where an editor's auto-indent leaves it) and the rest of the line removed;
// right = the first line of a completion equals the line's text (whitespace-trimmed). The
// example's package files are the workspace (monitors' symbol index and the n-gram counts);
// the open document replaces its own file there, so the target line is never counted.
//
// Per example the prompt is encoded once (an untimed greedy request), then every variant runs
// on the same warm cache, in an order rotated per example (interleaved); wall time = the
// request's totalMs. Ratios are per request (variant ms / baseline ms), reported as medians
// with the quartiles, against both single-draft baselines: greedy with speculation (the
// product's single-draft path) and greedy without. Exact match: top-1 and best-of-k, paired
// differences against greedy with bootstrap 95% intervals; how often all k drafts came out
// distinct after post-processing (Wilson 95%).
//
// Variants: greedy (drafts 1, speculation auto), greedy without speculation, chains k = 2, 3, 4
// (the product's multi-draft method) and k = 3 without speculation, superposed k = 2, 3, 4
// with the exact finish, k = 3 exact finish without speculation, k = 3 the paper's way
// (superposed to the end), and the baselines: k = 3 independent greedy chains one after
// another, k = 3 sampled runs (temperature 0.8).
// Defaults are the committed run (bench/results/superposed.{json,md}); --quick writes
// bench/out/superposed-quick.{json,md}.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { CompletionService } from '../../src/completion/service';
import type { CompletionOptions, CompletionResult } from '../../src/completion/types';
import { languageIdForPath } from '../../src/analysis/grammars';
import { firstLine, sampleLines, type LineExample } from '../model/examples';
import { GROUPS, GROUP_LABEL, loadHeldout, type Group, type HeldoutDoc } from '../model/heldout';
import { median, pairedDifference, wilson, mean } from '../stats';
import { flag, num } from '../args';

const ROOT = resolve(__dirname, '..', '..');

interface Variant {
  name: string;
  k: number;
  options: CompletionOptions;
}

const VARIANTS: readonly Variant[] = [
  { name: 'greedy', k: 1, options: { drafts: 1 } },
  { name: 'greedy-nospec', k: 1, options: { drafts: 1, speculation: 'off' } },
  { name: 'chains-2', k: 2, options: { drafts: 2, draftMethod: 'chains' } },
  { name: 'chains-3', k: 3, options: { drafts: 3, draftMethod: 'chains' } },
  { name: 'chains-4', k: 4, options: { drafts: 4, draftMethod: 'chains' } },
  { name: 'chains-3-nospec', k: 3, options: { drafts: 3, draftMethod: 'chains', speculation: 'off' } },
  { name: 'superposed-2', k: 2, options: { drafts: 2, draftMethod: 'superposed' } },
  { name: 'superposed-3', k: 3, options: { drafts: 3, draftMethod: 'superposed' } },
  { name: 'superposed-4', k: 4, options: { drafts: 4, draftMethod: 'superposed' } },
  { name: 'superposed-3-nospec', k: 3, options: { drafts: 3, draftMethod: 'superposed', speculation: 'off' } },
  { name: 'superposed-3-paper', k: 3, options: { drafts: 3, draftMethod: 'superposed', draftFinish: 'superposed', speculation: 'off' } },
  { name: 'independent-3', k: 3, options: { drafts: 3, draftMethod: 'independent' } },
  { name: 'sampled-3', k: 3, options: { drafts: 3, draftMethod: 'sampled' } },
];

interface Row {
  group: Group;
  path: string;
  line: number;
  target: string;
  /** Per variant: wall ms, completions, top-1 and best-of-k right. */
  runs: Record<string, { ms: number; completions: string[]; top1: boolean; best: boolean; stop: string }>;
}

function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

const r2 = (x: number): number => Math.round(x * 100) / 100;
const r3 = (x: number): number => Math.round(x * 1000) / 1000;
const pct = (x: number): string => `${(100 * x).toFixed(1)} %`;

/** The document with line L's text after its indentation removed; the cursor after the indentation. */
function exampleDocument(doc: HeldoutDoc, ex: LineExample): { text: string; cursor: number; line: number; col: number } {
  const cursor = ex.lineStart + ex.indent.length;
  return { text: doc.text.slice(0, cursor) + doc.text.slice(ex.lineStart + ex.text.length), cursor, line: ex.line, col: ex.indent.length };
}

const packageOf = (path: string): string => path.split('/')[0];

export async function run(args: string[]): Promise<object> {
  const quick = args.includes('--quick');
  const perLang = num(args, 'per-lang', quick ? 4 : 40);
  const maxTokens = num(args, 'max-tokens', 48);
  const warmup = num(args, 'warmup', quick ? 2 : 6);
  const seed = num(args, 'seed', 20261201);
  const modelDir = resolve(flag(args, 'model') ?? join(ROOT, 'models', 'default'));
  const outFile = resolve(flag(args, 'out') ?? join(ROOT, 'bench', quick ? 'out/superposed-quick.json' : 'results/superposed.json'));
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const t0 = performance.now();

  const svc = new CompletionService({ modelDir });
  await svc.ensureLoaded();
  const rows: Row[] = [];
  let warm = 0;
  let exampleIndex = 0;
  try {
    for (const group of GROUPS) {
      const docs = loadHeldout(join(ROOT, 'bench', 'data', 'heldout'), group);
      const examples = sampleLines(docs, group, perLang + (group === GROUPS[0] ? warmup : 0), seed);
      // The workspace: every file of the packages the examples come from.
      const packages = new Set(examples.map((e) => packageOf(e.path)));
      let files = 0;
      for (const d of docs) if (packages.has(packageOf(d.path)) && svc.addWorkspaceFile(`/heldout/${d.path}`, d.text, languageIdForPath(d.path))) files++;
      const tIndex = performance.now();
      await svc.indexWorkspace();
      log(`${group}: ${examples.length} examples, workspace ${files} files of ${packages.size} packages indexed in ${Math.round(performance.now() - tIndex)} ms`);
      for (const ex of examples) {
        const doc = docs[ex.doc];
        const path = `/heldout/${doc.path}`;
        const { text, line, col } = exampleDocument(doc, ex);
        svc.open(path, text, languageIdForPath(doc.path));
        await svc.indexWorkspace();
        const ask = (o: CompletionOptions): Promise<CompletionResult> => svc.complete({ path, line, col, maxTokens, options: { mode: 'line', completionCache: false, ...o } });
        await ask({ drafts: 1 }); // encodes the prompt (untimed)
        const target = ex.text.trim();
        const runs: Row['runs'] = {};
        const n = VARIANTS.length;
        for (let j = 0; j < n; j++) {
          const v = VARIANTS[(exampleIndex + j) % n];
          const r = await ask(v.options);
          const right = r.completions.map((c) => firstLine(c) === target);
          runs[v.name] = { ms: r.timings.totalMs, completions: r.completions, top1: right[0] ?? false, best: right.some(Boolean), stop: r.stopReason };
        }
        svc.close(path);
        exampleIndex++;
        if (warm < warmup) {
          warm++;
          continue;
        }
        rows.push({ group, path: doc.path, line: ex.line, target, runs });
        if (rows.length % 10 === 0) log(`${rows.length} examples, ${Math.round((performance.now() - t0) / 1000)} s`);
      }
    }
  } finally {
    await svc.shutdown();
  }

  const summary = (subset: readonly Row[]) => {
    const out: Record<string, unknown> = {};
    const greedyRight = subset.map((r) => (r.runs.greedy.top1 ? 1 : 0));
    for (const v of VARIANTS) {
      const ms = subset.map((r) => r.runs[v.name].ms);
      const vsSpec = subset.map((r) => r.runs[v.name].ms / r.runs.greedy.ms);
      const vsPlain = subset.map((r) => r.runs[v.name].ms / r.runs['greedy-nospec'].ms);
      const top1 = subset.map((r) => (r.runs[v.name].top1 ? 1 : 0));
      const best = subset.map((r) => (r.runs[v.name].best ? 1 : 0));
      const distinct = subset.filter((r) => r.runs[v.name].completions.length === v.k).length;
      out[v.name] = {
        k: v.k,
        medianMs: r2(median(ms)),
        ratioVsGreedy: { median: r3(median(vsSpec)), p25: r3(quantile(vsSpec, 0.25)), p75: r3(quantile(vsSpec, 0.75)) },
        ratioVsGreedyNoSpec: { median: r3(median(vsPlain)), p25: r3(quantile(vsPlain, 0.25)), p75: r3(quantile(vsPlain, 0.75)) },
        top1ExactMatch: r3(mean(top1)),
        bestOfKExactMatch: r3(mean(best)),
        bestOfKVsGreedy: (() => {
          const d = pairedDifference(best, greedyRight);
          return { diff: r3(d.diff), ci95: d.ci95.map(r3) };
        })(),
        top1VsGreedy: (() => {
          const d = pairedDifference(top1, greedyRight);
          return { diff: r3(d.diff), ci95: d.ci95.map(r3) };
        })(),
        allDistinct: { rate: r3(distinct / Math.max(1, subset.length)), ci95: wilson(distinct, subset.length).map(r3) },
        meanCompletions: r2(mean(subset.map((r) => r.runs[v.name].completions.length))),
      };
    }
    return out;
  };

  const byGroup: Record<string, unknown> = {};
  for (const g of GROUPS) byGroup[g] = summary(rows.filter((r) => r.group === g));
  const all = summary(rows) as Record<string, { ratioVsGreedy: { median: number }; ratioVsGreedyNoSpec: { median: number }; bestOfKVsGreedy: { diff: number; ci95: number[] } }>;
  const targets = {
    'chains-3 time ≤ 1.3× greedy (speculation on)': { value: all['chains-3'].ratioVsGreedy.median, met: all['chains-3'].ratioVsGreedy.median <= 1.3 },
    'chains-3 time ≤ 1.3× greedy (speculation off)': { value: all['chains-3'].ratioVsGreedyNoSpec.median, met: all['chains-3'].ratioVsGreedyNoSpec.median <= 1.3 },
    'superposed-3 time ≤ 1.3× greedy (speculation on)': { value: all['superposed-3'].ratioVsGreedy.median, met: all['superposed-3'].ratioVsGreedy.median <= 1.3 },
    'best-of-3 EM above greedy (chains-3, CI above 0)': { value: all['chains-3'].bestOfKVsGreedy.diff, ci95: all['chains-3'].bestOfKVsGreedy.ci95, met: all['chains-3'].bestOfKVsGreedy.ci95[0] > 0 },
    'best-of-3 EM above greedy (superposed-3, CI above 0)': { value: all['superposed-3'].bestOfKVsGreedy.diff, ci95: all['superposed-3'].bestOfKVsGreedy.ci95, met: all['superposed-3'].bestOfKVsGreedy.ci95[0] > 0 },
  };
  const report = {
    bench: 'superposed',
    date: new Date().toISOString(),
    command: `./bin/slipstream bench superposed${quick ? ' --quick' : ''}`,
    seconds: Math.round((performance.now() - t0) / 1000),
    setup: { perLang, maxTokens, warmup, seed, examples: rows.length, mode: 'line', layout: "the model's (spm)", tokenHealing: true, monitors: true },
    targets,
    all,
    byGroup,
    rows,
  };
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, `${JSON.stringify(report, null, 1)}\n`);
  writeFileSync(outFile.replace(/\.json$/, '.md'), markdown(report, all, byGroup));
  const { rows: _rows, ...short } = report;
  void _rows;
  return short;
}

type Summary = Record<string, Record<string, unknown>>;

function markdown(report: { date: string; command: string; seconds: number; setup: Record<string, unknown>; targets: Record<string, { value: number; met: boolean; ci95?: number[] }> }, all: Summary, byGroup: Record<string, unknown>): string {
  const lines: string[] = [];
  lines.push(`# bench superposed (${report.date})`, '');
  lines.push(`\`${report.command}\`, ${report.seconds} s, ${JSON.stringify(report.setup)}`, '');
  lines.push('## Targets', '', '| target | measured | met |', '|---|---:|---|');
  for (const [name, t] of Object.entries(report.targets)) lines.push(`| ${name} | ${t.value}${t.ci95 ? ` (95% CI ${t.ci95[0]} … ${t.ci95[1]})` : '×'} | ${t.met ? 'yes' : 'no'} |`);
  const table = (title: string, s: Summary) => {
    lines.push('', `## ${title}`, '');
    lines.push('| variant | k | median ms | ×greedy (spec) median [p25–p75] | ×greedy (no spec) median [p25–p75] | top-1 EM | best-of-k EM | best-of-k − greedy [95% CI] | all k distinct [95% CI] | mean drafts |');
    lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const v of VARIANTS) {
      const x = s[v.name] as {
        k: number;
        medianMs: number;
        ratioVsGreedy: { median: number; p25: number; p75: number };
        ratioVsGreedyNoSpec: { median: number; p25: number; p75: number };
        top1ExactMatch: number;
        bestOfKExactMatch: number;
        bestOfKVsGreedy: { diff: number; ci95: number[] };
        allDistinct: { rate: number; ci95: number[] };
        meanCompletions: number;
      };
      lines.push(
        `| ${v.name} | ${x.k} | ${x.medianMs} | ${x.ratioVsGreedy.median} [${x.ratioVsGreedy.p25}–${x.ratioVsGreedy.p75}] | ${x.ratioVsGreedyNoSpec.median} [${x.ratioVsGreedyNoSpec.p25}–${x.ratioVsGreedyNoSpec.p75}] | ${pct(x.top1ExactMatch)} | ${pct(x.bestOfKExactMatch)} | ${(100 * x.bestOfKVsGreedy.diff).toFixed(1)} [${(100 * x.bestOfKVsGreedy.ci95[0]).toFixed(1)} … ${(100 * x.bestOfKVsGreedy.ci95[1]).toFixed(1)}] | ${pct(x.allDistinct.rate)} [${(100 * x.allDistinct.ci95[0]).toFixed(0)}–${(100 * x.allDistinct.ci95[1]).toFixed(0)}] | ${x.meanCompletions} |`,
      );
    }
  };
  table(`All examples (${report.setup.examples})`, all);
  for (const g of GROUPS) table(GROUP_LABEL[g], byGroup[g] as Summary);
  return `${lines.join('\n')}\n`;
}
