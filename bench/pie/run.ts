// PIE benchmark (issue #4): cache-update cost and next-line accuracy of every cache mode after real edits.
//
//   slipstream bench pie [--quick] [--model DIR] [--seed N] [--threads N] [--max-new N]
//                        [--layout psm|spm] [--no-healing]
//                        [--n512 N] [--n2048 N] [--q2048 N] [--q512 N] [--nwindow N] [--refresh 64,256]
//                        [--move-timed N] [--no-bigfile] [--no-service] [--out FILE]
//
// The product path: prompts in the layout the model declares (generation_config.json
// "fim_layout"; the default model's is spm, where the text before the cursor ends the prompt)
// with token healing as CompletionService.run does it (at a line start in spm the indentation's
// last token is hidden and the first generated token must spell it again). --layout and
// --no-healing are for comparisons only.
//
// Workload (workload.ts has the details): held-out files (bench/data/heldout, never seen in
// training) at three sizes:
//   512     a contiguous cut of a file whose prompt is ≈ 512 tokens (minus room for generation);
//   2048    the same at 2048, the largest context the model supports (max_position_embeddings);
//   window  whole files ≥ 3× the context through the service's sliding window (1948 text tokens):
//           how long files are served, the cache holds a window that moves with PIE splices.
// Edits like the PIE paper's three tasks — insertion, deletion, multi-place — at random places;
// then the next line is predicted at a random cursor: the line's text is removed after its
// indentation and the cursor left there, as after Enter with auto-indent (single-line infilling
// of a real line). The harder setting for 'conflict' ('hard': 5–8 blocks of 3–8 lines typed back
// in one change, above the cursor where there is room, so the keys next to the cursor are off by
// hundreds of positions without the rotation) runs on the same post-edit documents at 2048,
// against the same reference completion.
//
// Two kinds of samples:
//   timed    every mode (full, prefix, pie, pie+W refresh, conflict) from a fork of the same exact
//            pre-edit cache, in shuffled order, on the same edit and cursor: the speed ratios are
//            per-sample and side by side, which is what survives a shared, noisy machine. Edits
//            are stratified: every other sample has all its edits in the first half of the
//            covered text, the others in the second half (the speed target is stated
//            for the first half).
//   quality  2048 (every variant but full) and 512 (prefix, pie, conflict), no 'full' run: the
//            exact reference is 'prefix', which re-encodes everything after the first edit
//            exactly (the same computation as 'full', up to float rounding of other chunk shapes:
//            the timed samples measure how often prefix and full give the same completion).
//            Cheaper, so the EM comparison gets the sample count it needs.
// Per mode: cache-update time and time to first token (median, p90), tokens encoded, next-line
// exact match (EM) with a Wilson interval, EM − reference with the discordant pairs, a paired
// bootstrap and a Newcombe interval, agreement with the reference's completion (the same first
// line: what the approximation loses), edit similarity (ES) to the true line and to the
// reference's line, and — teacher-forced — the true line's mean negative log-likelihood and top-1
// token accuracy per mode. Every edit is also counted without the model in both layouts (what PIE
// encodes, reuses, rotates and leaves stale; what prefix keeps: reuse.ts), by where the edits lie
// relative to the cursor, and cursor moves without an edit are counted (and for a few documents
// timed) in both layouts. TTFT = prompt sync (the text edit applied to the incremental prompt,
// shared by every mode) + cache update + choosing the first token (through the healing mask).
//
// Default counts: 120 timed samples at 512, 40 timed + 60 quality at 2048 (each with its hard
// edit), 300 quality at 512, 12 timed windows.
// Also: the model-free cache-side cost of PIE updates (ops.ts), a 100k-line document (prompt
// upkeep, session edits, PIE updates on a sliding window) and the CompletionService's own
// edit → first-token path on a 15k-line file with the status numbers it reports.
//
// Writes bench/out/pie.json and bench/out/pie.md (or --out FILE).

import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { loadCheckpoint } from '../../src/engine/checkpoint';
import { Model } from '../../src/engine/model';
import type { KvCache } from '../../src/engine/kvCache';
import type { TokenizerLike } from '../../src/engine/types';
import { generate } from '../../src/decoding/generate';
import { generationConfig } from '../../src/decoding/generationConfig';
import { banIdsFrom, type LogitsProcessor } from '../../src/decoding/logitsProcessors';
import { stoppingCriteria } from '../../src/decoding/stopping';
import { afterTail, healingProcessor, healingTail, stripTail } from '../../src/decoding/tokenHealing';
import { DocumentPrompt, markersOf, type FimLayout, type PromptMarkers, type WindowPolicy } from '../../src/completion/pie/documentPrompt';
import { updateCache } from '../../src/completion/pie/cacheUpdate';
import { cacheUpdater, DocumentSession } from '../../src/completion/documentSession';
import { CompletionService } from '../../src/completion/service';
import { DEFAULT_PROMPT_BUDGET } from '../../src/completion/prompt';
import type { CacheMode } from '../../src/completion/types';
import { mulberry32 } from '../../test/fixtures/tinyModel';
import { opsBench } from './ops';
import { reuseOf, type Reuse } from './reuse';
import { editSimilarity, mean, pairedDifference, pairedMeanDiff, pairedProportions, quantile, r1, r3, wilson, type PairedProportions } from '../stats';
import { cutToTokens, lineOf, lineStarts, makeEdit, pickTarget, readHeldout, TASK_SPECS, type EditCase, type HeldoutRecord, type Task } from './workload';
import { flag } from '../args';

const ROOT = resolve(__dirname, '..', '..');

type Size = '512' | '2048' | 'window';
type Kind = 'timed' | 'quality';

interface Variant {
  name: string;
  mode: CacheMode;
  refreshWindow: number;
}

interface ModeResult {
  updateMs: number;
  ttftMs: number;
  encoded: number;
  reused: number;
  em: boolean;
  es: number;
  /** Teacher-forced over the true line + "\n": mean negative log-likelihood (nats/token) and top-1 token accuracy. */
  nll: number;
  tokenAcc: number;
  /** Same first line as the reference (full, or prefix in quality samples). */
  agree: boolean;
  /** Edit similarity to the reference's line. */
  esRef: number;
  completion: string;
}

/** Where a change's edits lie relative to the cursor. */
type Side = 'above' | 'below' | 'both';

interface CaseResult {
  task: Task;
  side: Side;
  promptTokens: number;
  /** Characters of indentation token healing left out of the prompt (0: none). */
  healed: number;
  /** Share of the covered text before the first edit (0 = top). */
  editAt: number;
  firstHalf: boolean;
  /**
   * How far 'conflict' leaves the keys just before the cursor: tokens inserted minus tokens
   * removed before them in the prompt (psm: edits above the cursor; spm: every edit, since the
   * text before the cursor ends the prompt).
   */
  deltaAtCursor: number;
  encodedByPie: number;
  /** The same edit counted without the model in both layouts (pie, no refresh). */
  reuse: Record<FimLayout, Reuse>;
  syncMs: number;
  modes: Record<string, ModeResult>;
}

interface Sample extends CaseResult {
  kind: Kind;
  size: Size;
  path: string;
  cursorAt: number;
  target: string;
  /** The reference completion's first line and its mode. */
  ref: { mode: 'full' | 'prefix'; completion: string; em: boolean };
  /** The harder edit on the same post-edit document (2048). */
  hard?: CaseResult;
}

/** What cursorMoves needs of a sample (not written to the report). */
const moveDocs = new WeakMap<Sample, { path: string; post: EditCase['post']; policy: WindowPolicy }>();

