// Does the model know where a FIM middle ends? A teacher-forced test in exactly the training
// format, so that it asks what the recipe's objective teaches and nothing about decoding.
//
// For a K-line span of a held-out file (K = --lines, default 3) starting at a sampled target
// line, the prompt keeps the text before the span and the text after it (the suffix starts with
// the newline of the span's last line, as when the cursor sits on an emptied line). The model is
// shown K candidate middles with that same suffix: the span's first line, its first two lines,
// ..., all K lines — only the last is right. Each candidate is laid out as the recipe does
// (prep.py assemble: header, prefix, suffix and middle tokenized separately), and scored by
// log p(<|endoftext|> or <|file_sep|>) right after it. A model that uses the suffix to end the
// middle gives the right candidate the highest end probability; one that does not gives every
// line end about the same.
//
// Per language and layout: the median end probability at the right end and at the wrong (too
// early) ends; AUC = P(p_end(right) > p_end(too early)) over the pairs of one span (ties ½),
// with a bootstrap 95% interval over spans (0.5 = no idea where the middle ends); and how often
// the right candidate has the highest end probability of the K (chance 1/K, Wilson 95%).
//
//   ./bin/slipstream bench middle-ends [--model DIR] [--n N] [--lines K] [--seed S] [--layouts spm,psm] [--groups python,c,ts] [--out FILE] [--quick]
//
// Defaults: the embedded model, 60 spans per language, K 3, seed 1234, both layouts, prompt
// windows of 3,000 characters before and 1,000 after (fimeval.py's), results in
// bench/results/middle-ends.{json,md}; --quick: 3 spans of the Python files into bench/out/.

import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { loadCheckpoint } from '../../src/engine/checkpoint';
import { Model } from '../../src/engine/model';
import type { FimLayout, TokenizerLike } from '../../src/engine/types';
import { flag, num, refuseUnknownFlags } from '../args';
import { sampleLines } from '../model/examples';
import { GROUP_LABEL, GROUPS, loadHeldout, type Group, type HeldoutDoc } from '../model/heldout';
import { logSumExp } from '../model/loss';
import { bootstrapMean, median, r1, r3, wilson } from '../stats';

const ROOT = resolve(__dirname, '..', '..');
const BEFORE_CHARS = 3000;
const AFTER_CHARS = 1000;
const KNOWN_FLAGS = new Set(['model', 'n', 'lines', 'seed', 'layouts', 'groups', 'out', 'quick']);

/** One span: the text around it and its K candidate middles (first line, first two lines, ...). */
export interface SpanCase {
  path: string;
  before: string;
  after: string;
  /** candidates[j] = the span's first j + 1 lines; the last one is the right middle. */
  candidates: string[];
}

/**
 * The span of `k` lines of `doc` starting at UTF-16 offset `lineStart` (a line start), or null
 * when the file has fewer lines from there, or when the span has a blank line (a blank candidate
 * would repeat the one before it). The windows are cut at line boundaries like fimeval.py's.
 */
export function spanCase(doc: HeldoutDoc, lineStart: number, k: number, beforeChars = BEFORE_CHARS, afterChars = AFTER_CHARS): SpanCase | null {
  const lines = doc.text.slice(lineStart).split('\n');
  if (k < 1 || lines.length < k + 1) return null;
  const span = lines.slice(0, k);
  if (span.some((l) => l.trim() === '')) return null;
  const candidates = span.map((_, j) => span.slice(0, j + 1).join('\n'));
  let before = doc.text.slice(0, lineStart);
  let after = doc.text.slice(lineStart + candidates[k - 1].length);
  if (before.length > beforeChars) before = before.slice(before.indexOf('\n', before.length - beforeChars) + 1);
  if (after.length > afterChars) after = after.slice(0, after.lastIndexOf('\n', afterChars) + 1) || after.slice(0, afterChars);
  return { path: doc.path, before, after, candidates };
}

