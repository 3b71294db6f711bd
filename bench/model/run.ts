// Held-out evaluation of a checkpoint with our engine on the CPU (issue 3, part 2): per language,
// plain-document loss and bits per byte, next-line exact match / edit similarity (prefix-only
// and with the suffix), single-line infill exact match, and cheap baselines on the same examples.
//
//   ./bin/slipstream bench model [--quick] [--n N] [--seed S] [--model DIR] [--threads T]
//                                [--loss-rows R] [--fim-examples F] [--no-loss] [--groups python,c,ts] [--out FILE]
//
// Defaults are the committed run (bench/results/model.{json,md}, per-example records in
// model-examples.jsonl); --quick is a smoke run (2 examples, 1 loss row, 2 FIM middles per
// language) written to bench/out/model-quick.*. --n 0 runs only the losses.
//
// Loss: see loss.ts — the recipe's own held-out rows and FIM examples (plain documents, and PSM
// middles), rebuilt token for token, so the numbers compare with the GPU's.
// Completion metrics: see examples.ts for what is sampled and shown, baselines.ts for the
// baselines. Prompts are laid out as the editor lays them out (DocumentPrompt with the
// service's window policy: at most 2048 − 64 − 36 text tokens, 75% of them before the cursor when
// the file does not fit, `<|file_sep|>{path}\n<|fim_prefix|>…<|fim_suffix|>…<|fim_middle|>`);
// prefix-only is measured twice on the same text before the cursor: in that layout with nothing
// after `<|fim_suffix|>` (what the editor sends at the end of a file), and in the plain
// continuation format the model was also trained on, `<|file_sep|>{path}\n{before}`. Greedy
// decoding, raw model output (no post-processing), at most 64 new tokens.
//
// Two caches (FIM layout, plain format) serve every prompt: each prompt keeps the longest common
// token prefix of the one before in its cache (cacheUpdate 'prefix' mode: same tokens at the
// same positions, so exact under causal attention) and encodes the rest. The FIM prompts of one
// example share the whole text before the cursor, so an example costs about two prefills, the
// suffix and five short decodes.
//
// Metrics. next-line: the first generated line (up to the first "\n") and the target line, both
// trimmed of leading and trailing whitespace; EM = equal; ES = 1 − Levenshtein / max length
// (UTF-16 code units) on those trimmed strings. infill: the whole generated middle and the
// target line, trailing whitespace trimmed, indentation kept; EM also needs the model to have
// ended the middle (<|endoftext|> or a control token) with nothing after the line. Intervals:
// Wilson 95% for EM, percentile bootstrap 95% (2000 resamples, seeded) for ES means and for the
// paired model − baseline differences.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { loadCheckpoint } from '../../src/engine/checkpoint';
import { Model } from '../../src/engine/model';
import type { KvCache } from '../../src/engine/kvCache';
import type { TokenizerLike } from '../../src/engine/types';
import { generate } from '../../src/decoding/generate';
import { generationConfig } from '../../src/decoding/generationConfig';
import { banIdsFrom, banTokens, type LogitsProcessor } from '../../src/decoding/logitsProcessors';
import { stopAtControlTokens, stopAtEos, stopAtMaxTokens, type StoppingCriterion } from '../../src/decoding/stopping';
import { updateCache } from '../../src/completion/pie/cacheUpdate';
import { DocumentPrompt, markersOf } from '../../src/completion/pie/documentPrompt';
import { DEFAULT_PROMPT_BUDGET, promptPath } from '../../src/completion/prompt';
import { windowPolicy } from '../../src/completion/documentSession';
import { bootstrapMean, editSimilarity, mean, pairedDifference, wilson } from '../stats';
import { InFileNgram } from './baselines';
import { firstLine, sampleLines, withLineRemoved, type LineExample } from './examples';
import { GROUP_LABEL, GROUPS, loadHeldout, type Group, type HeldoutDoc } from './heldout';
import { middleLoss, middleLossWithoutSuffix, recipeFimExamples, recipePlainRows, rowLoss, RECIPE_FIM_EXAMPLES, RECIPE_PLAIN_ROWS } from './loss';

const ROOT = resolve(__dirname, '..', '..');
const MAX_NEW = 64;
const CONTEXT = DEFAULT_PROMPT_BUDGET.maxContextTokens;

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