interface Ctx {
  model: Model;
  tokenizer: TokenizerLike;
  markers: PromptMarkers;
  maxNew: number;
  /** The product path: the model's layout, token healing as the service does it. */
  layout: FimLayout;
  heal: boolean;
}

/** The healing tail the service would hide at this cursor (CompletionService.run's rule). */
function tailAt(ctx: Ctx, text: string, cursor: number, layout: FimLayout): string {
  if (!ctx.heal) return '';
  const linePrefix = text.slice(text.lastIndexOf('\n', cursor - 1) + 1, cursor);
  return healingTail(ctx.tokenizer, linePrefix, { whitespace: layout === 'spm' && linePrefix.trim() === '' });
}

/** The pre-edit prompt of an edit case in one layout (null: the tail cannot be hidden there). */
function promptsOf(ctx: Ctx, path: string, c: EditCase, policy: WindowPolicy, layout: FimLayout): { prompt: DocumentPrompt; pre: number[]; tail: string } | null {
  const tail = tailAt(ctx, c.post.text, c.post.cursor, layout);
  const prompt = new DocumentPrompt(ctx.tokenizer, ctx.markers, path, c.pre, c.cursorPre, policy);
  prompt.setLayout(layout);
  prompt.setCursor(c.cursorPre, tail.length);
  // A window that starts inside the tail cannot hide it (the service then drops the healing).
  if (prompt.hidden !== tail.length) return null;
  return { prompt, pre: prompt.tokens(), tail };
}

function sideOf(c: EditCase): Side {
  const above = c.edits.every((e) => e.end <= c.cursorPre);
  const below = c.edits.every((e) => e.start >= c.cursorPre);
  return above ? 'above' : below ? 'below' : 'both';
}

function num(args: string[], name: string, dflt: number): number {
  const v = flag(args, name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`--${name} needs a number, got ${v}`);
  return n;
}

function argmax(x: Float32Array, size: number): number {
  let best = 0;
  for (let i = 1; i < size; i++) if (x[i] > x[best]) best = i;
  return best;
}

function firstLine(s: string): string {
  const nl = s.indexOf('\n');
  return nl < 0 ? s : s.slice(0, nl);
}

/**
 * Runs `variants` on one edit case, each from a fork of the same exact pre-edit cache, in shuffled
 * order. `refName` names the variant whose completion the others are compared with; `ref` gives
 * it instead when it ran elsewhere (the hard case reuses the normal case's reference).
 */
async function runCase(ctx: Ctx, path: string, c: EditCase, policy: WindowPolicy, variants: Variant[], r: () => number, ref?: { completion: string; tokens: number[] }): Promise<{ res: CaseResult; tokens: number[] } | null> {
  const { model, tokenizer } = ctx;
  const made = promptsOf(ctx, path, c, policy, ctx.layout);
  if (!made) return null;
  const { prompt, tail } = made;
  const preLayout = prompt.layout();
  const [ws, we] = prompt.window;
  // Edits outside the prompt's window (long files) change no token: not the edit being measured.
  if (c.edits.some((e) => e.start < ws || e.end > we)) return null;
  const base = model.createCache();
  await updateCache(model, base, made.pre, { mode: 'full' });

  const t0 = performance.now();
  prompt.applyEdits(c.edits);
  // The edit reveals the hidden tail; the request at the (unchanged) cursor line hides it again.
  prompt.setCursor(c.post.cursor, tail.length);
  const target = prompt.tokens();
  const layout = prompt.layout();
  const syncMs = performance.now() - t0;
  if (prompt.text !== c.post.text || prompt.afterStart !== c.post.cursor || prompt.hidden !== tail.length) throw new Error('bench: the prompt does not follow the edit');
  // Same text, but a window trimmed differently (a pre-edit text over the budget): not comparable.
  if (ref && ref.tokens.join() !== target.join()) return null;
  const firstEdit = Math.min(...c.edits.map((e) => e.start));
  const editAt = (firstEdit - ws) / Math.max(1, we - ws);
  // The same edit in both layouts, counted without the model.
  const reuse = {} as Record<FimLayout, Reuse>;
  for (const l of ['psm', 'spm'] as FimLayout[]) {
    if (l === ctx.layout) reuse[l] = reuseOf(made.pre, target);
    else {
      const other = promptsOf(ctx, path, c, policy, l);
      if (!other) return null;
      other.prompt.applyEdits(c.edits);
      other.prompt.setCursor(c.post.cursor, other.tail.length);
      reuse[l] = reuseOf(other.pre, other.prompt.tokens());
    }
  }

  const config = generationConfig(tokenizer, { maxNewTokens: ctx.maxNew, mode: 'line' });
  const processors: LogitsProcessor[] = [banIdsFrom(tokenizer.size)];
  if (tail !== '') processors.push(healingProcessor(tokenizer, tail));
  const criteria = afterTail(stoppingCriteria(config), tail);
  // Teacher-forced: what follows the prompt in the document (the hidden tail, the line, its end).
  const lineTokens = tokenizer.encode(`${tail}${c.post.target}\n`);
  const order = variants.map((v) => ({ v, k: r() })).sort((a, b) => a.k - b.k).map((x) => x.v);
  const raw: Record<string, Omit<ModeResult, 'agree' | 'esRef'>> = {};
  for (const v of order) {
    const cache: KvCache = base.fork();
    const t1 = performance.now();
    const out = await updateCache(model, cache, target, { mode: v.mode, refreshWindow: v.refreshWindow, refreshEnd: layout.beforeEnd });
    const t2 = performance.now();
    // The first token as the service picks it: through the same processors (healing masks it).
    const first = out.logits.slice(0, tokenizer.size);
    for (const p of processors) p(first, { position: cache.nextPosition(), generated: [] });
    argmax(first, tokenizer.size);
    const t3 = performance.now();
    const score = await scoreLine(model, cache, out.logits, lineTokens, tokenizer.size);
    const gen = await generate(model, cache, out.logits, config, { tokenizer, processors, criteria });
    const completion = firstLine(stripTail(gen.text, tail));
    raw[v.name] = {
      updateMs: r1(t2 - t1),
      ttftMs: r1(syncMs + (t3 - t1)),
      encoded: out.encoded,
      reused: out.reused,
      em: completion.trim() === c.post.target.trim(),
      es: r3(editSimilarity(completion.trim(), c.post.target.trim())),
      nll: r3(score.nll),
      tokenAcc: r3(score.acc),
      completion,
    };
  }
  const refCompletion = ref?.completion ?? raw[variants[0].name].completion;
  const modes: Record<string, ModeResult> = {};
  for (const v of variants) {
    const m = raw[v.name];
    modes[v.name] = { ...m, agree: m.completion === refCompletion, esRef: r3(editSimilarity(m.completion.trim(), refCompletion.trim())) };
  }
  const res: CaseResult = {
    task: c.task,
    side: sideOf(c),
    promptTokens: target.length,
    healed: tail.length,
    editAt: r3(editAt),
    firstHalf: editAt < 0.5,
    deltaAtCursor: layout.beforeEnd - preLayout.beforeEnd,
    encodedByPie: modes.pie?.encoded ?? -1,
    reuse,
    syncMs: r1(syncMs),
    modes,
  };
  return { res, tokens: target };
}

/**
 * The true line scored against a mode's cache, teacher-forced: −log p and top-1 hit of each of its
 * tokens given the prompt and the tokens before it (`first`: the update's logits, which predict
 * tokens[0]; one forward over tokens[0..n−2] gives the rest). The cache is read, not changed.
 * Continuous and low-variance where exact match is too rare to compare modes with a small model.
 */