/** Token ids of one training-format FIM example with `middle`, the end token left out. */
export function fimSequence(tok: TokenizerLike, layout: FimLayout, c: SpanCase, middle: string): number[] {
  const id = (s: string): number => {
    const v = tok.specialId(s);
    if (v === undefined) throw new Error(`the tokenizer has no ${s}`);
    return v;
  };
  const header = [id('<|file_sep|>'), ...tok.encode(`${c.path}\n`)];
  const pre = tok.encode(c.before);
  const suf = tok.encode(c.after);
  const mid = tok.encode(middle);
  return layout === 'psm'
    ? [...header, id('<|fim_prefix|>'), ...pre, id('<|fim_suffix|>'), ...suf, id('<|fim_middle|>'), ...mid]
    : [...header, id('<|fim_prefix|>'), id('<|fim_suffix|>'), ...suf, id('<|fim_middle|>'), ...pre, ...mid];
}

/** Per span: ln p(end) after each candidate, the right one last. */
export type SpanScores = readonly number[];

export interface Discrimination {
  spans: number;
  /** P(p_end(right) > p_end(too early)), pairs within a span, ties ½; mean over spans. */
  auc: number;
  aucCi95: [number, number];
  /** Spans whose right candidate has the (strictly) highest end probability, %. */
  rightIsHighest: number;
  rightIsHighestCi95: [number, number];
  /** Chance level of rightIsHighest: 100 / K. */
  chance: number;
  /** Median end probability right after the right middle and after the too-early ones. */
  medianPEndRight: number;
  medianPEndTooEarly: number;
}

/** The statistics of spans scored by SpanScores (each with at least two candidates). */
export function discrimination(spans: readonly SpanScores[]): Discrimination {
  if (spans.length === 0) throw new Error('no spans to score');
  const aucs: number[] = [];
  let highest = 0;
  const right: number[] = [];
  const early: number[] = [];
  for (const s of spans) {
    if (s.length < 2) throw new Error('a span needs at least two candidates');
    const r = s[s.length - 1];
    const others = s.slice(0, -1);
    aucs.push(others.reduce((a, o) => a + (r > o ? 1 : r === o ? 0.5 : 0), 0) / others.length);
    if (others.every((o) => r > o)) highest++;
    right.push(r);
    early.push(...others);
  }
  const k = spans[0].length;
  const ci = wilson(highest, spans.length);
  return {
    spans: spans.length,
    auc: r3(aucs.reduce((a, b) => a + b, 0) / aucs.length),
    aucCi95: bootstrapMean(aucs).map(r3) as [number, number],
    rightIsHighest: r1((100 * highest) / spans.length),
    rightIsHighestCi95: [r1(100 * ci[0]), r1(100 * ci[1])],
    chance: r1(100 / k),
    medianPEndRight: Number(Math.exp(median(right)).toPrecision(3)),
    medianPEndTooEarly: Number(Math.exp(median(early)).toPrecision(3)),
  };
}

