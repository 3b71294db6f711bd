// Held-out evaluation of a checkpoint on the CPU (issue 3, part 2), on the product path: per
// language, next-line exact match / edit similarity (with the suffix and prefix-only) and
// single-line infill exact match as the CompletionService answers them, the same requests in
// the other FIM layout and in the plain format for comparison, cheap baselines on the same
// examples, and plain-document loss / bits per byte plus FIM-middle loss in both layouts.
//
//   ./bin/slipstream bench model [--quick] [--n N] [--seed S] [--model DIR] [--threads T] [--weight-bits 8|4]
//                                [--loss-rows R] [--fim-examples F] [--no-loss] [--groups python,c,ts] [--out FILE]
//   ./bin/slipstream bench model --compare BASE-examples.jsonl CANDIDATE-examples.jsonl [--out FILE]
//                                (paired candidate − base of two runs on the same examples: compare.ts)
//   ./bin/slipstream bench model --render bench/results/model.json   (re-renders the .md from the JSON)
//
// Defaults are the committed run (bench/results/model.{json,md}, per-example records in
// model-examples.jsonl); --quick is a smoke run (2 examples, 1 loss row, 2 FIM middles per
// language) written to bench/out/model-quick.*. --n 0 runs only the losses.
//
// Loss: see loss.ts — the recipe's own held-out rows and FIM examples (plain documents; the
// middles in PSM, as the recipe scored them, and the same middles in SPM), rebuilt token for
// token, so the PSM and plain numbers compare with the GPU's.
//
// Completion: see examples.ts for what is sampled and what the service is given. Every model
// row except `plain` is one CompletionService.complete() on the document, i.e. the editor's
// path: prompt window and layout from the session (DocumentPrompt, the service's budget), token
// healing, monitors, speculative decoding (lossless), stopping rules and post-processing, all
// at their defaults, except:
//   mode 'line'         the service's 'auto' picks 'block' on an empty line; under greedy
//                       decoding the first line is the same, and a line stops sooner;
//   cache 'prefix'      each example's documents are opened fresh (the cache then holds exactly
//                       the prompt, as for a file just opened; no PIE drift from earlier examples);
//   monitorBudgetMs 5 s the monitors always apply (the editor's 25 ms would make runs depend on load);
//   completionCache off (the front ends' cache of shown completions).
// The layout is the model's own (`fim_layout` in generation_config.json: spm for the embedded
// model) unless a row says psm; psm rows pass promptLayout 'psm'. `plain` is the model's plain
// continuation format `<|file_sep|>{path}\n{before}` (not something the product sends), greedy
// through the engine's generate() with the same stop at the end of the first line.
//
// Metrics. next-line: the first line of the completion (up to its first "\n") and the target
// line, both trimmed of leading and trailing whitespace; EM = equal; ES = 1 − Levenshtein / max
// length (UTF-16 code units) on those strings. infill: the whole completion and the target line,
// trailing whitespace trimmed, indentation kept; EM also needs the model to have ended the
// middle (stopReason 'eos': <|endoftext|> or a control token) right after the line. Intervals:
// Wilson 95% for EM and rates, percentile bootstrap 95% (2000 resamples, seeded) for ES means and
// for paired differences (model − baseline, product − comparison) on the same examples.

import { mkdirSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { loadCheckpoint } from '../../src/engine/checkpoint';
import { Model } from '../../src/engine/model';
import type { KvCache } from '../../src/engine/kvCache';
import type { FimLayout, TokenizerLike } from '../../src/engine/types';
import { generate } from '../../src/decoding/generate';
import { generationConfig } from '../../src/decoding/generationConfig';
import { banIdsFrom } from '../../src/decoding/logitsProcessors';
import { updateCache } from '../../src/completion/pie/cacheUpdate';
import { DocumentPrompt, markersOf } from '../../src/completion/pie/documentPrompt';
import { DEFAULT_PROMPT_BUDGET, promptPath } from '../../src/completion/prompt';
import { windowPolicy } from '../../src/completion/documentSession';
import { CompletionService, type LoadedModel } from '../../src/completion/service';
import type { CompletionOptions, CompletionResult } from '../../src/completion/types';
import { bootstrapMean, editSimilarity, mean, wilson } from '../stats';
import { InFileNgram } from './baselines';
import { firstLine, sampleLines, withLineBlanked, type LineExample } from './examples';
import { GROUP_LABEL, GROUPS, loadHeldout, type Group, type HeldoutDoc } from './heldout';
import { middleLoss, middleLossSpm, middleLossWithoutSuffix, recipeFimExamples, recipePlainRows, rowLoss, RECIPE_FIM_EXAMPLES, RECIPE_PLAIN_ROWS } from './loss';
import { flag, refuseUnknownFlags } from '../args';
import { compareExamples, compareMarkdown, pairedScoreDiff, readExamples, type PairedDiff } from './compare';

const ROOT = resolve(__dirname, '..', '..');
const MAX_NEW = 64;
const CONTEXT = DEFAULT_PROMPT_BUDGET.maxContextTokens;
/** What every service request sets (see the file comment); everything else is the default. */
const REQUEST: CompletionOptions = { mode: 'line', cache: 'prefix', completionCache: false };
const MONITOR_BUDGET_MS = 5000;

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

/** One service answer as the metrics need it. */
interface Answer {
  completion: string;
  /** The service's stopReason: 'eos' = the model ended the middle. */
  stop: CompletionResult['stopReason'];
  tokens: number;
}

/** The rows with baselines: model next-line / infill scores on the same examples. */
type Task = 'spmFim' | 'spmInfill' | 'spmPrefix' | 'psmFim' | 'psmInfill' | 'psmPrefix' | 'plain';
const TASKS: readonly Task[] = ['spmFim', 'spmInfill', 'spmPrefix', 'psmFim', 'psmInfill', 'psmPrefix', 'plain'];
const PRODUCT_TASKS: readonly Task[] = ['spmFim', 'spmInfill', 'spmPrefix'];
const COMPARISON_TASKS: readonly Task[] = ['psmFim', 'psmInfill', 'psmPrefix', 'plain'];
const TASK_LABEL: Record<Task, string> = {
  spmFim: 'next line, with the suffix — product (spm, token healing), cursor at the start of the empty line',
  spmInfill: 'single-line infill — product (spm, same request: the whole completion must be the line, then the end of the middle)',
  spmPrefix: 'next line, prefix only — product (spm; the end of a file: nothing after the cursor)',
  psmFim: 'comparison: next line, with the suffix, psm layout',
  psmInfill: 'comparison: single-line infill, psm layout',
  psmPrefix: 'comparison: next line, prefix only, psm layout',
  plain: 'comparison: next line, prefix only, plain format `<|file_sep|>{path}\\n{before}` (engine, not the service)',
};

/** Everything measured on one example. */
interface ExampleResult {
  group: Group;
  path: string;
  lang: string;
  line: number;
  target: string;
  indent: string;
  /** The FIM prompt's text tokens (a fresh window as the service builds it). */
  promptTokens: { before: number; after: number };
  answers: {
    spmFim: Answer;
    spmPrefix: Answer;
    psmFim: Answer;
    psmPrefix: Answer;
    plain: Answer;
    /** Indented lines only: the cursor after the indentation, spm, token healing on / off. */
    afterIndent?: Answer;
    afterIndentNoHealing?: Answer;
  };
  scores: Record<Task, { model: Score; repeat: Score; ngram: Score }>;
  afterIndent?: { healing: Score; noHealing: Score };
}

function scoreLine(pred: string, target: string): Score {
  const p = pred.trim();
  const t = target.trim();
  return { pred: p, em: p === t ? 1 : 0, es: r4(editSimilarity(p, t)) };
}

function scoreInfill(pred: string, target: string, ended: boolean): Score {
  const p = pred.trimEnd();
  const t = target.trimEnd();
  return { pred: p, em: ended && p === t ? 1 : 0, es: r4(editSimilarity(p, t)) };
}

const nextLine = (a: Answer, target: string): Score => scoreLine(firstLine(a.completion), target);
const infill = (a: Answer, target: string): Score => scoreInfill(a.completion, target, a.stop === 'eos');

interface Ctx {
  model: Model;
  tokenizer: TokenizerLike;
  /** One service per document variant, sharing the loaded model: [layout][with suffix | prefix only]. */
  services: Record<FimLayout, { fim: CompletionService; prefix: CompletionService }>;
  /** The plain-format prompts' cache (keeps its longest common prefix from one prompt to the next). */
  plainCache: KvCache;
  counters: { encoded: number; reused: number; generated: number; requests: number };
}

async function ask(ctx: Ctx, svc: CompletionService, path: string, text: string, cursor: number, options: CompletionOptions = {}, fresh = true): Promise<Answer> {
  if (fresh) {
    svc.close(path);
    svc.open(path, text);
  }
  const before = text.slice(0, cursor).split('\n');
  const r = await svc.complete({ path, line: before.length - 1, col: before[before.length - 1].length, maxTokens: MAX_NEW, options: { ...REQUEST, ...options } });
  if (r.stopReason === 'skipped' || r.stopReason === 'cancelled') throw new Error(`${path}: the service ${r.stopReason} the request${r.skippedReason ? ` (${r.skippedReason})` : ''}`);
  ctx.counters.encoded += r.encodedTokens;
  ctx.counters.reused += r.reusedTokens;
  ctx.counters.generated += r.timings.tokens;
  ctx.counters.requests++;
  return { completion: r.completion, stop: r.stopReason, tokens: r.timings.tokens };
}

/** The plain format through the engine: greedy, stopped at the end of the first line. */
async function askPlain(ctx: Ctx, tokens: number[]): Promise<Answer> {
  if (tokens.length + MAX_NEW > CONTEXT) throw new Error(`plain prompt of ${tokens.length} tokens + ${MAX_NEW} new > ${CONTEXT}`);
  const out = await updateCache(ctx.model, ctx.plainCache, tokens, { mode: 'prefix' });
  ctx.counters.encoded += out.encoded;
  ctx.counters.reused += out.reused;
  const config = generationConfig(ctx.tokenizer, { maxNewTokens: MAX_NEW, mode: 'line', stopStrings: ['\n'] });
  const gen = await generate(ctx.model, ctx.plainCache, out.logits, config, { tokenizer: ctx.tokenizer, processors: [banIdsFrom(ctx.tokenizer.size)] });
  ctx.counters.generated += gen.tokens.length;
  ctx.counters.requests++;
  return { completion: gen.text, stop: gen.stop === 'eos' || gen.stop === 'stopToken' ? 'eos' : 'stop', tokens: gen.tokens.length };
}

async function evaluateExample(ctx: Ctx, doc: HeldoutDoc, ex: LineExample): Promise<ExampleResult> {
  const { tokenizer } = ctx;
  const target = ex.text;
  const { text, cursor } = withLineBlanked(doc, ex);
  const prefixText = doc.text.slice(0, ex.lineStart);

  // The prompt's text parts as the service windows them (for the baselines and the plain format).
  const markers = markersOf(tokenizer);
  const prompt = new DocumentPrompt(tokenizer, markers, promptPath(ex.path), text, cursor, windowPolicy({ ...DEFAULT_PROMPT_BUDGET, reserveTokens: MAX_NEW }));
  const fim = prompt.tokens();
  const L = prompt.layout();
  const header = fim.slice(0, L.beforeStart - 1); // <|file_sep|> path "\n"
  const before = fim.slice(L.beforeStart, L.beforeEnd);
  const after = fim.slice(L.afterStart, L.afterEnd);

  const { spm, psm } = ctx.services;
  const answers: ExampleResult['answers'] = {
    spmFim: await ask(ctx, spm.fim, ex.path, text, cursor),
    spmPrefix: await ask(ctx, spm.prefix, ex.path, prefixText, prefixText.length),
    psmFim: await ask(ctx, psm.fim, ex.path, text, cursor, { promptLayout: 'psm' }),
    psmPrefix: await ask(ctx, psm.prefix, ex.path, prefixText, prefixText.length, { promptLayout: 'psm' }),
    plain: await askPlain(ctx, [...header, ...before]),
  };
  if (ex.indent !== '') {
    // Same session as spmFim: the indentation typed on the empty line, the cursor after it.
    const typed = withLineBlanked(doc, ex, ex.indent);
    spm.fim.edit(ex.path, [{ start: [ex.line, 0], end: [ex.line, 0], text: ex.indent }]);
    if (spm.fim.textOf(ex.path) !== typed.text) throw new Error(`${ex.path}:${ex.line + 1}: the indentation edit did not give the expected text`);
    answers.afterIndent = await ask(ctx, spm.fim, ex.path, typed.text, typed.cursor, {}, false);
    answers.afterIndentNoHealing = await ask(ctx, spm.fim, ex.path, typed.text, typed.cursor, { tokenHealing: false }, false);
  }

  // Baselines on the same prompt text.
  const ngramPrefix = new InFileNgram().add(before).continueLine(before, tokenizer);
  const ngramFim = new InFileNgram().add(before).add(after).continueLine(before, tokenizer);
  const repeat = scoreLine(ex.previous, target);
  const prefixBaselines = { repeat, ngram: scoreLine(ngramPrefix, target) };
  const fimBaselines = { repeat, ngram: scoreLine(ngramFim, target) };
  const infillBaselines = { repeat: scoreInfill(ex.previous, target, true), ngram: scoreInfill(ngramFim, target, true) };
  const scores: ExampleResult['scores'] = {
    spmFim: { model: nextLine(answers.spmFim, target), ...fimBaselines },
    spmInfill: { model: infill(answers.spmFim, target), ...infillBaselines },
    spmPrefix: { model: nextLine(answers.spmPrefix, target), ...prefixBaselines },
    psmFim: { model: nextLine(answers.psmFim, target), ...fimBaselines },
    psmInfill: { model: infill(answers.psmFim, target), ...infillBaselines },
    psmPrefix: { model: nextLine(answers.psmPrefix, target), ...prefixBaselines },
    plain: { model: nextLine(answers.plain, target), ...prefixBaselines },
  };
  const res: ExampleResult = {
    group: ex.group,
    path: ex.path,
    lang: ex.lang,
    line: ex.line,
    target,
    indent: ex.indent,
    promptTokens: { before: before.length, after: after.length },
    answers,
    scores,
  };
  if (answers.afterIndent && answers.afterIndentNoHealing) res.afterIndent = { healing: nextLine(answers.afterIndent, target), noHealing: nextLine(answers.afterIndentNoHealing, target) };
  return res;
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



interface Rate {
  k: number;
  n: number;
  pct: number;
  ci95: [number, number];
}

function rate(k: number, n: number): Rate {
  const w = wilson(k, n);
  return { k, n, pct: r1((100 * k) / n), ci95: [r1(100 * w[0]), r1(100 * w[1])] };
}

interface TaskSummary {
  model: MetricSummary;
  repeat: MetricSummary;
  ngram: MetricSummary;
  /** The baseline with the higher EM (then ES) on these examples, and model − it, paired. */
  bestBaseline: 'repeat' | 'ngram';
  modelMinusBest: PairedDiff;
  modelMinusRepeat: PairedDiff;
  modelMinusNgram: PairedDiff;
  /** Share of empty model predictions, %. */
  emptyPredictions: number;
}

/** How the model ends the middle in one layout (the FIM request at the start of the empty line). */
interface EndStats {
  /** The model ended the middle (eos / control token) before the line stop. */
  ended: Rate;
  /** … at once: an empty middle. */
  endedEmpty: Rate;
  /** Ended right after writing exactly the target line (= infill EM). */
  endedAfterTarget: Rate;
  /** Of the examples whose first line is right, the share where it then ended the middle. */
  endedGivenRightLine: Rate;
}

function endStats(rs: ExampleResult[], layout: FimLayout): EndStats {
  const a = rs.map((r) => (layout === 'spm' ? r.answers.spmFim : r.answers.psmFim));
  const right = rs.filter((r) => r.scores[layout === 'spm' ? 'spmFim' : 'psmFim'].model.em === 1);
  const infillTask = layout === 'spm' ? 'spmInfill' : 'psmInfill';
  return {
    ended: rate(a.filter((x) => x.stop === 'eos').length, rs.length),
    endedEmpty: rate(a.filter((x) => x.stop === 'eos' && x.completion.trim() === '').length, rs.length),
    endedAfterTarget: rate(rs.filter((r) => r.scores[infillTask].model.em === 1).length, rs.length),
    endedGivenRightLine: rate(right.filter((r) => r.scores[infillTask].model.em === 1).length, right.length),
  };
}

/** Paired product − comparison differences on the same examples. */
const COMPARISONS: ReadonlyArray<[string, Task, Task]> = [
  ['spm − psm, next line with the suffix', 'spmFim', 'psmFim'],
  ['spm − psm, single-line infill', 'spmInfill', 'psmInfill'],
  ['spm − psm, next line prefix only', 'spmPrefix', 'psmPrefix'],
  ['spm: with the suffix − prefix only (what the suffix adds)', 'spmFim', 'spmPrefix'],
  ['spm with the suffix − plain format', 'spmFim', 'plain'],
  ['spm prefix only − plain format', 'spmPrefix', 'plain'],
];

function summarizeGroup(rs: ExampleResult[]): Record<string, unknown> {
  const tasks: Partial<Record<Task, TaskSummary>> = {};
  for (const t of TASKS) {
    const model = rs.map((r) => r.scores[t].model);
    const repeat = rs.map((r) => r.scores[t].repeat);
    const ngram = rs.map((r) => r.scores[t].ngram);
    const sr = summarize(repeat);
    const sn = summarize(ngram);
    const best = sr.em > sn.em || (sr.em === sn.em && sr.es >= sn.es) ? 'repeat' : 'ngram';
    const modelMinusRepeat = pairedScoreDiff(model, repeat);
    const modelMinusNgram = pairedScoreDiff(model, ngram);
    tasks[t] = {
      model: summarize(model),
      repeat: sr,
      ngram: sn,
      bestBaseline: best,
      modelMinusBest: best === 'repeat' ? modelMinusRepeat : modelMinusNgram,
      modelMinusRepeat,
      modelMinusNgram,
      emptyPredictions: r1((100 * model.filter((x) => x.pred === '').length) / model.length),
    };
  }
  const comparisons = COMPARISONS.map(([label, a, b]) => ({
    label,
    a,
    b,
    diff: pairedScoreDiff(
      rs.map((r) => r.scores[a].model),
      rs.map((r) => r.scores[b].model),
    ),
  }));
  const out: Record<string, unknown> = { tasks, comparisons, end: { spm: endStats(rs, 'spm'), psm: endStats(rs, 'psm') } };
  const indented = rs.filter((r) => r.afterIndent);
  if (indented.length > 0) {
    const healing = indented.map((r) => r.afterIndent!.healing);
    const noHealing = indented.map((r) => r.afterIndent!.noHealing);
    const columnZero = indented.map((r) => r.scores.spmFim.model);
    out.afterIndent = {
      healing: summarize(healing),
      noHealing: summarize(noHealing),
      columnZeroSameLines: summarize(columnZero),
      healingMinusNoHealing: pairedScoreDiff(healing, noHealing),
      healingMinusColumnZero: pairedScoreDiff(healing, columnZero),
    };
  }
  out.meanPromptTokens = { before: Math.round(mean(rs.map((r) => r.promptTokens.before))), after: Math.round(mean(rs.map((r) => r.promptTokens.after))) };
  out.meanGeneratedTokens = Object.fromEntries((['spmFim', 'psmFim', 'spmPrefix', 'psmPrefix', 'plain'] as const).map((k) => [k, r1(mean(rs.map((r) => r.answers[k].tokens)))]));
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

  natsPerToken(): number {
    return this.nats / this.n;
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

/** The flags this runner knows: a misspelt one (`--modle`) must not start an hour-long run of the wrong model. */
const KNOWN_FLAGS = new Set(['quick', 'n', 'seed', 'model', 'threads', 'weight-bits', 'loss-rows', 'fim-examples', 'no-loss', 'groups', 'out', 'render', 'compare']);

export async function run(args: string[]): Promise<object> {
  refuseUnknownFlags('model', args, KNOWN_FLAGS);
  const render = flag(args, 'render');
  if (render !== undefined) {
    // Re-renders the .md of an existing report (after a change to the tables only).
    const report = JSON.parse(readFileSync(resolve(render), 'utf8')) as Report & { completion: Record<string, unknown>; loss: Record<string, unknown> };
    const groups = GROUPS.filter((g) => g in report.completion || g in report.loss);
    writeFileSync(resolve(render).replace(/\.json$/, '.md'), markdown(report, groups));
    return { rendered: resolve(render).replace(/\.json$/, '.md') };
  }
  const compare = args.indexOf('--compare');
  if (compare >= 0) {
    // Paired candidate − base from two runs' per-example files (compare.ts); runs no model.
    const [baseFile, candFile] = [args[compare + 1], args[compare + 2]];
    if (!baseFile || !candFile || baseFile.startsWith('--') || candFile.startsWith('--')) throw new Error('--compare needs two files: BASE-examples.jsonl CANDIDATE-examples.jsonl');
    const cmp = compareExamples(readExamples(resolve(baseFile)), readExamples(resolve(candFile)));
    const out = flag(args, 'out');
    const md = compareMarkdown(baseFile, candFile, cmp);
    if (out !== undefined) {
      mkdirSync(dirname(resolve(out)), { recursive: true });
      writeFileSync(resolve(out), `${JSON.stringify({ bench: 'model --compare', base: baseFile, candidate: candFile, comparison: cmp }, null, 1)}\n`);
      writeFileSync(resolve(out).replace(/\.json$/, '.md'), md);
    }
    process.stdout.write(md);
    return { written: out === undefined ? 'nothing (no --out)' : [resolve(out), resolve(out).replace(/\.json$/, '.md')] };
  }
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
  const weightBits = num(args, 'weight-bits', 0);
  if (weightBits !== 0 && weightBits !== 4 && weightBits !== 8) throw new Error(`--weight-bits must be 8 or 4 (fp32 when left out), got ${flag(args, 'weight-bits')}`);
  const model = await Model.load(ckpt, { threads: num(args, 'threads', 2), weightBits: weightBits || undefined });
  const tokenizer = ckpt.tokenizer;
  const declaredLayout: FimLayout = ckpt.fimLayout ?? 'psm';
  // The services share the loaded model; their shutdown must not dispose it.
  const shared: LoadedModel = {
    model: { embed: model.embed.bind(model), forward: model.forward.bind(model), createCache: model.createCache.bind(model), dispose: () => undefined },
    tokenizer,
    ...(ckpt.fimLayout ? { fimLayout: ckpt.fimLayout } : {}),
  };
  const service = (): CompletionService => new CompletionService({ modelDir, loader: async () => shared, maxContextTokens: CONTEXT, maxTokens: MAX_NEW, monitorBudgetMs: MONITOR_BUDGET_MS });
  const services = { spm: { fim: service(), prefix: service() }, psm: { fim: service(), prefix: service() } };
  const gpu = gpuLosses();
  const ctx: Ctx = { model, tokenizer, services, plainCache: model.createCache(), counters: { encoded: 0, reused: 0, generated: 0, requests: 0 } };
  const fimIds = {
    fimPrefix: tokenizer.specialId('<|fim_prefix|>')!,
    fimSuffix: tokenizer.specialId('<|fim_suffix|>')!,
    fimMiddle: tokenizer.specialId('<|fim_middle|>')!,
    eot: tokenizer.specialId('<|endoftext|>')!,
  };
  const loss: Record<string, unknown> = {};
  const fimLoss: Record<string, unknown> = {};
  const completion: Record<string, unknown> = {};
  const failures: Record<string, unknown[]> = {};
  const examples: ExampleResult[] = [];
  const seconds: Record<string, number> = {};
  try {
    if (n > 0 && declaredLayout !== 'spm') throw new Error(`${modelDir} declares fim_layout ${JSON.stringify(declaredLayout)}; this report's rows name spm as the product layout`);
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
        // Per layout, targets by place in the middle: its first token, the ones after it, the end token.
        const layouts = { psm: { first: new Acc(), interior: new Acc(), end: new Acc(), all: new Acc(), exact: 0 }, spm: { first: new Acc(), interior: new Acc(), end: new Acc(), all: new Acc(), exact: 0 } };
        const noSuffix = { first: new Acc(), interior: new Acc() };
        for (const ex of use) {
          for (const layout of ['psm', 'spm'] as const) {
            const acc = layouts[layout];
            const r = layout === 'psm' ? await middleLoss(model, ex) : await middleLossSpm(model, ex, fimIds);
            r.nll.forEach((x, i) => {
              acc.all.add(x, r.top1[i]);
              (i === 0 ? acc.first : i === r.nll.length - 1 ? acc.end : acc.interior).add(x, r.top1[i]);
            });
            if (r.top1.every(Boolean)) acc.exact++;
          }
          const p = await middleLossWithoutSuffix(model, ex);
          p.nll.forEach((x, i) => (i === 0 ? noSuffix.first : noSuffix.interior).add(x, p.top1[i]));
        }
        const byLayout = (layout: FimLayout) => {
          const acc = layouts[layout];
          const all = acc.all.summary();
          const w = wilson(acc.exact, use.length);
          return {
            tokens: all.n,
            nats_per_token: r4(acc.all.natsPerToken()),
            top1_accuracy: all.top1,
            exact_middles: r1((100 * acc.exact) / use.length),
            exact_middles_ci95: [r1(100 * w[0]), r1(100 * w[1])],
            byPlace: { first: acc.first.summary(), interior: acc.interior.summary(), end: acc.end.summary() },
          };
        };
        const psm = byLayout('psm');
        log(`[fim loss ${group}] ${use.length} middles: psm ${psm.nats_per_token}, spm ${byLayout('spm').nats_per_token} nats/token`);
        fimLoss[group] = {
          examples: use.length,
          recipeExamples: all.length,
          psm: { ...psm, gpu_nats_per_token: gpu?.[`${group}_fim_middle`] ?? null, delta_vs_gpu: gpu && use.length === all.length ? r4(psm.nats_per_token - gpu[`${group}_fim_middle`]) : null },
          spm: byLayout('spm'),
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
      for (const s of Object.values(services)) for (const svc of Object.values(s)) for (const ex of sample) svc.close(ex.path);
      examples.push(...rs);
      completion[group] = summarizeGroup(rs);
      failures[group] = rs
        .filter((r) => r.scores.spmFim.model.em === 0)
        .slice(0, 12)
        .map((r) => ({
          path: r.path,
          line: r.line + 1,
          target: r.target,
          spm: r.scores.spmFim.model.pred,
          spmEnded: r.answers.spmFim.stop === 'eos',
          spmPrefixOnly: r.scores.spmPrefix.model.pred,
          psm: r.scores.psmFim.model.pred,
          plain: r.scores.plain.model.pred,
          repeat: r.scores.spmFim.repeat.pred,
          ngram: r.scores.spmFim.ngram.pred,
        }));
      seconds[`examples_${group}`] = Math.round((performance.now() - t) / 1000);
    }
  } finally {
    for (const s of Object.values(services)) for (const svc of Object.values(s)) await svc.shutdown();
    await model.dispose();
  }

  const report = {
    bench: 'model',
    command: `./bin/slipstream bench model ${args.join(' ')}`.trim(),
    model: modelDir,
    weights: weightBits ? `${weightBits}-bit (MatMulNBits, blocks of 32)` : 'fp32',
    productLayout: declaredLayout,
    request: { ...REQUEST, maxTokens: MAX_NEW, monitorBudgetMs: MONITOR_BUDGET_MS, note: 'everything else at the CompletionService defaults: token healing on, monitors on, speculation auto, layout = the model\'s' },
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
  // One line per language: model EM vs the best baseline's EM, per task.
  const brief = Object.fromEntries(
    groups.map((g) => {
      const c = (completion[g] as { tasks: Record<Task, TaskSummary> } | undefined)?.tasks;
      const l = loss[g] as { nats_per_token: number; bits_per_byte: number } | undefined;
      const em = c ? TASKS.map((t) => `${t} ${c[t].model.em} vs ${c[t][c[t].bestBaseline].em}`).join(', ') : '';
      return [g, `loss ${l?.nats_per_token ?? '—'} nats/token, ${l?.bits_per_byte ?? '—'} bits/byte; EM model vs best baseline: ${em}`];
    }),
  );
  return { out: outFile, wallSeconds: report.wallSeconds, results: brief };
}

const ci = (x: [number, number]): string => `[${x[0]}, ${x[1]}]`;
const pct = (s: MetricSummary, key: 'em' | 'es'): string => `${s[key]} ${ci(key === 'em' ? s.emCi95 : s.esCi95)}`;
const dEm = (d: PairedDiff): string => `${d.em} ${ci(d.emCi95)}`;
const dEs = (d: PairedDiff): string => `${d.es} ${ci(d.esCi95)}`;
const rt = (r: Rate): string => (r.n === 0 ? '— (0/0)' : `${r.pct} ${ci(r.ci95)} (${r.k}/${r.n})`);

type Report = {
  command: string;
  wallSeconds: number;
  loadAvg: { start: number[]; end: number[] };
  loss: Record<string, unknown>;
  fimLoss: Record<string, unknown>;
  completion: Record<string, unknown>;
  examplesPerLanguage: number;
  seed: number;
  tokens: { encoded: number; reused: number; generated: number; requests: number };
};

interface GroupSummary {
  tasks: Record<Task, TaskSummary>;
  comparisons: Array<{ label: string; diff: PairedDiff }>;
  end: Record<FimLayout, EndStats>;
  afterIndent?: { healing: MetricSummary; noHealing: MetricSummary; columnZeroSameLines: MetricSummary; healingMinusNoHealing: PairedDiff; healingMinusColumnZero: PairedDiff };
  meanPromptTokens: { before: number; after: number };
}

function markdown(report: Report, groups: Group[]): string {
  const md: string[] = [
    `# bench model (${new Date().toISOString().slice(0, 10)})`,
    '',
    `\`${report.command}\` — ${report.wallSeconds} s, load average ${report.loadAvg.start.join(' ')} → ${report.loadAvg.end.join(' ')}, seed ${report.seed}; ${report.tokens.requests} requests, ${report.tokens.encoded} tokens encoded, ${report.tokens.generated} generated`,
    '',
  ];
  const sections = Object.fromEntries(groups.map((g) => [g, report.completion[g] as GroupSummary | undefined]));
  if (report.examplesPerLanguage > 0) {
    md.push(
      `## Completion, product path (n = ${report.examplesPerLanguage} lines per language; EM / ES in %, [95% CI])`,
      '',
      "Each model cell is the CompletionService's answer (the model's layout: spm, token healing, monitors, speculation, post-processing; mode line, fresh document per example). Baselines: the nearest earlier non-blank line (repeat) and an in-file token 4-gram on the prompt's text; the difference is paired, on the same lines, against the better of the two.",
      '',
    );
    const taskTable = (t: Task): void => {
      md.push(`### ${TASK_LABEL[t]}`, '', '| language | model EM | repeat-prev EM | in-file 4-gram EM | model − best baseline EM, points | model ES | repeat ES | 4-gram ES | model − best baseline ES |', '|---|---|---|---|---|---|---|---|---|');
      for (const g of groups) {
        const s = sections[g]?.tasks[t];
        if (!s) continue;
        md.push(`| ${GROUP_LABEL[g]} | ${pct(s.model, 'em')} | ${pct(s.repeat, 'em')} | ${pct(s.ngram, 'em')} | ${dEm(s.modelMinusBest)} (vs ${s.bestBaseline}) | ${pct(s.model, 'es')} | ${pct(s.repeat, 'es')} | ${pct(s.ngram, 'es')} | ${dEs(s.modelMinusBest)} |`);
      }
      md.push('');
    };
    for (const t of PRODUCT_TASKS) taskTable(t);
    md.push(
      '### Ending the middle (the FIM request at the start of the empty line), %, [Wilson 95% CI] (k/n)',
      '',
      '| language | layout | ended the middle | … with nothing written | … right after the exact line (= infill EM) | ended, of the examples whose first line was right |',
      '|---|---|---|---|---|---|',
    );
    for (const g of groups) {
      const e = sections[g]?.end;
      if (!e) continue;
      for (const layout of ['spm', 'psm'] as const) md.push(`| ${GROUP_LABEL[g]} | ${layout}${layout === 'spm' ? ' (product)' : ''} | ${rt(e[layout].ended)} | ${rt(e[layout].endedEmpty)} | ${rt(e[layout].endedAfterTarget)} | ${rt(e[layout].endedGivenRightLine)} |`);
    }
    md.push(
      '',
      '### Cursor after the indentation (indented lines only; spm, with the suffix): token healing heals the indentation',
      '',
      '| language | n | healing on (product) EM / ES | healing off EM / ES | on − off EM, points / ES | same lines, cursor at column 0: EM / ES | after indentation − column 0 EM / ES |',
      '|---|---|---|---|---|---|---|',
    );
    for (const g of groups) {
      const a = sections[g]?.afterIndent;
      if (!a) continue;
      md.push(`| ${GROUP_LABEL[g]} | ${a.healing.n} | ${pct(a.healing, 'em')} / ${a.healing.es} | ${pct(a.noHealing, 'em')} / ${a.noHealing.es} | ${dEm(a.healingMinusNoHealing)} / ${dEs(a.healingMinusNoHealing)} | ${pct(a.columnZeroSameLines, 'em')} / ${a.columnZeroSameLines.es} | ${dEm(a.healingMinusColumnZero)} / ${dEs(a.healingMinusColumnZero)} |`);
    }
    md.push('', '## Comparison rows (not what the product sends)', '');
    for (const t of COMPARISON_TASKS) taskTable(t);
    md.push('### Paired differences, product − comparison (EM points / ES points, [95% CI])', '', `| comparison | ${groups.map((g) => GROUP_LABEL[g]).join(' | ')} |`, `|---|${groups.map(() => '---').join('|')}|`);
    for (const [i, [label]] of COMPARISONS.entries()) {
      md.push(`| ${label} | ${groups.map((g) => { const c = sections[g]?.comparisons[i]; return c ? `${dEm(c.diff)} / ${dEs(c.diff)}` : '—'; }).join(' | ')} |`);
    }
    md.push('', '| language | empty predictions: spm FIM / spm prefix-only / psm FIM / psm prefix-only / plain, % | mean prompt text tokens before / after the cursor |', '|---|---|---|');
    for (const g of groups) {
      const c = sections[g];
      if (!c) continue;
      md.push(`| ${GROUP_LABEL[g]} | ${(['spmFim', 'spmPrefix', 'psmFim', 'psmPrefix', 'plain'] as const).map((t) => c.tasks[t].emptyPredictions).join(' / ')} | ${c.meanPromptTokens.before} / ${c.meanPromptTokens.after} |`);
    }
    md.push('');
  }
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
    type P = { nats_per_token: number; top1: number };
    type L = { nats_per_token: number; top1_accuracy: number; exact_middles: number; exact_middles_ci95: [number, number]; byPlace: { first: P; interior: P; end: P } };
    const cell = (x: P): string => `${x.nats_per_token} / ${r1(100 * x.top1)}%`;
    md.push(
      "## Held-out loss, FIM middles (the recipe's FIM examples: rest of a line or 1–6 lines), both layouts",
      '',
      'Same middles, same parts, two orders: psm `<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>{middle}<|endoftext|>` (as the recipe scored them; GPU column) and spm `<|fim_prefix|><|fim_suffix|>{suffix}<|fim_middle|>{prefix}{middle}<|endoftext|>` (the product layout). Cells: nats/token / top-1 %.',
      '',
      '| language | middles | layout | all middle tokens + end | GPU (psm) | first middle token | the rest of the middle | end token | middles greedy would write exactly, % [95% CI] |',
      '|---|---|---|---|---|---|---|---|---|',
    );
    for (const g of groups) {
      const l = report.fimLoss[g] as { examples: number; psm: L & { gpu_nats_per_token: number | null }; spm: L } | undefined;
      if (!l) continue;
      for (const layout of ['spm', 'psm'] as const) {
        const x = l[layout];
        md.push(`| ${GROUP_LABEL[g]} | ${l.examples} | ${layout} | ${x.nats_per_token} / ${r1(100 * x.top1_accuracy)}% | ${layout === 'psm' ? (l.psm.gpu_nats_per_token ?? '—') : ''} | ${cell(x.byPlace.first)} | ${cell(x.byPlace.interior)} | ${cell(x.byPlace.end)} | ${x.exact_middles} ${ci(x.exact_middles_ci95)} |`);
      }
    }
    md.push('', 'The same middles after the plain prefix alone (`<|file_sep|>{path}\\n{prefix}{middle}`, no suffix), nats/token / top-1 %:', '', '| language | first middle token | the rest |', '|---|---|---|');
    for (const g of groups) {
      const l = report.fimLoss[g] as { withoutSuffix: { first: P; interior: P } } | undefined;
      if (l) md.push(`| ${GROUP_LABEL[g]} | ${cell(l.withoutSuffix.first)} | ${cell(l.withoutSuffix.interior)} |`);
    }
    md.push('');
  }
  return `${md.join('\n')}\n`;
}

if (require.main === module) {
  run(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  });
}