async function scoreLine(model: Model, cache: KvCache, first: Float32Array, tokens: number[], vocab: number): Promise<{ nll: number; acc: number }> {
  let nll = 0;
  let hits = 0;
  const add = (logits: Float32Array, off: number, token: number): void => {
    let max = -Infinity;
    let best = 0;
    for (let i = 0; i < vocab; i++) {
      const x = logits[off + i];
      if (x > max) {
        max = x;
        best = i;
      }
    }
    let sum = 0;
    for (let i = 0; i < vocab; i++) sum += Math.exp(logits[off + i] - max);
    nll += max + Math.log(sum) - logits[off + token];
    if (best === token) hits++;
  };
  add(first, 0, tokens[0]);
  if (tokens.length > 1) {
    const start = cache.nextPosition();
    const inputs = tokens.slice(0, -1);
    const out = await model.forward(cache, { embeds: model.embed(inputs), positions: inputs.map((_, i) => start + i), logitRows: 'all' });
    const row = out.logits.length / inputs.length;
    for (let i = 0; i < inputs.length; i++) add(out.logits, i * row, tokens[i + 1]);
  }
  return { nll: nll / tokens.length, acc: hits / tokens.length };
}

const TASKS: Task[] = ['insertion', 'deletion', 'multi'];
const SIDES: Side[] = ['above', 'below', 'both'];

/** Mean reuse counts per layout over some cases (what pie keeps, rotates, leaves stale; what prefix keeps). */
function reuseSummary(cases: CaseResult[]): Record<FimLayout, Record<keyof Reuse | 'prompt', number>> | null {
  if (cases.length === 0) return null;
  const of = (l: FimLayout) => {
    const m = (f: (c: CaseResult) => number) => r1(mean(cases.map(f)));
    return {
      prompt: m((c) => c.reuse[l].encoded + c.reuse[l].reused),
      encoded: m((c) => c.reuse[l].encoded),
      reused: m((c) => c.reuse[l].reused),
      rotated: m((c) => c.reuse[l].rotated),
      stale: m((c) => c.reuse[l].stale),
      prefixKept: m((c) => c.reuse[l].prefixKept),
    };
  };
  return { psm: of('psm'), spm: of('spm') };
}

function reuseTable(groups: Array<[string, CaseResult[]]>): string {
  const head = '| edits | n | layout | prompt tokens | pie: encoded | reused | rotated (position changed) | stale (kept after the first change) | prefix mode keeps | prefix encodes |\n|---|---|---|---|---|---|---|---|---|---|\n';
  const rows: string[] = [];
  for (const [name, cs] of groups) {
    const sum = reuseSummary(cs);
    if (!sum) continue;
    for (const l of ['psm', 'spm'] as FimLayout[]) {
      const x = sum[l];
      rows.push(`| ${name} | ${cs.length} | ${l} | ${x.prompt} | ${x.encoded} | ${x.reused} | ${x.rotated} | ${x.stale} | ${x.prefixKept} | ${r1(x.prompt - x.prefixKept)} |`);
    }
  }
  return head + rows.join('\n');
}

interface SizePlan {
  size: Size;
  kind: Kind;
  n: number;
  variants: Variant[];
  hardVariants?: Variant[];
  stratify: boolean;
}

async function sizeRun(ctx: Ctx, plan: SizePlan, files: HeldoutRecord[], r: () => number, log: (s: string) => void): Promise<Sample[]> {
  const { tokenizer, markers, maxNew } = ctx;
  const out: Sample[] = [];
  const sessionText = DEFAULT_PROMPT_BUDGET.maxContextTokens - 64 - 4 - 32;
  const fitsTarget = (line: string): boolean => tokenizer.encode(line).length <= maxNew - 2;
  for (let tries = 0; out.length < plan.n && tries < plan.n * 30; tries++) {
    const file = files[Math.floor(r() * files.length)];
    const task = TASKS[out.length % TASKS.length];
    const half = plan.stratify ? (Math.floor(out.length / TASKS.length) % 2 === 0 ? 'first' : 'second') : 'any';
    const header = 1 + tokenizer.encode(`${file.path}\n`).length;
    let text: string;
    let policy: WindowPolicy;
    let lo: number;
    let hi: number;
    if (plan.size === 'window') {
      if (tokenizer.encode(file.text).length < 3 * 2048) continue;
      text = file.text;
      policy = { maxTokens: sessionText, beforeShare: DEFAULT_PROMPT_BUDGET.beforeShare, edgeShare: 1 - DEFAULT_PROMPT_BUDGET.beforeFill };
      const probe = new DocumentPrompt(tokenizer, markers, file.path, text, Math.floor(r() * text.length), policy);
      [lo, hi] = probe.window;
    } else {
      // Room for the generated line, the three FIM markers and the path; deletions add lines.
      const L = Number(plan.size);
      const cut = cutToTokens(tokenizer, file.text, L - maxNew - 3 - header - 96, r);
      if (cut === null) continue;
      text = cut;
      policy = { maxTokens: L - maxNew - 3 - header, beforeShare: 0.75, edgeShare: 0.05 };
      lo = 0;
      hi = text.length;
    }
    const post = pickTarget(text, lo, hi, r, fitsTarget);
    if (!post) continue;
    const starts = lineStarts(post.text);
    // [lo, hi) in post-edit lines (the target line's text is gone, so hi moves up by its length).
    const l0 = lineOf(starts, lo);
    const l1 = lineOf(starts, Math.min(post.text.length, hi - (text.length - post.text.length)));
    const region: [number, number] = half === 'first' ? [0, 0.5] : half === 'second' ? [0.5, 1] : [0, 1];
    const c = makeEdit(post, file.text, l0, l1, TASK_SPECS[task], r, region);
    if (!c) continue;
    const normal = await runCase(ctx, file.path, c, policy, plan.variants, r);
    if (!normal) continue;
    const { res, tokens } = normal;
    if (res.promptTokens + maxNew > 2048) throw new Error(`bench: prompt of ${res.promptTokens} tokens leaves no room to generate`);
    const refMode = plan.kind === 'timed' ? 'full' : 'prefix';
    const refRes = res.modes[refMode];
    const sample: Sample = {
      ...res,
      kind: plan.kind,
      size: plan.size,
      path: file.path,
      cursorAt: r3((post.cursor - lo) / Math.max(1, hi - lo)),
      target: post.target,
      ref: { mode: refMode, completion: refRes.completion, em: refRes.em },
    };
    if (plan.hardVariants) {
      // Blocks above the cursor where there is room (the keys next to it are off by the most), else anywhere.
      const h = makeEdit(post, file.text, l0, post.line, TASK_SPECS.hard, r) ?? makeEdit(post, file.text, l0, l1, TASK_SPECS.hard, r);
      const hard = h ? await runCase(ctx, file.path, h, policy, plan.hardVariants, r, { completion: refRes.completion, tokens }) : null;
      if (hard) sample.hard = hard.res;
    }
    out.push(sample);
    moveDocs.set(sample, { path: file.path, post, policy });
    const m = res.modes;
    log(
      `${plan.size} ${plan.kind} #${out.length}/${plan.n} ${task} edit@${res.editAt} Δ${res.deltaAtCursor} prompt ${res.promptTokens}: ` +
        plan.variants.map((v) => `${v.name} ${m[v.name].ttftMs}ms/${m[v.name].encoded}t${m[v.name].em ? ' EM' : ''}${m[v.name].agree ? '' : ' ≠'}`).join(' | ') +
        (sample.hard ? ` || hard Δ${sample.hard.deltaAtCursor}: ` + Object.entries(sample.hard.modes).map(([k, v]) => `${k}${v.em ? ' EM' : ''}${v.agree ? '' : ' ≠'}`).join(' | ') : ''),
    );
  }
  if (out.length < plan.n) log(`${plan.size} ${plan.kind}: only ${out.length} of ${plan.n} samples could be made`);
  return out;
}