export async function run(args: string[]): Promise<object> {
  refuseUnknownFlags('middle-ends', args, KNOWN_FLAGS);
  const quick = args.includes('--quick');
  const n = num(args, 'n', quick ? 3 : 60);
  const k = num(args, 'lines', 3);
  const seed = num(args, 'seed', 1234);
  if (!(Number.isInteger(n) && n > 0)) throw new Error(`--n must be a positive integer, got ${flag(args, 'n')}`);
  if (!(Number.isInteger(k) && k >= 2)) throw new Error(`--lines must be an integer ≥ 2 (a right end and a too-early one), got ${flag(args, 'lines')}`);
  const layouts = (flag(args, 'layouts') ?? 'spm,psm').split(',') as FimLayout[];
  for (const l of layouts) if (l !== 'spm' && l !== 'psm') throw new Error(`--layouts: unknown layout ${JSON.stringify(l)} (spm, psm)`);
  const groups = (flag(args, 'groups') ?? (quick ? 'python' : GROUPS.join(','))).split(',') as Group[];
  for (const g of groups) if (!GROUPS.includes(g)) throw new Error(`--groups: unknown group ${JSON.stringify(g)} (python, c, ts)`);
  const modelDir = resolve(flag(args, 'model') ?? join(ROOT, 'models', 'default'));
  const outFile = resolve(flag(args, 'out') ?? join(ROOT, 'bench', quick ? 'out' : 'results', quick ? 'middle-ends-quick.json' : 'middle-ends.json'));
  const log = (s: string): void => void process.stderr.write(`${s}\n`);

  const started = performance.now();
  const load0 = loadavg().map(r1);
  const ckpt = await loadCheckpoint(modelDir);
  const model = await Model.load(ckpt, { threads: 2 });
  const tok = ckpt.tokenizer;
  const V = model.config.vocabSize;
  const ends = ['<|endoftext|>', '<|file_sep|>'].map((s) => tok.specialId(s)).filter((x): x is number => x !== undefined);
  if (ends.length === 0) throw new Error(`${modelDir}: the tokenizer has no <|endoftext|>`);
  const results: Record<string, Discrimination & { group: Group; layout: FimLayout }> = {};
  try {
    for (const g of groups) {
      const docs = loadHeldout(join(ROOT, 'bench', 'data', 'heldout'), g);
      // draw more lines than needed: spans with a blank line or too close to the end are skipped
      const cases = sampleLines(docs, g, n * 4, seed)
        .map((ex) => spanCase(docs[ex.doc], ex.lineStart, k))
        .filter((c): c is SpanCase => c !== null)
        .slice(0, n);
      for (const layout of layouts) {
        const scores: number[][] = [];
        for (const c of cases) {
          const s: number[] = [];
          for (const middle of c.candidates) {
            const seq = fimSequence(tok, layout, c, middle);
            const out = await model.forward(model.createCache(), { embeds: model.embed(seq), positions: seq.map((_, i) => i) });
            const row = out.logits.length - V;
            const z = logSumExp(out.logits, row, V);
            s.push(Math.log(ends.reduce((a, e) => a + Math.exp(out.logits[row + e] - z), 0)));
          }
          scores.push(s);
        }
        const d = discrimination(scores);
        results[`${g}/${layout}`] = { group: g, layout, ...d };
        log(`[middle-ends] ${g} ${layout}: AUC ${d.auc} [${d.aucCi95.join(', ')}], right end highest ${d.rightIsHighest}% (chance ${d.chance}%), median p_end ${d.medianPEndRight} right vs ${d.medianPEndTooEarly} too early`);
      }
    }
  } finally {
    await model.dispose();
  }

  const report = {
    bench: 'middle-ends',
    command: `slipstream bench middle-ends ${args.join(' ')}`.trim(),
    model: modelDir,
    spansPerLanguage: n,
    linesPerSpan: k,
    seed,
    windows: { beforeChars: BEFORE_CHARS, afterChars: AFTER_CHARS },
    seconds: Math.round((performance.now() - started) / 1000),
    loadAvg: { start: load0, end: loadavg().map(r1) },
    results,
  };
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, `${JSON.stringify(report, null, 1)}\n`);
  const md = [
    '# Does the model know where a FIM middle ends? (`bench middle-ends`)',
    '',
    `Model \`${modelDir}\`; ${n} spans of ${k} lines per language (seed ${seed}); each span's ${k} candidate middles`,
    `(its first line, first two lines, …) with the same suffix, in the training format; score = p(end token) right after`,
    `the candidate. AUC 0.5 = the end probability does not tell the right end from a too-early one. ${report.seconds} s.`,
    '',
    '| language | layout | AUC [95% CI] | right end has the highest p(end) [95% CI] (chance) | median p(end): right / too early |',
    '| --- | --- | --- | --- | --- |',
    ...Object.values(results).map((r) => `| ${GROUP_LABEL[r.group]} | ${r.layout} | ${r.auc} [${r.aucCi95.join(', ')}] | ${r.rightIsHighest}% [${r.rightIsHighestCi95.join(', ')}] (${r.chance}%) | ${r.medianPEndRight} / ${r.medianPEndTooEarly} |`),
    '',
  ].join('\n');
  writeFileSync(outFile.replace(/\.json$/, '.md'), md);
  return { written: [outFile, outFile.replace(/\.json$/, '.md')], results };
}