function num(args: string[], name: string, dflt: number): number {
  const v = flag(args, name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name}: expected a non-negative number, got ${JSON.stringify(v)}`);
  return n;
}

const r1 = (x: number): number => Math.round(x * 10) / 10;
const r3 = (x: number): number => Math.round(x * 1000) / 1000;
const r4 = (x: number): number => Math.round(x * 10000) / 10000;

/** One prediction scored. */
interface Score {
  pred: string;
  em: 0 | 1;
  es: number;
}

/** Everything measured on one example. */
interface ExampleResult {
  group: Group;
  path: string;
  lang: string;
  line: number;
  target: string;
  promptTokens: { before: number; after: number };
  nextPrefix: { model: Score; repeat: Score; ngram: Score };
  nextPlain: { model: Score; repeat: Score; ngram: Score };
  nextFim: { model: Score; repeat: Score; ngram: Score };
  infill: { model: Score & { ended: boolean }; repeat: Score; ngram: Score };
  /** FIM next line with the middle not allowed to end at its first token. */
  nextFimNoEmpty: { model: Score };
  /** Only for indented lines: prefix-only with the cursor after the indentation. */
  afterIndent?: { model: Score };
  /** Probability the model gives to ending the middle at once (end and control tokens), per FIM prompt. */
  firstEndProbability: { prefixOnly: number; fim: number };
  /** Wrong, non-empty predictions that are (stripped) some other line of the file: plain, FIM. */
  copiedLine: { plain: boolean; fim: boolean };
}

function scoreLine(pred: string, target: string): Score {
  const p = pred.trim();
  const t = target.trim();
  return { pred: p, em: p === t ? 1 : 0, es: r4(editSimilarity(p, t)) };
}

function scoreInfill(pred: string, target: string, ended: boolean): Score & { ended: boolean } {
  const p = pred.trimEnd();
  const t = target.trimEnd();
  return { pred: p, ended, em: ended && p === t ? 1 : 0, es: r4(editSimilarity(p, t)) };
}

/** Infill decoding stops at the end of the middle, or as soon as a second line has visible text (then it is not one line). */
function secondLineStarted(): StoppingCriterion {
  return ({ text }) => {
    const nl = text.indexOf('\n');
    return nl >= 0 && text.slice(nl + 1).trim() !== '' ? { kind: 'stopString', keep: text.length } : null;
  };
}

interface Ctx {
  model: Model;
  tokenizer: TokenizerLike;
  /** One cache for the FIM-layout prompts, one for the plain ones: each keeps its longest common prefix. */
  fimCache: KvCache;
  plainCache: KvCache;
  counters: { encoded: number; reused: number; generated: number; prompts: number };
}

/** Brings `cache` to `tokens` (longest common prefix kept) and returns the last logits. */
async function encode(ctx: Ctx, cache: KvCache, tokens: number[]): Promise<Float32Array> {
  if (tokens.length + MAX_NEW > CONTEXT) throw new Error(`prompt of ${tokens.length} tokens + ${MAX_NEW} new > ${CONTEXT}`);
  const out = await updateCache(ctx.model, cache, tokens, { mode: 'prefix' });
  ctx.counters.encoded += out.encoded;
  ctx.counters.reused += out.reused;
  ctx.counters.prompts++;
  return out.logits;
}

/** Greedy decoding from a copy of `logits` (the cache's last slot); the cache is left as it was. */
async function decodeFrom(ctx: Ctx, cache: KvCache, logits: Float32Array, mode: 'line' | 'middle', extra: LogitsProcessor[] = []): Promise<{ text: string; ended: boolean }> {
  const config = generationConfig(ctx.tokenizer, mode === 'line' ? { maxNewTokens: MAX_NEW, mode: 'line', stopStrings: ['\n'] } : { maxNewTokens: MAX_NEW });
  const criteria = mode === 'line' ? undefined : [stopAtEos(config.eosTokenIds), stopAtControlTokens(config.stopTokenIds), secondLineStarted(), stopAtMaxTokens(MAX_NEW)];
  const processors = [banIdsFrom(ctx.tokenizer.size), ...extra];
  const gen = await generate(ctx.model, cache, logits.slice(), config, { tokenizer: ctx.tokenizer, processors, criteria });
  ctx.counters.generated += gen.tokens.length;
  return { text: gen.text, ended: gen.stop === 'eos' || gen.stop === 'stopToken' };
}

/** Softmax mass of `ids` in one row of logits. */
function probabilityOf(logits: Float32Array, ids: readonly number[]): number {
  let max = -Infinity;
  for (const x of logits) if (x > max) max = x;
  let z = 0;
  for (const x of logits) z += Math.exp(x - max);
  return ids.reduce((p, id) => p + Math.exp(logits[id] - max) / z, 0);
}

/** Forbids ending the middle (end and control tokens) at the first generated token only. */
function noEmptyMiddle(ids: readonly number[]): LogitsProcessor {
  const ban = banTokens(ids);
  return (logits, c) => {
    if (c.generated.length === 0) ban(logits, c);
  };
}

async function evaluateExample(ctx: Ctx, doc: HeldoutDoc, ex: LineExample): Promise<ExampleResult> {
  const { tokenizer } = ctx;
  const markers = markersOf(tokenizer);
  const budget = { ...DEFAULT_PROMPT_BUDGET, reserveTokens: MAX_NEW };
  const { text, cursor } = withLineRemoved(doc, ex);
  const prompt = new DocumentPrompt(tokenizer, markers, promptPath(ex.path), text, cursor, windowPolicy(budget));
  const fim = prompt.tokens();
  const L = prompt.layout();
  const header = fim.slice(0, L.beforeStart - 1); // <|file_sep|> path "\n"
  const before = fim.slice(L.beforeStart, L.beforeEnd);
  const after = fim.slice(L.afterStart, L.afterEnd);
  const beforeText = text.slice(prompt.window[0], cursor);
  const prefixOnly = [...fim.slice(0, L.beforeEnd + 1), markers.fimMiddle];
  const plain = [...header, ...before];
  const config = generationConfig(tokenizer);
  const ends = [...config.eosTokenIds, ...config.stopTokenIds];

  const target = ex.text;
  const res: Partial<ExampleResult> = {
    group: ex.group,
    path: ex.path,
    lang: ex.lang,
    line: ex.line,
    target,
    promptTokens: { before: before.length, after: after.length },
  };

  // Model. FIM prompts in the order that shares the most encoded tokens.
  const nextPlain = await decodeFrom(ctx, ctx.plainCache, await encode(ctx, ctx.plainCache, plain), 'line');
  const prefixLogits = await encode(ctx, ctx.fimCache, prefixOnly);
  const nextPrefix = await decodeFrom(ctx, ctx.fimCache, prefixLogits, 'line');
  if (ex.indent !== '') {
    const indented = [...fim.slice(0, L.beforeStart), ...tokenizer.encode(beforeText + ex.indent), markers.fimSuffix, markers.fimMiddle];
    const r = await decodeFrom(ctx, ctx.fimCache, await encode(ctx, ctx.fimCache, indented), 'line');
    res.afterIndent = { model: scoreLine(r.text, target) };
  }
  const fimLogits = await encode(ctx, ctx.fimCache, fim);
  const middle = await decodeFrom(ctx, ctx.fimCache, fimLogits, 'middle');
  const nonEmpty = await decodeFrom(ctx, ctx.fimCache, fimLogits, 'line', [noEmptyMiddle(ends)]);
  const fileLines = new Set(doc.text.split('\n').map((l) => l.trim()));
  const copied = (sc: Score): boolean => sc.em === 0 && sc.pred !== '' && fileLines.has(sc.pred);
  res.firstEndProbability = { prefixOnly: r4(probabilityOf(prefixLogits, ends)), fim: r4(probabilityOf(fimLogits, ends)) };

  // Baselines on the same prompts' text.
  const ngramPrefix = new InFileNgram().add(before).continueLine(before, tokenizer);
  const ngramFim = new InFileNgram().add(before).add(after).continueLine(before, tokenizer);
  const prefixBaselines = { repeat: scoreLine(ex.previous, target), ngram: scoreLine(ngramPrefix, target) };
  res.nextPrefix = { model: scoreLine(firstLine(nextPrefix.text), target), ...prefixBaselines };
  res.nextPlain = { model: scoreLine(firstLine(nextPlain.text), target), ...prefixBaselines };
  res.nextFim = { model: scoreLine(firstLine(middle.text), target), repeat: scoreLine(ex.previous, target), ngram: scoreLine(ngramFim, target) };
  res.nextFimNoEmpty = { model: scoreLine(firstLine(nonEmpty.text), target) };
  res.copiedLine = { plain: copied(res.nextPlain.model), fim: copied(res.nextFim.model) };
  res.infill = {
    model: scoreInfill(middle.text, target, middle.ended),
    repeat: scoreInfill(ex.previous, target, true),
    ngram: scoreInfill(ngramFim, target, true),
  };
  return res as ExampleResult;
}

interface MetricSummary {
  n: number;
  em: number;
  emCi95: [number, number];
  es: number;
  esCi95: [number, number];
}

function summarize(scores: Score[]): MetricSummary {
  const k = scores.reduce((a, s) => a + s.em, 0);
  const n = scores.length;
  const es = scores.map((s) => s.es);
  const w = wilson(k, n);
  const b = bootstrapMean(es);
  return { n, em: r1((100 * k) / n), emCi95: [r1(100 * w[0]), r1(100 * w[1])], es: r1(100 * mean(es)), esCi95: [r1(100 * b[0]), r1(100 * b[1])] };
}

function diff(a: Score[], b: Score[]): { em: number; emCi95: [number, number]; es: number; esCi95: [number, number] } {
  const e = pairedDifference(
    a.map((s) => s.em),
    b.map((s) => s.em),
  );
  const s = pairedDifference(
    a.map((x) => x.es),
    b.map((x) => x.es),
  );
  return { em: r1(100 * e.diff), emCi95: [r1(100 * e.ci95[0]), r1(100 * e.ci95[1])], es: r1(100 * s.diff), esCi95: [r1(100 * s.ci95[0]), r1(100 * s.ci95[1])] };
}

type Task = 'nextPlain' | 'nextPrefix' | 'nextFim' | 'infill';
const TASKS: readonly Task[] = ['nextPlain', 'nextPrefix', 'nextFim', 'infill'];
const TASK_LABEL: Record<Task, string> = {
  nextPlain: 'next line, prefix only, plain format (`<|file_sep|>{path}\\n{before}`)',
  nextPrefix: 'next line, prefix only, FIM layout with an empty suffix (what the editor sends at the end of a file)',
  nextFim: 'next line, with the suffix (FIM, as the editor sends it)',
  infill: 'single-line infill (same FIM generation, the whole middle must be the line)',
};

function summarizeGroup(rs: ExampleResult[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const t of TASKS) {
    const model = rs.map((r) => r[t].model);
    const repeat = rs.map((r) => r[t].repeat);
    const ngram = rs.map((r) => r[t].ngram);
    out[t] = {
      model: summarize(model),
      repeat: summarize(repeat),
      ngram: summarize(ngram),
      modelMinusRepeat: diff(model, repeat),
      modelMinusNgram: diff(model, ngram),
    };
  }
  const indented = rs.filter((r) => r.afterIndent);
  if (indented.length > 0) {
    out.afterIndent = {
      model: summarize(indented.map((r) => r.afterIndent!.model)),
      columnZeroSameLines: summarize(indented.map((r) => r.nextPrefix.model)),
      minusColumnZero: diff(
        indented.map((r) => r.afterIndent!.model),
        indented.map((r) => r.nextPrefix.model),
      ),
    };
  }
  out.nextFimNoEmpty = {
    model: summarize(rs.map((r) => r.nextFimNoEmpty.model)),
    minusNextFim: diff(
      rs.map((r) => r.nextFimNoEmpty.model),
      rs.map((r) => r.nextFim.model),
    ),
  };
  out.wrongPredictionsCopyingAnotherLine = {
    plain: r1((100 * rs.filter((r) => r.copiedLine.plain).length) / rs.length),
    fim: r1((100 * rs.filter((r) => r.copiedLine.fim).length) / rs.length),
  };
  out.meanFirstEndProbability = {
    prefixOnly: r3(mean(rs.map((r) => r.firstEndProbability.prefixOnly))),
    fim: r3(mean(rs.map((r) => r.firstEndProbability.fim))),
  };
  // Plain next-line EM by the target's length (stripped, UTF-16 units).
  out.nextPlainByLength = Object.fromEntries(
    (
      [
        ['under20', 0, 20],
        ['20to39', 20, 40],
        ['40plus', 40, Infinity],
      ] as const
    ).map(([k, lo, hi]) => {
      const xs = rs.filter((r) => r.target.trim().length >= lo && r.target.trim().length < hi);
      return [k, { n: xs.length, exact: xs.reduce((a, r) => a + r.nextPlain.model.em, 0), es: r1(100 * mean(xs.map((r) => r.nextPlain.model.es))) }];
    }),
  );
  const empty = (xs: Score[]): number => r1((100 * xs.filter((x) => x.pred === '').length) / xs.length);
  out.modelEmptyPredictions = Object.fromEntries(TASKS.map((t) => [t, empty(rs.map((r) => r[t].model))]));
  out.infillEnded = r1((100 * rs.filter((r) => r.infill.model.ended).length) / rs.length);
  out.meanPromptTokens = { before: Math.round(mean(rs.map((r) => r.promptTokens.before))), after: Math.round(mean(rs.map((r) => r.promptTokens.after))) };
  return out;
}

/** Mean nats and top-1 rate of a set of scored targets. */
class Acc {
  private nats = 0;
  private top1 = 0;
  private n = 0;

  add(nll: number, top1: boolean): void {
    this.nats += nll;
    if (top1) this.top1++;
    this.n++;
  }

  summary(): { n: number; nats_per_token: number; top1: number } {
    return { n: this.n, nats_per_token: r3(this.nats / this.n), top1: r3(this.top1 / this.n) };
  }
}

/** The recipe's final held-out losses (models/recipe/run/train_log.jsonl: python_plain, c_fim_middle, ...), when the file is there. */
function gpuLosses(): Record<string, number> | null {
  const p = join(ROOT, 'models', 'recipe', 'run', 'train_log.jsonl');
  if (!existsSync(p)) return null;
  let last: Record<string, number> | null = null;
  for (const line of readFileSync(p, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const rec = JSON.parse(line) as { eval?: Record<string, number> };
    if (rec.eval && Object.keys(rec.eval).length > 0) last = rec.eval;
  }
  return last;
}

export async function run(args: string[]): Promise<object> {
  const quick = args.includes('--quick');
  const n = num(args, 'n', quick ? 2 : 120);
  const seed = num(args, 'seed', 1234);
  const lossRows = args.includes('--no-loss') ? 0 : num(args, 'loss-rows', quick ? 1 : Infinity);
  const fimExamples = args.includes('--no-loss') ? 0 : num(args, 'fim-examples', quick ? 2 : Infinity);
  const modelDir = resolve(flag(args, 'model') ?? join(ROOT, 'models', 'default'));
  const outFile = resolve(flag(args, 'out') ?? join(ROOT, 'bench', quick ? 'out' : 'results', quick ? 'model-quick.json' : 'model.json'));
  const groups = (flag(args, 'groups') ?? GROUPS.join(',')).split(',') as Group[];
  for (const g of groups) if (!GROUPS.includes(g)) throw new Error(`--groups: unknown group ${JSON.stringify(g)} (python, c, ts)`);
  const log = (s: string): void => void process.stderr.write(`${s}\n`);
  const dataDir = join(ROOT, 'bench', 'data', 'heldout');

  const loadAvgStart = loadavg().map(r1);
  const started = performance.now();
  const ckpt = await loadCheckpoint(modelDir);
  const model = await Model.load(ckpt, { threads: num(args, 'threads', 2) });
  const tokenizer = ckpt.tokenizer;
  const gpu = gpuLosses();
  const ctx: Ctx = { model, tokenizer, fimCache: model.createCache(), plainCache: model.createCache(), counters: { encoded: 0, reused: 0, generated: 0, prompts: 0 } };
  const loss: Record<string, unknown> = {};
  const fimLoss: Record<string, unknown> = {};
  const completion: Record<string, unknown> = {};
  const failures: Record<string, unknown[]> = {};
  const examples: ExampleResult[] = [];
  const seconds: Record<string, number> = {};
  try {
    for (const [gi, group] of groups.entries()) {
      const docs = loadHeldout(dataDir, group);
      if (lossRows > 0) {
        const t = performance.now();
        const { rows, files } = recipePlainRows(docs, tokenizer, group, RECIPE_PLAIN_ROWS);
        const use = rows.slice(0, Math.min(rows.length, lossRows));
        let nats = 0;
        let tokens = 0;
        let textNats = 0;
        let textBytes = 0;
        let textTokens = 0;
        let top1 = 0;
        const perRow: number[] = [];
        for (const [i, row] of use.entries()) {
          const r = await rowLoss(model, tokenizer, row);
          nats += r.nats;
          tokens += r.tokens;
          textNats += r.textNats;
          textBytes += r.textBytes;
          textTokens += r.textTokens;
          top1 += r.top1;
          perRow.push(r4(r.nats / r.tokens));
          log(`[loss ${group}] row ${i + 1}/${use.length}: ${(r.nats / r.tokens).toFixed(4)} nats/token`);
        }
        const lossValue = nats / tokens;
        loss[group] = {
          rows: use.length,
          recipeRows: rows.length,
          files: files.length,
          tokens,
          nats_per_token: r4(lossValue),
          bits_per_byte: r4(textNats / Math.LN2 / textBytes),
          bytes_per_text_token: r3(textBytes / textTokens),
          top1_accuracy: r3(top1 / tokens),
          gpu_nats_per_token: gpu?.[`${group}_plain`] ?? null,
          delta_vs_gpu: gpu && use.length === rows.length ? r4(lossValue - gpu[`${group}_plain`]) : null,
          per_row: perRow,
        };
        seconds[`loss_${group}`] = Math.round((performance.now() - t) / 1000);
      }
      if (fimExamples > 0) {
        const t = performance.now();
        const all = recipeFimExamples(docs, tokenizer, group, RECIPE_FIM_EXAMPLES);
        const use = all.slice(0, Math.min(all.length, fimExamples));
        // Targets by place in the middle: its first token, the ones after it, the end token.
        const fim = { first: new Acc(), interior: new Acc(), end: new Acc() };
        const noSuffix = { first: new Acc(), interior: new Acc() };
        let nats = 0;
        let tokens = 0;
        let top1 = 0;
        let exact = 0;
        for (const ex of use) {
          const r = await middleLoss(model, ex);
          r.nll.forEach((x, i) => {
            nats += x;
            tokens++;
            if (r.top1[i]) top1++;
            (i === 0 ? fim.first : i === r.nll.length - 1 ? fim.end : fim.interior).add(x, r.top1[i]);
          });
          if (r.top1.every(Boolean)) exact++;
          const p = await middleLossWithoutSuffix(model, ex);
          p.nll.forEach((x, i) => (i === 0 ? noSuffix.first : noSuffix.interior).add(x, p.top1[i]));
        }
        log(`[fim loss ${group}] ${use.length} middles: ${(nats / tokens).toFixed(4)} nats/token`);
        const w = wilson(exact, use.length);
        fimLoss[group] = {
          examples: use.length,
          recipeExamples: all.length,
          tokens,
          nats_per_token: r4(nats / tokens),
          top1_accuracy: r3(top1 / tokens),
          exact_middles: r1((100 * exact) / use.length),
          exact_middles_ci95: [r1(100 * w[0]), r1(100 * w[1])],
          gpu_nats_per_token: gpu?.[`${group}_fim_middle`] ?? null,
          delta_vs_gpu: gpu && use.length === all.length ? r4(nats / tokens - gpu[`${group}_fim_middle`]) : null,
          byPlace: { first: fim.first.summary(), interior: fim.interior.summary(), end: fim.end.summary() },
          withoutSuffix: { first: noSuffix.first.summary(), interior: noSuffix.interior.summary() },
        };
        seconds[`fim_loss_${group}`] = Math.round((performance.now() - t) / 1000);
      }
      if (n === 0) continue;

      const t = performance.now();
      const sample = sampleLines(docs, group, n, seed + gi);
      const rs: ExampleResult[] = [];
      for (const [i, ex] of sample.entries()) {
        rs.push(await evaluateExample(ctx, docs[ex.doc], ex));
        if ((i + 1) % 10 === 0 || i + 1 === sample.length) log(`[${group}] ${i + 1}/${sample.length} examples, ${Math.round((performance.now() - t) / 1000)} s`);
      }
      examples.push(...rs);
      completion[group] = summarizeGroup(rs);
      failures[group] = rs.filter((r) => r.nextFim.model.em === 0).slice(0, 12).map((r) => ({
        path: r.path,
        line: r.line + 1,
        target: r.target,
        plain: r.nextPlain.model.pred,
        prefixOnly: r.nextPrefix.model.pred,
        fim: r.nextFim.model.pred,
        fimNoEmpty: r.nextFimNoEmpty.model.pred,
        infill: r.infill.model.pred,
        repeat: r.nextFim.repeat.pred,
        ngram: r.nextFim.ngram.pred,
      }));
      seconds[`examples_${group}`] = Math.round((performance.now() - t) / 1000);
    }
  } finally {
    await model.dispose();
  }

  const report = {
    bench: 'model',
    command: `./bin/slipstream bench model ${args.join(' ')}`.trim(),
    model: modelDir,
    seed,
    examplesPerLanguage: n,
    maxNewTokens: MAX_NEW,
    contextTokens: CONTEXT,
    wallSeconds: Math.round((performance.now() - started) / 1000),
    seconds,
    loadAvg: { start: loadAvgStart, end: loadavg().map(r1) },
    tokens: ctx.counters,
    loss,
    fimLoss,
    completion,
    failures,
  };
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, `${JSON.stringify(report, null, 1)}\n`);
  writeFileSync(outFile.replace(/\.json$/, '-examples.jsonl'), examples.map((e) => JSON.stringify(e)).join('\n') + '\n');
  const md = markdown(report, groups);
  writeFileSync(outFile.replace(/\.json$/, '.md'), md);
  process.stdout.write(md);
  const brief = Object.fromEntries(
    groups.map((g) => {
      const c = completion[g] as Record<Task, { model: MetricSummary; repeat: MetricSummary; ngram: MetricSummary }> | undefined;
      const l = loss[g] as { nats_per_token: number; bits_per_byte: number } | undefined;
      return [g, { loss: l?.nats_per_token, bitsPerByte: l?.bits_per_byte, ...Object.fromEntries(TASKS.map((t) => [t, c && { modelEM: c[t].model.em, repeatEM: c[t].repeat.em, ngramEM: c[t].ngram.em }])) }];
    }),
  );
  return { out: outFile, wallSeconds: report.wallSeconds, results: brief };
}

const pct = (s: MetricSummary, key: 'em' | 'es'): string => `${s[key]} [${s[key === 'em' ? 'emCi95' : 'esCi95'][0]}, ${s[key === 'em' ? 'emCi95' : 'esCi95'][1]}]`;

function markdown(report: { command: string; wallSeconds: number; loadAvg: { start: number[]; end: number[] }; loss: Record<string, unknown>; fimLoss: Record<string, unknown>; completion: Record<string, unknown>; examplesPerLanguage: number; seed: number }, groups: Group[]): string {
  const md: string[] = [`# bench model (${new Date().toISOString().slice(0, 10)})`, '', `\`${report.command}\` — ${report.wallSeconds} s, load average ${report.loadAvg.start.join(' ')} → ${report.loadAvg.end.join(' ')}, seed ${report.seed}`, ''];
  if (Object.keys(report.loss).length > 0) {
    md.push(
      "## Held-out loss, plain documents (the recipe's rows)",
      '',
      '| language | rows × 2048 | nats/token (CPU, fp32) | GPU (bf16 autocast) | Δ | bits/byte (text tokens) | bytes/token | next-token top-1 |',
      '|---|---|---|---|---|---|---|---|',
    );
    for (const g of groups) {
      const l = report.loss[g] as { rows: number; nats_per_token: number; gpu_nats_per_token: number | null; delta_vs_gpu: number | null; bits_per_byte: number; bytes_per_text_token: number; top1_accuracy: number } | undefined;
      if (l) md.push(`| ${GROUP_LABEL[g]} | ${l.rows} | ${l.nats_per_token} | ${l.gpu_nats_per_token ?? '—'} | ${l.delta_vs_gpu ?? '—'} | ${l.bits_per_byte} | ${l.bytes_per_text_token} | ${r1(100 * l.top1_accuracy)}% |`);
    }
    md.push('');
  }
  if (Object.keys(report.fimLoss).length > 0) {
    md.push(
      "## Held-out loss, FIM middles (the recipe's PSM examples: rest of a line or 1–6 lines)",
      '',
      '| language | middles | nats/token (CPU) | GPU | Δ | middle-token top-1 | middles greedy would write exactly, % [95% CI] |',
      '|---|---|---|---|---|---|---|',
    );
    for (const g of groups) {
      const l = report.fimLoss[g] as { examples: number; nats_per_token: number; gpu_nats_per_token: number | null; delta_vs_gpu: number | null; top1_accuracy: number; exact_middles: number; exact_middles_ci95: [number, number] } | undefined;
      if (l) md.push(`| ${GROUP_LABEL[g]} | ${l.examples} | ${l.nats_per_token} | ${l.gpu_nats_per_token ?? '—'} | ${l.delta_vs_gpu ?? '—'} | ${r1(100 * l.top1_accuracy)}% | ${l.exact_middles} [${l.exact_middles_ci95[0]}, ${l.exact_middles_ci95[1]}] |`);
    }
    md.push(
      '',
      'The same middles by place, and after the plain prefix alone (`<|file_sep|>{path}\\n{prefix}{middle}`, no suffix): nats/token, top-1 %',
      '',
      '| language | FIM: first middle token | FIM: the rest of the middle | FIM: end token | no suffix: first middle token | no suffix: the rest |',
      '|---|---|---|---|---|---|',
    );
    type P = { nats_per_token: number; top1: number };
    const cell = (x: P): string => `${x.nats_per_token} / ${r1(100 * x.top1)}%`;
    for (const g of groups) {
      const l = report.fimLoss[g] as { byPlace: { first: P; interior: P; end: P }; withoutSuffix: { first: P; interior: P } } | undefined;
      if (l) md.push(`| ${GROUP_LABEL[g]} | ${cell(l.byPlace.first)} | ${cell(l.byPlace.interior)} | ${cell(l.byPlace.end)} | ${cell(l.withoutSuffix.first)} | ${cell(l.withoutSuffix.interior)} |`);
    }
    md.push('');
  }
  if (report.examplesPerLanguage === 0) return `${md.join('\n')}\n`;
  md.push(`## Completion (n = ${report.examplesPerLanguage} lines per language; EM / ES in %, [95% CI])`, '');
  for (const t of TASKS) {
    md.push(`### ${TASK_LABEL[t]}`, '', '| language | n | model EM | repeat-prev EM | in-file 4-gram EM | model − best baseline EM, points | model ES | repeat ES | 4-gram ES |', '|---|---|---|---|---|---|---|---|---|');
    for (const g of groups) {
      const c = report.completion[g] as Record<Task, { model: MetricSummary; repeat: MetricSummary; ngram: MetricSummary; modelMinusRepeat: ReturnType<typeof diff>; modelMinusNgram: ReturnType<typeof diff> }> | undefined;
      if (!c) continue;
      const s = c[t];
      const best = s.repeat.em >= s.ngram.em ? s.modelMinusRepeat : s.modelMinusNgram;
      md.push(`| ${GROUP_LABEL[g]} | ${s.model.n} | ${pct(s.model, 'em')} | ${pct(s.repeat, 'em')} | ${pct(s.ngram, 'em')} | ${best.em} [${best.emCi95[0]}, ${best.emCi95[1]}] | ${pct(s.model, 'es')} | ${pct(s.repeat, 'es')} | ${pct(s.ngram, 'es')} |`);
    }
    md.push('');
  }
  md.push(
    '### Other variants (model only)',
    '',
    '| language | FIM next line, the middle may not end at once: EM / ES | cursor after the indentation, prefix only (FIM layout): EM / ES (n) | same lines, cursor at column 0: EM / ES | infill middles the model ended | empty first lines: plain / FIM prefix-only / FIM | mean P(end the middle at once): FIM prefix-only / FIM | plain EM by line length: < 20 / 20–39 / ≥ 40 chars |',
    '|---|---|---|---|---|---|---|---|',
  );
  for (const g of groups) {
    const c = report.completion[g] as
      | {
          afterIndent?: { model: MetricSummary; columnZeroSameLines: MetricSummary };
          nextFimNoEmpty: { model: MetricSummary };
          infillEnded: number;
          modelEmptyPredictions: Record<Task, number>;
          meanFirstEndProbability: { prefixOnly: number; fim: number };
          nextPlainByLength: Record<string, { n: number; exact: number }>;
        }
      | undefined;
    if (!c) continue;
    const ai = c.afterIndent;
    const e = c.modelEmptyPredictions;
    md.push(
      `| ${GROUP_LABEL[g]} | ${pct(c.nextFimNoEmpty.model, 'em')} / ${c.nextFimNoEmpty.model.es} | ${ai ? `${pct(ai.model, 'em')} / ${ai.model.es} (${ai.model.n})` : '—'} | ${ai ? `${pct(ai.columnZeroSameLines, 'em')} / ${ai.columnZeroSameLines.es}` : '—'} | ${c.infillEnded}% | ${e.nextPlain}% / ${e.nextPrefix}% / ${e.nextFim}% | ${c.meanFirstEndProbability.prefixOnly} / ${c.meanFirstEndProbability.fim} | ${['under20', '20to39', '40plus'].map((k) => `${c.nextPlainByLength[k].exact}/${c.nextPlainByLength[k].n}`).join(' / ')} |`,
    );
  }
  md.push('');
  return `${md.join('\n')}\n`;
}

if (require.main === module) {
  run(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  });
}