interface Timing {
  n: number;
  updateMs: { median: number; p90: number };
  ttftMs: { median: number; p90: number };
  encoded: { median: number; mean: number };
  /** Per-sample TTFT ratios (side by side), median and 10th percentile; share ≥ the target ratio. */
  vsFull?: { median: number; p10: number; min: number; shareAtLeast10: number };
  vsPrefix?: { median: number; p10: number; min: number; shareAtLeast3: number };
}

function timing(cases: CaseResult[], name: string): Timing | undefined {
  const rs = cases.map((c) => c.modes[name]).filter((x) => x !== undefined);
  if (rs.length === 0) return undefined;
  const out: Timing = {
    n: rs.length,
    updateMs: { median: r1(quantile(rs.map((x) => x.updateMs), 0.5)), p90: r1(quantile(rs.map((x) => x.updateMs), 0.9)) },
    ttftMs: { median: r1(quantile(rs.map((x) => x.ttftMs), 0.5)), p90: r1(quantile(rs.map((x) => x.ttftMs), 0.9)) },
    encoded: { median: quantile(rs.map((x) => x.encoded), 0.5), mean: r1(rs.reduce((a, x) => a + x.encoded, 0) / rs.length) },
  };
  const ratios = (other: string): number[] => cases.filter((c) => c.modes[other] && c.modes[name]).map((c) => c.modes[other].ttftMs / c.modes[name].ttftMs);
  const f = ratios('full');
  if (f.length > 0) out.vsFull = { median: r1(quantile(f, 0.5)), p10: r1(quantile(f, 0.1)), min: r1(Math.min(...f)), shareAtLeast10: r3(f.filter((x) => x >= 10).length / f.length) };
  const p = ratios('prefix');
  if (p.length > 0) out.vsPrefix = { median: r1(quantile(p, 0.5)), p10: r1(quantile(p, 0.1)), min: r1(Math.min(...p)), shareAtLeast3: r3(p.filter((x) => x >= 3).length / p.length) };
  return out;
}

interface Quality {
  n: number;
  em: number;
  emCI: [number, number];
  refEm: number;
  /** EM − reference EM (points), discordant pairs (onlyA: this mode right, reference wrong), Newcombe interval. */
  emVsRef: PairedProportions;
  /** The same difference with a paired percentile-bootstrap 95% interval (points). */
  emVsRefBoot: { diff: number; ci: [number, number] };
  agree: { k: number; rate: number; ci: [number, number] };
  es: number;
  esVsRef: { diff: number; ci: [number, number] };
  /** Mean edit similarity to the reference's completion. */
  esToRef: number;
  /** Teacher-forced: mean NLL (nats/token) and its paired difference to the reference (nats, 95% CI); token accuracy %. */
  nll: number;
  nllVsRef: { diff: number; ci: [number, number] };
  tokenAcc: number;
  tokenAccVsRef: { diff: number; ci: [number, number] };
}

/** Accuracy of mode `name` on these cases against each case's reference (`refs[i]`). */
type RefScore = Pick<ModeResult, 'em' | 'es' | 'nll' | 'tokenAcc'>;

function quality(cases: CaseResult[], refs: RefScore[], name: string): Quality | undefined {
  const idx = cases.map((c, i) => (c.modes[name] ? i : -1)).filter((i) => i >= 0);
  if (idx.length === 0) return undefined;
  const rs = idx.map((i) => cases[i].modes[name]);
  const rf = idx.map((i) => refs[i]);
  const n = rs.length;
  const k = rs.filter((x) => x.em).length;
  const ag = rs.filter((x) => x.agree).length;
  const [lo, hi] = wilson(k, n);
  const [alo, ahi] = wilson(ag, n);
  return {
    n,
    em: r1((100 * k) / n),
    emCI: [r1(100 * lo), r1(100 * hi)],
    refEm: r1((100 * rf.filter((x) => x.em).length) / n),
    emVsRef: pairedProportions(
      rs.map((x) => x.em),
      rf.map((x) => x.em),
    ),
    emVsRefBoot: ((d) => ({ diff: r1(100 * d.diff), ci: [r1(100 * d.ci95[0]), r1(100 * d.ci95[1])] as [number, number] }))(
      pairedDifference(
        rs.map((x) => (x.em ? 1 : 0)),
        rf.map((x) => (x.em ? 1 : 0)),
      ),
    ),
    agree: { k: ag, rate: r1((100 * ag) / n), ci: [r1(100 * alo), r1(100 * ahi)] },
    es: r1((100 * rs.reduce((a, x) => a + x.es, 0)) / n),
    esVsRef: pairedMeanDiff(
      rs.map((x) => x.es),
      rf.map((x) => x.es),
    ),
    esToRef: r1((100 * rs.reduce((a, x) => a + x.esRef, 0)) / n),
    nll: r3(rs.reduce((a, x) => a + x.nll, 0) / n),
    // pairedMeanDiff reports ×100; NLL is shown in nats.
    nllVsRef: ((d) => ({ diff: r3(d.diff / 100), ci: [r3(d.ci[0] / 100), r3(d.ci[1] / 100)] as [number, number] }))(
      pairedMeanDiff(
        rs.map((x) => x.nll),
        rf.map((x) => x.nll),
      ),
    ),
    tokenAcc: r1((100 * rs.reduce((a, x) => a + x.tokenAcc, 0)) / n),
    tokenAccVsRef: pairedMeanDiff(
      rs.map((x) => x.tokenAcc),
      rf.map((x) => x.tokenAcc),
    ),
  };
}

/** The reference's accuracy per sample (its own ModeResult in the normal case). */
function refsOf(samples: Sample[]): RefScore[] {
  return samples.map((s) => s.modes[s.ref.mode]);
}

/** EM − reference for the targets block: the point estimate, both intervals, the discordant pairs. */
function emTarget(q: Quality | undefined): object | null {
  if (!q) return null;
  const [lo, hi] = q.emVsRefBoot.ci;
  return {
    n: q.n,
    em: q.em,
    refEm: q.refEm,
    diff: q.emVsRefBoot.diff,
    bootstrapCi: q.emVsRefBoot.ci,
    newcombeCi: q.emVsRef.ci,
    discordant: { pieOnly: q.emVsRef.onlyA, refOnly: q.emVsRef.onlyB },
    pointEstimateMet: Math.abs(q.emVsRefBoot.diff) <= 1,
    ciWithin1: lo >= -1 && hi <= 1,
    // Samples at which the interval's half-width would be 1 point at the observed discordance
    // (normal approximation; the interval is centred on the difference, so ±1 needs more when it is not 0).
    samplesForCiWithin1: q.emVsRef.onlyA + q.emVsRef.onlyB > 0 ? Math.ceil((1.96 ** 2 * ((q.emVsRef.onlyA + q.emVsRef.onlyB) / q.n)) / 0.01 ** 2) : null,
  };
}

/** The headline numbers of a Quality for the targets block. */
function summaryOf(q: Quality | undefined): object | null {
  if (!q) return null;
  return { n: q.n, em: q.em, refEm: q.refEm, sameLineAsRef: q.agree.rate, esToRef: q.esToRef, nll: q.nll, nllVsRef: q.nllVsRef, tokenAccVsRef: q.tokenAccVsRef };
}

function timingTable(cases: CaseResult[], variants: Variant[]): string {
  const head = '| mode | n | update ms median / p90 | TTFT ms median / p90 | tokens encoded median (mean) | TTFT ratio full/mode: median (p10, min) [share ≥ 10×] | prefix/mode: median (p10, min) [share ≥ 3×] |\n|---|---|---|---|---|---|---|\n';
  const rows = variants
    .map((v) => [v, timing(cases, v.name)] as const)
    .filter((x): x is readonly [Variant, Timing] => x[1] !== undefined)
    .map(([v, t]) => {
      const f = t.vsFull ? `${t.vsFull.median}× (${t.vsFull.p10}, ${t.vsFull.min}) [${r1(100 * t.vsFull.shareAtLeast10)}%]` : '–';
      const p = t.vsPrefix ? `${t.vsPrefix.median}× (${t.vsPrefix.p10}, ${t.vsPrefix.min}) [${r1(100 * t.vsPrefix.shareAtLeast3)}%]` : '–';
      return `| ${v.name} | ${t.n} | ${t.updateMs.median} / ${t.updateMs.p90} | ${t.ttftMs.median} / ${t.ttftMs.p90} | ${t.encoded.median} (${t.encoded.mean}) | ${f} | ${p} |`;
    });
  return head + rows.join('\n');
}

function qualityTable(cases: CaseResult[], refs: RefScore[], variants: Variant[], refLabel: string): string {
  const head = `| mode | n | EM % [95% CI] | EM − ${refLabel}, points [bootstrap 95% CI] (Newcombe) | discordant: mode right / ${refLabel} right | same line as ${refLabel} % [95% CI] | ES % | ES − ${refLabel} [95% CI] | ES to ${refLabel}'s line % | true line NLL, nats/token | NLL − ${refLabel} [95% CI] | token acc. % | acc. − ${refLabel}, points [95% CI] |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n`;
  const rows = variants
    .map((v) => [v, quality(cases, refs, v.name)] as const)
    .filter((x): x is readonly [Variant, Quality] => x[1] !== undefined)
    .map(([v, q]) => `| ${v.name} | ${q.n} | ${q.em} [${q.emCI[0]}, ${q.emCI[1]}] | ${q.emVsRefBoot.diff} [${q.emVsRefBoot.ci[0]}, ${q.emVsRefBoot.ci[1]}] ([${q.emVsRef.ci[0]}, ${q.emVsRef.ci[1]}]) | ${q.emVsRef.onlyA} / ${q.emVsRef.onlyB} | ${q.agree.rate} [${q.agree.ci[0]}, ${q.agree.ci[1]}] | ${q.es} | ${q.esVsRef.diff} [${q.esVsRef.ci[0]}, ${q.esVsRef.ci[1]}] | ${q.esToRef} | ${q.nll} | ${q.nllVsRef.diff} [${q.nllVsRef.ci[0]}, ${q.nllVsRef.ci[1]}] | ${q.tokenAcc} | ${q.tokenAccVsRef.diff} [${q.tokenAccVsRef.ci[0]}, ${q.tokenAccVsRef.ci[1]}] |`);
  return head + rows.join('\n');
}

const MOVES = [-40, -10, -1, 1, 10, 40];

interface MoveRow {
  layout: FimLayout;
  lines: number;
  encoded: number;
  rotated: number;
  stale: number;
  /** PIE update time with the model (only for the first few documents; else null). */
  updateMs: number | null;
}

/**
 * Cursor moves on 2048 post-edit documents (no text edit): the cursor goes `lines` lines down or
 * up, to after the indentation of the line it lands on, as a next request there would. psm moves
 * one marker; spm moves the text in between from one end of the prompt to the other. Counted for
 * every document, timed with the model for the first `timedDocs`.
 */
async function cursorMoves(ctx: Ctx, docs: Array<{ path: string; post: EditCase['post']; policy: WindowPolicy }>, timedDocs: number, r: () => number): Promise<MoveRow[]> {
  const rows: MoveRow[] = [];
  for (const [k, d] of docs.entries()) {
    const starts = lineStarts(d.post.text);
    for (const layout of ['psm', 'spm'] as FimLayout[]) {
      const tail0 = tailAt(ctx, d.post.text, d.post.cursor, layout);
      const fresh = (): DocumentPrompt => {
        const p = new DocumentPrompt(ctx.tokenizer, ctx.markers, d.path, d.post.text, d.post.cursor, d.policy);
        p.setLayout(layout);
        p.setCursor(d.post.cursor, tail0.length);
        return p;
      };
      const pre = fresh().tokens();
      const base = k < timedDocs ? ctx.model.createCache() : null;
      if (base) await updateCache(ctx.model, base, pre, { mode: 'full' });
      for (const lines of MOVES.map((m) => ({ m, k: r() })).sort((a, b) => a.k - b.k).map((x) => x.m)) {
        const line = d.post.line + lines;
        if (line < 0 || line >= starts.length - 1) continue;
        const lineText = d.post.text.slice(starts[line], starts[line + 1]);
        const cursor = starts[line] + (/^[ \t]*/.exec(lineText)?.[0].length ?? 0);
        const p = fresh();
        const [ws, we] = p.window;
        if (cursor < ws || cursor > we) continue;
        const tail = tailAt(ctx, d.post.text, cursor, layout);
        p.setCursor(cursor, tail.length);
        const target = p.tokens();
        const u = reuseOf(pre, target);
        let updateMs: number | null = null;
        if (base) {
          const cache = base.fork();
          const t = performance.now();
          await updateCache(ctx.model, cache, target, { mode: 'pie', refreshEnd: p.layout().beforeEnd });
          updateMs = r1(performance.now() - t);
        }
        rows.push({ layout, lines, encoded: u.encoded, rotated: u.rotated, stale: u.stale, updateMs });
      }
    }
  }
  return rows;
}

function moveSummary(rows: MoveRow[]): object {
  const out: Record<string, object> = {};
  for (const layout of ['psm', 'spm'] as FimLayout[]) {
    for (const lines of MOVES) {
      const rs = rows.filter((x) => x.layout === layout && x.lines === lines);
      if (rs.length === 0) continue;
      const timed = rs.filter((x) => x.updateMs !== null).map((x) => x.updateMs as number);
      out[`${layout} ${lines > 0 ? '+' : ''}${lines}`] = {
        n: rs.length,
        encoded: { median: quantile(rs.map((x) => x.encoded), 0.5), mean: r1(mean(rs.map((x) => x.encoded))) },
        rotated: r1(mean(rs.map((x) => x.rotated))),
        stale: r1(mean(rs.map((x) => x.stale))),
        updateMs: timed.length > 0 ? { n: timed.length, median: r1(quantile(timed, 0.5)), p90: r1(quantile(timed, 0.9)) } : null,
      };
    }
  }
  return out;
}

/** The 100k-line document: prompt upkeep and PIE updates on a file far beyond the window. */
async function bigFile(ctx: Ctx, files: HeldoutRecord[], r: () => number, quick: boolean, log: (s: string) => void): Promise<object> {
  const { tokenizer, markers, model } = ctx;
  const parts: string[] = [];
  let lines = 0;
  while (lines < 100_000) {
    const f = files[Math.floor(r() * files.length)].text;
    parts.push(f.endsWith('\n') ? f : `${f}\n`);
    lines += f.split('\n').length;
  }
  const text = parts.join('');
  const lineCount = lineStarts(text).length - 1;
  const policy: WindowPolicy = { maxTokens: DEFAULT_PROMPT_BUDGET.maxContextTokens - 64 - 4 - 32, beforeShare: DEFAULT_PROMPT_BUDGET.beforeShare, edgeShare: 1 - DEFAULT_PROMPT_BUDGET.beforeFill };
  let t = performance.now();
  const prompt = new DocumentPrompt(tokenizer, markers, 'big.py', text, Math.floor(text.length / 2), policy);
  prompt.setLayout(ctx.layout);
  const constructMs = performance.now() - t;

  const near: number[] = [];
  const far: number[] = [];
  const jumps: number[] = [];
  const steps = quick ? 10 : 40;
  for (let i = 0; i < steps; i++) {
    const c = prompt.cursor;
    t = performance.now();
    prompt.applyEdits([{ start: c, end: c, text: 'x' }]);
    prompt.tokens();
    near.push(performance.now() - t);
    const o = r() < 0.5 ? Math.floor(r() * 1000) : prompt.text.length - Math.floor(r() * 1000);
    t = performance.now();
    prompt.applyEdits([{ start: o, end: o, text: '# far\n' }]);
    prompt.tokens();
    far.push(performance.now() - t);
  }
  for (let i = 0; i < (quick ? 4 : 12); i++) {
    t = performance.now();
    prompt.setCursor(Math.floor(r() * prompt.text.length));
    prompt.tokens();
    jumps.push(performance.now() - t);
  }

  // Through a DocumentSession (VS Code line/column edits, the service's path) with the model.
  const session = new DocumentSession('big.py', text, model, tokenizer);
  const updater = cacheUpdater('pie');
  const budget = { ...DEFAULT_PROMPT_BUDGET };
  const mid = session.lines.positionAt(Math.floor(text.length / 2));
  t = performance.now();
  const first = await session.update(session.offsetAt(mid[0], mid[1]), { updater, budget, layout: ctx.layout });
  const firstMs = performance.now() - t;
  const sessionEdit: number[] = [];
  const pieUpdate: number[] = [];
  const pieEncoded: number[] = [];
  let line = mid[0];
  for (let i = 0; i < (quick ? 4 : 12); i++) {
    // Type a line above the cursor (inside the window), then complete at the cursor.
    t = performance.now();
    session.applyEdits([{ start: [line - 20, 0], end: [line - 20, 0], text: 'value = compute(1)\n' }]);
    sessionEdit.push(performance.now() - t);
    line++;
    t = performance.now();
    const u = await session.update(session.offsetAt(line, 0), { updater, budget, layout: ctx.layout });
    pieUpdate.push(performance.now() - t);
    pieEncoded.push(u.encodedTokens);
  }
  t = performance.now();
  const jump = await session.update(session.offsetAt(Math.floor(lineCount / 5), 0), { updater, budget, layout: ctx.layout });
  const jumpMs = performance.now() - t;
  const res = {
    lines: lineCount,
    chars: text.length,
    promptConstructMs: r1(constructMs),
    editNearCursorMs: { median: r1(quantile(near, 0.5)), p90: r1(quantile(near, 0.9)) },
    editOutsideWindowMs: { median: r1(quantile(far, 0.5)), p90: r1(quantile(far, 0.9)) },
    cursorJumpMs: { median: r1(quantile(jumps, 0.5)), p90: r1(quantile(jumps, 0.9)) },
    session: {
      firstUpdateMs: r1(firstMs),
      firstPromptTokens: first.prompt.tokens.length,
      applyEditsMs: { median: r1(quantile(sessionEdit, 0.5)), p90: r1(quantile(sessionEdit, 0.9)) },
      pieUpdateMs: { median: r1(quantile(pieUpdate, 0.5)), p90: r1(quantile(pieUpdate, 0.9)) },
      pieEncoded: { median: quantile(pieEncoded, 0.5) },
      farJumpUpdateMs: r1(jumpMs),
      farJumpEncoded: jump.encodedTokens,
    },
  };
  log(`bigfile: ${JSON.stringify(res)}`);
  return res;
}

/**
 * The CompletionService's own path on a 15k-line file (under the default line limit): edit a line
 * above the cursor, then complete at the cursor (one token: the time to first token the status
 * bar shows), PIE and now and then 'full' interleaved. Also checks the counts the status bar and
 * latency report show: reused + encoded must be the prompt's length.
 */
async function servicePath(ctx: Ctx, files: HeldoutRecord[], quick: boolean, log: (s: string) => void): Promise<object> {
  const { model, tokenizer } = ctx;
  const py = files.filter((f) => f.lang === 'python' || f.path.endsWith('.py'));
  let text = '';
  for (let i = 0; text.split('\n').length < 15_000; i++) text += `${py[i % py.length].text}\n`;
  const lines = text.split('\n').length;
  // The service gets the already loaded model; its shutdown must not dispose it.
  const shared = { embed: model.embed.bind(model), forward: model.forward.bind(model), createCache: model.createCache.bind(model), dispose: () => undefined };
  const service = new CompletionService({ modelDir: 'bench', loader: async () => ({ model: shared, tokenizer, fimLayout: ctx.layout }) });
  const path = 'service.py';
  service.open(path, text, 'python');
  const mid = Math.floor(lines / 2);
  const options = (cache: CacheMode) => ({ cache, monitors: false, mode: 'line' as const, completionCache: false });
  try {
    await service.complete({ path, line: mid, col: 0, maxTokens: 1, options: options('pie') });
    const rows: Array<{ mode: CacheMode; editMs: number; firstTokenMs: number; encodeMs: number; reused: number; encoded: number }> = [];
    const steps = quick ? 6 : 24;
    for (let i = 0; i < steps; i++) {
      const mode: CacheMode = i % 4 === 3 ? 'full' : 'pie';
      const l = mid - 30 + i;
      const t = performance.now();
      service.edit(path, [{ start: [l, 0], end: [l, 0], text: 'value = compute(1)\n' }]);
      const editMs = performance.now() - t;
      const res = await service.complete({ path, line: mid + i + 1, col: 0, maxTokens: 1, options: options(mode) });
      rows.push({ mode, editMs: r1(editMs), firstTokenMs: r1(res.timings.firstTokenMs), encodeMs: r1(res.timings.encodeMs), reused: res.reusedTokens, encoded: res.encodedTokens });
    }
    const of = (mode: CacheMode) => rows.filter((x) => x.mode === mode);
    const med = (xs: number[]) => r1(quantile(xs, 0.5));
    const summary = (mode: CacheMode) => ({
      n: of(mode).length,
      editMs: med(of(mode).map((x) => x.editMs)),
      firstTokenMs: { median: med(of(mode).map((x) => x.firstTokenMs)), p90: r1(quantile(of(mode).map((x) => x.firstTokenMs), 0.9)) },
      encodeMs: med(of(mode).map((x) => x.encodeMs)),
      reused: med(of(mode).map((x) => x.reused)),
      encoded: med(of(mode).map((x) => x.encoded)),
      promptTokens: [...new Set(of(mode).map((x) => x.reused + x.encoded))],
    });
    const res = { lines, chars: text.length, pie: summary('pie'), full: summary('full'), rows };
    log(`service: ${JSON.stringify({ pie: res.pie, full: res.full })}`);
    return res;
  } finally {
    await service.shutdown();
  }
}

export async function run(args: string[]): Promise<object> {
  const quick = args.includes('--quick');
  const seed = num(args, 'seed', 4);
  const maxNew = num(args, 'max-new', 32);
  const modelDir = resolve(flag(args, 'model') ?? join(ROOT, 'models', 'default'));
  const outFile = resolve(flag(args, 'out') ?? join(ROOT, 'bench', 'out', 'pie.json'));
  const counts = {
    timed512: num(args, 'n512', quick ? 6 : 120),
    timed2048: num(args, 'n2048', quick ? 6 : 40),
    quality2048: num(args, 'q2048', quick ? 3 : 60),
    quality512: num(args, 'q512', quick ? 3 : 300),
    timedWindow: num(args, 'nwindow', quick ? 3 : 12),
  };
  const refresh = (flag(args, 'refresh') ?? '64,256').split(',').filter(Boolean).map(Number);
  const pieW = refresh.map((w) => ({ name: `pie+W${w}`, mode: 'pie' as const, refreshWindow: w }));
  const v = (name: string, mode: CacheMode): Variant => ({ name, mode, refreshWindow: 0 });
  const timedVariants: Variant[] = [v('full', 'full'), v('prefix', 'prefix'), v('pie', 'pie'), ...pieW, v('conflict', 'conflict')];
  const qualityVariants: Variant[] = [v('prefix', 'prefix'), v('pie', 'pie'), ...pieW, v('conflict', 'conflict')];
  // Cheap samples for the EM comparison's power: pie against its exact reference only.
  const quality512Variants: Variant[] = [v('prefix', 'prefix'), v('pie', 'pie'), v('conflict', 'conflict')];
  const hardVariants: Variant[] = [v('pie', 'pie'), ...pieW.filter((x) => x.refreshWindow >= 64), v('conflict', 'conflict')];
  const log = (s: string): void => console.error(s);
  const loadBefore = loadavg().map(r1);

  const ckpt = await loadCheckpoint(modelDir);
  const model = await Model.load(ckpt, { threads: num(args, 'threads', 2) });
  const tokenizer = ckpt.tokenizer;
  const layoutFlag = flag(args, 'layout');
  if (layoutFlag !== undefined && layoutFlag !== 'psm' && layoutFlag !== 'spm') throw new Error(`--layout must be psm or spm, got ${layoutFlag}`);
  // The product path: the layout the model declares (generation_config.json), token healing on.
  const layout: FimLayout = (layoutFlag as FimLayout | undefined) ?? ckpt.fimLayout ?? 'psm';
  const heal = !args.includes('--no-healing');
  const ctx: Ctx = { model, tokenizer, markers: markersOf(tokenizer), maxNew, layout, heal };
  const files = readHeldout(join(ROOT, 'bench', 'data', 'heldout'));
  const r = mulberry32(seed);
  const started = Date.now();
  try {
    // Warm the graph for the shapes used (first forwards pay session setup).
    const warm = model.createCache();
    await updateCache(model, warm, tokenizer.encode(files[0].text).slice(0, 600), { mode: 'full' });

    const ops = await opsBench(r, quick ? 3 : 15);
    log(`ops: ${JSON.stringify(ops.updates)} rotate ${ops.rotateSuffixMs} ms, tail ${ops.spliceTailMs} ms`);
    const plans: SizePlan[] = [
      { size: '512', kind: 'timed', n: counts.timed512, variants: timedVariants, stratify: true },
      { size: '2048', kind: 'timed', n: counts.timed2048, variants: timedVariants, hardVariants, stratify: true },
      { size: '2048', kind: 'quality', n: counts.quality2048, variants: qualityVariants, hardVariants, stratify: false },
      { size: '512', kind: 'quality', n: counts.quality512, variants: quality512Variants, stratify: false },
      { size: 'window', kind: 'timed', n: counts.timedWindow, variants: timedVariants, stratify: true },
    ];
    const samples: Sample[] = [];
    for (const plan of plans) samples.push(...(await sizeRun(ctx, plan, files, r, log)));

    const timed = (size: Size) => samples.filter((s) => s.kind === 'timed' && s.size === size);
    const speed: Record<string, unknown> = {};
    for (const size of ['512', '2048', 'window'] as Size[]) {
      const mine = timed(size);
      if (mine.length === 0) continue;
      const byName = (cs: CaseResult[]) => Object.fromEntries(timedVariants.map((x) => [x.name, timing(cs, x.name)]));
      speed[size] = {
        all: byName(mine),
        firstHalf: byName(mine.filter((s) => s.firstHalf)),
        secondHalf: byName(mine.filter((s) => !s.firstHalf)),
        byTask: Object.fromEntries(TASKS.map((t) => [t, byName(mine.filter((s) => s.task === t))])),
      };
    }
    const qualityOf = (cs: Sample[], variants: Variant[]) => Object.fromEntries(variants.map((x) => [x.name, quality(cs, refsOf(cs), x.name)]));
    const compared = [v('pie', 'pie'), ...pieW, v('conflict', 'conflict')];
    const hardSamples = samples.filter((s) => s.hard);
    const hardCases = hardSamples.map((s) => s.hard as CaseResult);
    const accuracy = {
      pooled: qualityOf(samples, compared),
      bySize: Object.fromEntries((['512', '2048', 'window'] as Size[]).map((size) => [size, qualityOf(samples.filter((s) => s.size === size), compared)])),
      bySide: Object.fromEntries(SIDES.map((side) => [side, qualityOf(samples.filter((s) => s.side === side), compared)])),
      byTask: Object.fromEntries(TASKS.map((t) => [t, qualityOf(samples.filter((s) => s.task === t), compared)])),
      hard: Object.fromEntries(hardVariants.map((x) => [x.name, quality(hardCases, refsOf(hardSamples), x.name)])),
      // prefix vs full on the timed samples: how exact the 'prefix' reference of the quality samples is.
      prefixVsFull: quality(samples.filter((s) => s.kind === 'timed'), refsOf(samples.filter((s) => s.kind === 'timed')), 'prefix'),
      hardDelta: { median: quantile(hardCases.map((c) => Math.abs(c.deltaAtCursor)), 0.5), normalMedian: quantile(samples.map((c) => Math.abs(c.deltaAtCursor)), 0.5) },
    };
    const refreshCost = Object.fromEntries(
      [v('pie', 'pie'), ...pieW].map((x) => {
        const cs = samples.filter((s) => s.modes[x.name]);
        return [x.name, { n: cs.length, encodedMean: r1(cs.reduce((a, s) => a + s.modes[x.name].encoded, 0) / Math.max(1, cs.length)), updateMsMedian: r1(quantile(cs.map((s) => s.modes[x.name].updateMs), 0.5)), updateMs2048Median: r1(quantile(cs.filter((s) => s.size === '2048').map((s) => s.modes[x.name].updateMs), 0.5)) }];
      }),
    );

    const t2048 = speed['2048'] as { firstHalf: Record<string, Timing | undefined> } | undefined;
    const pieFirst = t2048?.firstHalf.pie;
    const pooledPie = accuracy.pooled.pie as Quality | undefined;
    const targets = {
      speedFirstHalf2048: pieFirst
        ? {
            n: pieFirst.n,
            vsFull: pieFirst.vsFull,
            vsPrefix: pieFirst.vsPrefix,
            met: (pieFirst.vsFull?.median ?? 0) >= 10 && (pieFirst.vsPrefix?.median ?? 0) >= 3,
          }
        : null,
      // Pooled over sizes (every sample pairs pie with its exact reference), and at 2048 alone.
      emWithin1Point: { pooled: emTarget(pooledPie), at2048: emTarget(accuracy.bySize['2048']?.pie as Quality | undefined) },
      // Why the rotation matters: the same cache without it (conflict) against PIE, normal and hard edits.
      conflict: {
        normal: { pie: summaryOf(accuracy.pooled.pie), conflict: summaryOf(accuracy.pooled.conflict) },
        hard: { pie: summaryOf(accuracy.hard.pie), conflict: summaryOf(accuracy.hard.conflict) },
      },
    };
    const reuse = {
      // Timed and quality samples alike: the counts need no model.
      bySide: Object.fromEntries(SIDES.map((side) => [side, reuseSummary(samples.filter((x) => x.side === side))])),
      bySize: Object.fromEntries((['512', '2048', 'window'] as Size[]).map((size) => [size, reuseSummary(samples.filter((x) => x.size === size))])),
      '2048BySide': Object.fromEntries(SIDES.map((side) => [side, reuseSummary(samples.filter((x) => x.size === '2048' && x.side === side))])),
    };
    const moveRows = await cursorMoves(
      ctx,
      samples.filter((x) => x.size === '2048').map((x) => moveDocs.get(x)!),
      num(args, 'move-timed', quick ? 1 : 8),
      r,
    );
    const moves = moveSummary(moveRows);
    log(`cursor moves: ${JSON.stringify(moves)}`);
    const bigFileRes = args.includes('--no-bigfile') ? null : await bigFile(ctx, files, r, quick, log);
    const service = args.includes('--no-service') ? null : await servicePath(ctx, files, quick, log);
    const report = {
      bench: 'pie',
      command: `./bin/slipstream bench pie ${args.join(' ')}`.trim(),
      model: modelDir,
      seed,
      maxNew,
      layout,
      tokenHealing: heal,
      healedSamples: samples.filter((x) => x.healed > 0).length,
      counts,
      variants: { timed: timedVariants, quality: qualityVariants, quality512: quality512Variants, hard: hardVariants },
      loadAverage: { before: loadBefore, after: loadavg().map(r1) },
      wallSeconds: Math.round((Date.now() - started) / 1000),
      targets,
      speed,
      accuracy,
      refreshCost,
      reuse,
      cursorMoves: moves,
      ops,
      bigFile: bigFileRes,
      service,
      samples,
    };
    mkdirSync(dirname(outFile), { recursive: true });
    writeFileSync(outFile, JSON.stringify(report, null, 1));
    const md = markdown(report, samples, timedVariants, compared, hardVariants);
    writeFileSync(outFile.replace(/\.json$/, '.md'), md);
    console.log(md);
    return { out: outFile, targets, wallSeconds: report.wallSeconds };
  } finally {
    await model.dispose();
  }
}

function markdown(
  report: { command: string; seed: number; layout: string; tokenHealing: boolean; healedSamples: number; reuse: unknown; cursorMoves: unknown; wallSeconds: number; loadAverage: { before: number[]; after: number[] }; counts: object; targets: object; ops: unknown; bigFile: unknown; service: unknown; refreshCost: object; accuracy: { hardDelta: object } },
  samples: Sample[],
  timedVariants: Variant[],
  compared: Variant[],
  hardVariants: Variant[],
): string {
  const md: string[] = [
    `# bench pie (${new Date().toISOString()})`,
    '',
    `\`${report.command}\`, seed ${report.seed}, ${report.wallSeconds} s, load average ${report.loadAverage.before.join(' ')} → ${report.loadAverage.after.join(' ')}; samples ${JSON.stringify(report.counts)}`,
    '',
    `Prompt layout **${report.layout}** (the model's), token healing ${report.tokenHealing ? 'on' : 'off'} (${report.healedSamples} of ${samples.length} samples hid an indentation tail).`,
    '',
    '## Targets',
    '',
    '```json',
    JSON.stringify(report.targets, null, 1),
    '```',
    '',
  ];
  for (const size of ['512', '2048', 'window'] as Size[]) {
    const mine = samples.filter((s) => s.kind === 'timed' && s.size === size);
    if (mine.length === 0) continue;
    md.push(`## speed, ${size}: edits in the first half`, '', timingTable(mine.filter((s) => s.firstHalf), timedVariants), '');
    md.push(`## speed, ${size}: edits in the second half`, '', timingTable(mine.filter((s) => !s.firstHalf), timedVariants), '');
    md.push(`## speed, ${size}: all`, '', timingTable(mine, timedVariants), '');
  }
  md.push('## accuracy, all normal samples pooled (reference: full, or prefix in quality samples)', '', qualityTable(samples, refsOf(samples), compared, 'ref'), '');
  for (const size of ['512', '2048', 'window'] as Size[]) {
    const mine = samples.filter((s) => s.size === size);
    if (mine.length > 0) md.push(`## accuracy, ${size}`, '', qualityTable(mine, refsOf(mine), compared, 'ref'), '');
  }
  for (const side of SIDES) {
    const mine = samples.filter((s) => s.side === side);
    if (mine.length > 0) md.push(`## accuracy, edits ${side} the cursor`, '', qualityTable(mine, refsOf(mine), compared, 'ref'), '');
  }
  for (const t of TASKS) {
    const mine = samples.filter((s) => s.task === t);
    if (mine.length > 0) md.push(`## accuracy, task ${t}`, '', qualityTable(mine, refsOf(mine), compared, 'ref'), '');
  }
  const hard = samples.filter((s) => s.hard);
  if (hard.length > 0) {
    md.push(
      `## accuracy, hard setting (2048, 5–8 blocks typed back in one change; |Δ| at the cursor: ${JSON.stringify(report.accuracy.hardDelta)})`,
      '',
      qualityTable(
        hard.map((s) => s.hard as CaseResult),
        refsOf(hard),
        hardVariants,
        'ref',
      ),
      '',
    );
  }
  const timedAll = samples.filter((s) => s.kind === 'timed');
  md.push('## prefix vs full (timed samples: is prefix an exact reference?)', '', qualityTable(timedAll, refsOf(timedAll), [{ name: 'prefix', mode: 'prefix', refreshWindow: 0 }], 'full'), '');
  md.push(
    '## what an edit reuses, by layout (the same edits counted in both, no model; means)',
    '',
    reuseTable([
      ...SIDES.map((side): [string, CaseResult[]] => [`all sizes, ${side} the cursor`, samples.filter((s) => s.side === side)]),
      ...SIDES.map((side): [string, CaseResult[]] => [`2048, ${side} the cursor`, samples.filter((s) => s.size === '2048' && s.side === side)]),
    ]),
    '',
  );
  md.push('## cursor moves (no edit; 2048 documents)', '', '```json', JSON.stringify(report.cursorMoves, null, 1), '```', '');
  md.push('## refresh window cost', '', '```json', JSON.stringify(report.refreshCost, null, 1), '```', '');
  md.push('## cache-side cost of a PIE update without the model (ops.ts)', '', '```json', JSON.stringify(report.ops, null, 1), '```', '');
  if (report.bigFile) md.push('## 100k-line file', '', '```json', JSON.stringify(report.bigFile, null, 1), '```', '');
  if (report.service) {
    const { rows: _rows, ...svc } = report.service as { rows: unknown };
    void _rows;
    md.push('## CompletionService: edit → first token on a 15k-line file', '', '```json', JSON.stringify(svc, null, 1), '```', '');
  }
  return md.join('\n');
}
