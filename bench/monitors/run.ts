// Dereference benchmark for monitor-guided decoding and token healing, on held-out real files.
//
//   slipstream bench monitors [--quick] [--data DIR] [--per-lang N] [--per-file N] [--model DIR]
//                             [--model-examples N] [--variants a,b,...] [--max-tokens N] [--context N]
//                             [--overhead-examples N] [--overhead-tokens N] [--line-starts N]
//                             [--threads N] [--out FILE]
//
// Examples: every `x.member` (Python attribute, JS/TS member expression, C `.`/`->` field) whose
// receiver the analysis resolves, with the member defined in the same package (the package's
// files are the workspace); up to N per language, at most --per-file per file. The document is
// the file with the member removed (text up to the dot + the suffix after the member), the
// cursor right after the dot: what the editor sees when the user has just typed it.
//
// Always reported (no model needed): how often the analysis knows the receiver, and how often
// its legal set would have excluded the true member (a false mask: must be ~0).
// With a model (--model DIR, or models/default when present):
// 1. accuracy: the CompletionService itself (FIM prompt with the suffix, as in the editor)
//    completes each example in every variant — prompt layout psm/spm × token healing × monitors
//    (see ALL_VARIANTS) — interleaved (the order rotates per example). Reported per variant:
//    next-identifier exact match, rate of identifiers that are not members of the receiver; and
//    paired comparisons with 95% intervals (COMPARISONS).
// 2. per-token overhead of the monitors on runs forced to decode --overhead-tokens tokens
//    (median of paired ratios, A B B A per example).
// 3. whitespace healing at line starts (the rule leaves whitespace tails alone; this is the
//    measurement behind that choice).
// --quick: a smoke run (5 examples per language, 8 for the overhead, 3 line starts per language).
// Writes bench/out/monitors.json (or --out FILE).

import { mkdirSync, existsSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Node } from 'web-tree-sitter';
import { analysisLangFor, WorkspaceAnalysis } from '../../src/analysis/index';
import { grammarForLanguageId, languageIdForPath } from '../../src/analysis/grammars';
import { CompletionService } from '../../src/completion/service';
import { DocumentSession, pieUpdate } from '../../src/completion/documentSession';
import { Monitoring } from '../../src/completion/monitoring';
import { DEFAULT_PROMPT_BUDGET } from '../../src/completion/prompt';
import type { FimLayout } from '../../src/completion/pie/documentPrompt';
import { generate } from '../../src/decoding/generate';
import { controlTokenIds, generationConfig } from '../../src/decoding/generationConfig';
import { banIdsFrom, type LogitsProcessor } from '../../src/decoding/logitsProcessors';
import { receiverStartsStatement } from '../../src/decoding/monitors/index';
import { stopAtMaxTokens, stoppingCriteria } from '../../src/decoding/stopping';
import { afterTail, healingProcessor, healingTail, stripTail } from '../../src/decoding/tokenHealing';
import { loadCheckpoint } from '../../src/engine/checkpoint';
import { Model } from '../../src/engine/model';
import { bootstrap as bootstrapOf, lcg, meanNormalCi, r3, rankQuantile } from '../stats';
import { flag, num } from '../args';
import { readHeldoutDir, type HeldoutRecord } from '../heldout';

interface Example {
  path: string;
  languageId: string;
  receiver: string;
  member: string;
  /** Offset just after the dot (or `->`) in the original text. */
  dotEnd: number;
  memberEnd: number;
  legal: Set<string>;
}

// The statistics (bench/stats.ts) as this report has always shown them: empty sets as 0, the
// upper median, intervals rounded to 0.001, resamples from the LCG the committed run used.
const median = (xs: number[]): number => (xs.length === 0 ? 0 : rankQuantile(xs, 0.5));
const p90 = (xs: number[]): number => (xs.length === 0 ? 0 : rankQuantile(xs, 0.9));
const p10 = (xs: number[]): number => (xs.length === 0 ? 0 : rankQuantile(xs, 0.1));
const r3z = (x: number): number => (Number.isNaN(x) ? 0 : r3(x));

/** Mean and 95% normal-approximation interval of paired differences. */
function meanCi(xs: number[]): { mean: number; ci95: [number, number] } {
  if (xs.length === 0) return { mean: 0, ci95: [0, 0] };
  const { mean, ci } = meanNormalCi(xs);
  return { mean: r3(mean), ci95: [r3(ci[0]), r3(ci[1])] };
}

/** Percentile bootstrap of a statistic over examples (deterministic resampling). */
function bootstrap<T>(rows: T[], stat: (rs: T[]) => number): [number, number] {
  const [lo, hi] = bootstrapOf(rows, stat, 2000, lcg(12345));
  return [r3z(lo), r3z(hi)];
}

export function readHeldout(dir: string): HeldoutRecord[] {
  return existsSync(dir) ? readHeldoutDir(dir) : [];
}

/** Member accesses in a tree: receiver node, member node, and the separator's end. */
function memberAccesses(root: Node, grammar: string): { receiver: Node; member: Node; sepEnd: number }[] {
  const lang = analysisLangFor(grammar);
  const type = lang === 'python' ? 'attribute' : lang === 'ecmascript' ? 'member_expression' : lang === 'c' ? 'field_expression' : null;
  if (!type) return [];
  const out: { receiver: Node; member: Node; sepEnd: number }[] = [];
  for (const n of root.descendantsOfType(type)) {
    const receiver = n.childForFieldName(lang === 'c' ? 'argument' : 'object');
    const member = n.childForFieldName(lang === 'python' ? 'attribute' : lang === 'c' ? 'field' : 'property');
    if (!receiver || !member) continue;
    if (lang === 'ecmascript' && member.type !== 'property_identifier' && member.type !== 'private_property_identifier') continue;
    // Only `a.b` with nothing between the separator and the member (no comments or newlines).
    const between = n.text.slice(receiver.endIndex - n.startIndex, member.startIndex - n.startIndex);
    if (!/^\s*(\?\.|\.|->)$/.test(between)) continue;
    out.push({ receiver, member, sepEnd: member.startIndex });
  }
  return out;
}

/** Deterministic sample: every k-th item. */
function sample<T>(xs: T[], n: number): T[] {
  if (xs.length <= n) return xs;
  const step = xs.length / n;
  return Array.from({ length: n }, (_, i) => xs[Math.floor(i * step)]);
}

type LangKey = 'python' | 'ecmascript' | 'c';

export async function collect(records: HeldoutRecord[], perLang: number, perFile: number): Promise<{ examples: Example[]; stats: Record<string, number> }> {
  const stats = { files: 0, accesses: 0, resolved: 0, falseMasks: 0, legalSetSizeSum: 0, analysisMsSum: 0 };
  const examples: Example[] = [];
  const count: Record<LangKey, number> = { python: 0, ecmascript: 0, c: 0 };
  // Files grouped by package (first path segment) form one workspace, so imports resolve.
  const byPackage = new Map<string, HeldoutRecord[]>();
  for (const r of records) {
    const pkg = r.path.split('/')[0];
    const list = byPackage.get(pkg) ?? [];
    list.push(r);
    byPackage.set(pkg, list);
  }
  const falseMaskSamples: string[] = [];
  for (const [, files] of byPackage) {
    const ws = new WorkspaceAnalysis();
    try {
      for (const f of files) ws.index.addFile('/' + f.path, f.text);
      for (const f of files) {
        const languageId = languageIdForPath(f.path);
        if (!languageId) continue;
        const doc = await ws.open('/' + f.path, f.text, languageId);
        if (!doc) continue;
        const lang = analysisLangFor(doc.grammar);
        if (!lang || count[lang] >= perLang) {
          ws.close('/' + f.path);
          continue;
        }
        const tree = doc.parseNow();
        if (!tree) continue;
        stats.files++;
        const accesses = sample(memberAccesses(tree.rootNode, doc.grammar), perFile);
        const spans = accesses.map((a) => ({ receiver: a.receiver.text, member: a.member.text, dotEnd: a.sepEnd, memberEnd: a.member.endIndex }));
        for (const a of spans) {
          if (count[lang] >= perLang) break;
          // The monitor leaves statement-opening receivers alone (they may define the member).
          if (lang !== 'c' && receiverStartsStatement(f.text, a.dotEnd - a.receiver.length - 1)) continue;
          stats.accesses++;
          const t0 = performance.now();
          await ws.index.prepare(doc);
          // Cheap screen on the whole file; resolved receivers are checked again in the editor's view.
          if (!ws.index.legalMembers(doc, a.dotEnd, a.receiver)) {
            stats.analysisMsSum += performance.now() - t0;
            continue;
          }
          // The editor's view: the member not typed yet.
          doc.editOffsets([{ start: a.dotEnd, end: a.memberEnd, text: '' }]);
          await ws.index.prepare(doc);
          const legal = ws.index.legalMembers(doc, a.dotEnd, a.receiver);
          doc.editOffsets([{ start: a.dotEnd, end: a.dotEnd, text: a.member }]);
          stats.analysisMsSum += performance.now() - t0;
          if (!legal) continue;
          stats.resolved++;
          stats.legalSetSizeSum += legal.size;
          if (!legal.has(a.member)) {
            stats.falseMasks++;
            if (falseMaskSamples.length < 10) falseMaskSamples.push(`${f.path}: ${a.receiver}.${a.member}`);
            continue;
          }
          examples.push({ path: '/' + f.path, languageId, receiver: a.receiver, member: a.member, dotEnd: a.dotEnd, memberEnd: a.memberEnd, legal });
          count[lang]++;
        }
        ws.close('/' + f.path);
      }
    } finally {
      ws.dispose();
    }
  }
  if (falseMaskSamples.length > 0) console.error(`false masks (first ${falseMaskSamples.length}):\n  ${falseMaskSamples.join('\n  ')}`);
  return { examples, stats };
}

const IDENT = /^[A-Za-z_$#][\w$]*/;





/** One way of completing: prompt layout, token healing, monitors. */
interface Variant {
  name: string;
  layout: FimLayout;
  healing: boolean;
  monitors: boolean;
}

const ALL_VARIANTS: Variant[] = [
  { name: 'spm', layout: 'spm', healing: false, monitors: false },
  { name: 'spm+monitors', layout: 'spm', healing: false, monitors: true },
  { name: 'spm+healing', layout: 'spm', healing: true, monitors: false },
  { name: 'spm+healing+monitors', layout: 'spm', healing: true, monitors: true },
  { name: 'psm', layout: 'psm', healing: false, monitors: false },
  { name: 'psm+healing', layout: 'psm', healing: true, monitors: false },
  { name: 'psm+healing+monitors', layout: 'psm', healing: true, monitors: true },
];

/** Paired comparisons reported (b − a): what each technique adds on top of the other. */
const COMPARISONS: [string, string, string][] = [
  ['monitors (with healing, spm)', 'spm+healing', 'spm+healing+monitors'],
  ['healing (spm)', 'spm', 'spm+healing'],
  ['monitors (no healing, spm)', 'spm', 'spm+monitors'],
  ['healing + monitors (spm)', 'spm', 'spm+healing+monitors'],
  ['monitors (with healing, psm)', 'psm+healing', 'psm+healing+monitors'],
  ['healing + monitors (psm)', 'psm', 'psm+healing+monitors'],
  ['spm vs psm (healing + monitors)', 'psm+healing+monitors', 'spm+healing+monitors'],
];

interface Outcome {
  ident: string;
  text: string;
  interventions: number;
  monitorsRan: boolean;
  /** Prompt tokens this request encoded (the cache came from the previous variant's prompt) and the time it took. */
  encodedTokens: number;
  encodeMs: number;
}

interface Row {
  lang: string;
  member: string;
  legal: Set<string>;
  by: Record<string, Outcome>;
}

function variantsFrom(args: string[]): Variant[] {
  const want = flag(args, 'variants');
  if (!want) return ALL_VARIANTS;
  const names = want.split(',');
  const out = ALL_VARIANTS.filter((v) => names.includes(v.name));
  const unknown = names.filter((n) => !ALL_VARIANTS.some((v) => v.name === n));
  if (unknown.length > 0) throw new Error(`unknown variants ${unknown.join(', ')}; known: ${ALL_VARIANTS.map((v) => v.name).join(', ')}`);
  return out;
}

/** Adds every held-out file to a workspace index the way the editor's background indexer does. */
async function indexAll(add: (path: string, text: string) => boolean, index: () => Promise<number>, records: HeldoutRecord[]): Promise<{ taken: number; seconds: number }> {
  const t = performance.now();
  let taken = 0;
  for (const r of records) if (add('/' + r.path, r.text)) taken++;
  await index();
  return { taken, seconds: (performance.now() - t) / 1000 };
}

function docOf(rec: HeldoutRecord, ex: Example): { text: string; line: number; col: number } {
  const text = rec.text.slice(0, ex.dotEnd) + rec.text.slice(ex.memberEnd);
  const before = text.slice(0, ex.dotEnd).split('\n');
  return { text, line: before.length - 1, col: before[before.length - 1].length };
}

/**
 * Next-identifier accuracy: the CompletionService completes each example in every variant
 * (interleaved: the order rotates per example), each layout in a document of its own, after
 * one warm request per document that encodes its prompt.
 */
async function accuracy(modelDir: string, records: HeldoutRecord[], examples: Example[], variants: Variant[], args: string[]): Promise<{ rows: Row[]; taken: number; indexSeconds: number }> {
  const threads = num(args, 'threads', 2);
  const maxTokens = num(args, 'max-tokens', 12);
  // The bench waits for the analysis (the editor would have parsed the document while it was open).
  const maxContextTokens = num(args, 'context', 1024);
  const svc = new CompletionService({ modelDir, threads, maxContextTokens, monitorBudgetMs: 5000 });
  const byPath = new Map(records.map((r) => ['/' + r.path, r]));
  const { taken, seconds } = await indexAll((p, t) => svc.addWorkspaceFile(p, t), () => svc.indexWorkspace(), records);
  await svc.ensureLoaded();
  const rows: Row[] = [];
  const layouts = [...new Set(variants.map((v) => v.layout))];
  try {
    for (const [i, ex] of examples.entries()) {
      const rec = byPath.get(ex.path);
      if (!rec) continue;
      const { text, line, col } = docOf(rec, ex);
      const pathOf = (layout: FimLayout): string => `${ex.path}#${i}-${layout}`;
      for (const layout of layouts) {
        svc.open(pathOf(layout), text, ex.languageId);
        await svc.complete({ path: pathOf(layout), line, col, maxTokens: 1, options: { mode: 'line', monitors: false, tokenHealing: false, promptLayout: layout, completionCache: false } });
      }
      const by: Record<string, Outcome> = {};
      const order = variants.map((_, k) => variants[(k + i) % variants.length]);
      for (const v of order) {
        const r = await svc.complete({
          path: pathOf(v.layout),
          line,
          col,
          maxTokens,
          options: { mode: 'line', monitors: v.monitors, tokenHealing: v.healing, promptLayout: v.layout, completionCache: false },
        });
        by[v.name] = {
          ident: IDENT.exec(r.completion)?.[0] ?? '',
          text: r.completion,
          interventions: r.monitorInterventions ?? 0,
          monitorsRan: r.monitorInterventions !== undefined,
          encodedTokens: r.encodedTokens,
          encodeMs: r.timings.encodeMs,
        };
      }
      for (const layout of layouts) svc.close(pathOf(layout));
      if ((i + 1) % 10 === 0) console.error(`monitors bench: ${i + 1}/${examples.length} examples`);
      rows.push({ lang: analysisLangFor(languageIdToGrammar(ex.languageId)) ?? ex.languageId, member: ex.member, legal: ex.legal, by });
    }
  } finally {
    await svc.shutdown();
  }
  return { rows, taken, indexSeconds: seconds };
}

function summarize(rs: Row[], variants: Variant[]): Record<string, unknown> {
  const em = (r: Row, v: string): number => (r.by[v].ident === r.member ? 1 : 0);
  const bad = (r: Row, v: string): number => (r.by[v].ident !== '' && !r.legal.has(r.by[v].ident) ? 1 : 0);
  const rate = (xs: Row[], f: (r: Row) => number): number => xs.reduce((a, r) => a + f(r), 0) / Math.max(1, xs.length);
  const perVariant: Record<string, unknown> = {};
  for (const v of variants) {
    perVariant[v.name] = {
      nextIdentifierMatch: r3(rate(rs, (r) => em(r, v.name))),
      nonExistentIdentifierRate: r3(rate(rs, (r) => bad(r, v.name))),
      emptyRate: r3(rate(rs, (r) => (r.by[v.name].ident === '' ? 1 : 0))),
      // The PIE cost of switching to this variant's prompt from the previous variant's (healing adds or removes one token).
      encodedTokensMedian: median(rs.map((r) => r.by[v.name].encodedTokens)),
      encodedTokensMax: Math.max(0, ...rs.map((r) => r.by[v.name].encodedTokens)),
      encodeMsMedian: r3(median(rs.map((r) => r.by[v.name].encodeMs))),
      ...(v.monitors ? { examplesWithIntervention: rs.filter((r) => r.by[v.name].interventions > 0).length, examplesWhereMonitorsRan: rs.filter((r) => r.by[v.name].monitorsRan).length } : {}),
    };
  }
  const have = new Set(variants.map((v) => v.name));
  const comparisons: Record<string, unknown> = {};
  for (const [label, a, b] of COMPARISONS) {
    if (!have.has(a) || !have.has(b)) continue;
    const reduction = (xs: Row[]): number => {
      const base = rate(xs, (r) => bad(r, a));
      return base > 0 ? 1 - rate(xs, (r) => bad(r, b)) / base : Number.NaN;
    };
    comparisons[label] = {
      from: a,
      to: b,
      nextIdentifierMatchDeltaPoints: meanCi(rs.map((r) => 100 * (em(r, b) - em(r, a)))),
      nonExistentIdentifierRate: { from: r3(rate(rs, (r) => bad(r, a))), to: r3(rate(rs, (r) => bad(r, b))), relativeReduction: r3(reduction(rs)), relativeReductionCi95: bootstrap(rs, reduction) },
      examplesChanged: rs.filter((r) => r.by[a].text !== r.by[b].text).length,
    };
  }
  return { examples: rs.length, variants: perVariant, comparisons };
}

interface OverheadSample {
  lang: string;
  /** Generation ms per decode step (all choices and forwards / forwards), without and with monitors (healing on in both). */
  baseMs: number;
  monMs: number;
  /** Masking ms per token inside the monitored runs. */
  maskMs: number;
  constrainedShare: number;
}

/**
 * Per-token decode overhead of the monitors, measured on runs that generate exactly `tokens`
 * tokens (end and control tokens masked, only the token limit stops), so every example
 * contributes many decode steps. Per example: the service's own prompt (spm, healed) and
 * processors, A B B A (fresh monitors per run, as per request in the service); the
 * statistic is the median over examples of the paired ratio (ms/token with) / (ms/token without).
 */
async function overhead(modelDir: string, records: HeldoutRecord[], examples: Example[], args: string[]): Promise<Record<string, unknown>> {
  const tokens = num(args, 'overhead-tokens', 24);
  const threads = num(args, 'threads', 2);
  const ckpt = await loadCheckpoint(modelDir);
  const model = await Model.load(ckpt, { threads });
  const tokenizer = ckpt.tokenizer;
  const monitoring = new Monitoring();
  await indexAll((p, t) => monitoring.addWorkspaceFile(p, t), () => monitoring.indexWorkspace(), records);
  const byPath = new Map(records.map((r) => ['/' + r.path, r]));
  const silent = [...tokenizer.eosIds, ...controlTokenIds(tokenizer)];
  const noStop: LogitsProcessor = (logits) => {
    for (const id of silent) logits[id] = Number.NEGATIVE_INFINITY;
  };
  const config = generationConfig(tokenizer, { maxNewTokens: tokens, mode: 'block' });
  const samples: OverheadSample[] = [];
  const signal = new AbortController().signal;
  try {
    for (const [i, ex] of examples.entries()) {
      const rec = byPath.get(ex.path);
      if (!rec) continue;
      const { text, line, col } = docOf(rec, ex);
      const path = `${ex.path}#o${i}`;
      monitoring.open(path, text, ex.languageId);
      const session = new DocumentSession(path, text, model, tokenizer, ex.languageId);
      const cursor = session.offsetAt(line, col);
      const linePrefix = text.slice(session.lines.starts[line], cursor);
      const tail = healingTail(tokenizer, linePrefix);
      const update = await session.update(cursor, {
        updater: pieUpdate,
        budget: { ...DEFAULT_PROMPT_BUDGET, maxContextTokens: num(args, 'context', 1024), reserveTokens: tokens },
        hide: tail.length,
        layout: 'spm',
      });
      const once = async (withMonitors: boolean): Promise<{ ms: number; maskMs: number; constrained: number }> => {
        const mon = withMonitors ? await monitoring.monitorsFor(path, text, cursor - tail.length, tokenizer, signal) : null;
        const processors: LogitsProcessor[] = [banIdsFrom(tokenizer.size), noStop];
        if (tail !== '') processors.push(healingProcessor(tokenizer, tail));
        if (mon) processors.push(mon.processor);
        // From before the first choice (whose masks build the monitors' name tries) to the end.
        const t = performance.now();
        const gen = await generate(model, session.cache, Float32Array.from(update.logits), config, { tokenizer, processors, criteria: [stopAtMaxTokens(tokens)] });
        const ms = (performance.now() - t) / Math.max(1, gen.forwards);
        return { ms, maskMs: mon ? mon.stats.ms / Math.max(1, mon.stats.steps) : 0, constrained: mon ? mon.stats.constrained / Math.max(1, mon.stats.steps) : 0 };
      };
      const a1 = await once(false);
      const b1 = await once(true);
      const b2 = await once(true);
      const a2 = await once(false);
      monitoring.close(path);
      session.dispose();
      samples.push({
        lang: analysisLangFor(languageIdToGrammar(ex.languageId)) ?? ex.languageId,
        baseMs: (a1.ms + a2.ms) / 2,
        monMs: (b1.ms + b2.ms) / 2,
        maskMs: (b1.maskMs + b2.maskMs) / 2,
        constrainedShare: (b1.constrained + b2.constrained) / 2,
      });
      if ((i + 1) % 20 === 0) console.error(`monitors bench: overhead ${i + 1}/${examples.length}`);
    }
  } finally {
    monitoring.dispose();
    await model.dispose();
  }
  const ratio = samples.map((s) => s.monMs / s.baseMs - 1);
  const byLang: Record<string, unknown> = {};
  for (const lang of [...new Set(samples.map((s) => s.lang))].sort()) {
    const ss = samples.filter((s) => s.lang === lang);
    byLang[lang] = { examples: ss.length, overheadMedian: r3(median(ss.map((s) => s.monMs / s.baseMs - 1))), maskMsPerTokenMedian: r3(median(ss.map((s) => s.maskMs))) };
  }
  return {
    forcedTokens: tokens,
    examples: samples.length,
    decodeMsPerTokenMedian: { without: r3(median(samples.map((s) => s.baseMs))), with: r3(median(samples.map((s) => s.monMs))) },
    /** Median over examples of (ms/step with monitors) / (ms/step without) − 1, paired, A B B A; a step = one forward + one choice, the first choice included. */
    overheadMedian: r3(median(ratio)),
    overheadP10: r3(p10(ratio)),
    overheadP90: r3(p90(ratio)),
    /** Time inside the monitors' processor per decoded token (measured in the monitored runs). */
    maskMsPerTokenMedian: r3(median(samples.map((s) => s.maskMs))),
    /** Median over examples of that time / the monitored run's ms per step: the masking cost measured directly. */
    maskShareMedian: r3(median(samples.map((s) => s.maskMs / s.monMs))),
    maskShareP90: r3(p90(samples.map((s) => s.maskMs / s.monMs))),
    maskMsPerTokenP90: r3(p90(samples.map((s) => s.maskMs))),
    /** Share of decoded positions where some monitor applied a mask. */
    constrainedShareMedian: r3(median(samples.map((s) => s.constrainedShare))),
    byLanguage: byLang,
  };
}

interface LineStartExample {
  path: string;
  text: string;
  /** Offset after the indentation of the line. */
  cursor: number;
  truth: string;
  lang: string;
}

/** Cursors after the indentation of non-blank, indented lines (the middle line of every 9th file per language). */
function lineStartExamples(records: HeldoutRecord[], perLang: number): LineStartExample[] {
  const out: LineStartExample[] = [];
  const count = new Map<string, number>();
  for (const [k, r] of records.entries()) {
    const languageId = languageIdForPath(r.path);
    const grammar = languageId ? grammarForLanguageId(languageId) : undefined;
    const lang = grammar ? analysisLangFor(grammar.name) : null;
    if (!lang || k % 9 !== 0 || (count.get(lang) ?? 0) >= perLang) continue;
    const lines = r.text.split('\n');
    const cands = lines.map((l, i) => ({ l, i })).filter(({ l }) => /^[ \t]+\S/.test(l) && l.trim().length >= 6);
    if (cands.length === 0) continue;
    const { l, i } = cands[Math.floor(cands.length / 2)];
    const indent = l.length - l.trimStart().length;
    const cursor = lines.slice(0, i).reduce((n, x) => n + x.length + 1, 0) + indent;
    out.push({ path: '/' + r.path, text: r.text, cursor, truth: l.trim(), lang });
    count.set(lang, (count.get(lang) ?? 0) + 1);
  }
  return out;
}

/**
 * Whitespace healing, measured before deciding the rule: next-line exact match at line starts
 * (cursor after the indentation, whose last token is whitespace that the model would normally
 * write together with the first word: `       ` + ` def`), with and without backing off the
 * whitespace token, both layouts, interleaved.
 */
async function lineStarts(modelDir: string, records: HeldoutRecord[], args: string[]): Promise<Record<string, unknown>> {
  const perLang = num(args, 'line-starts', 30);
  const exs = lineStartExamples(records, perLang);
  const threads = num(args, 'threads', 2);
  const ckpt = await loadCheckpoint(modelDir);
  const model = await Model.load(ckpt, { threads });
  const tokenizer = ckpt.tokenizer;
  const hits: Record<string, number[]> = {};
  let healed = 0;
  try {
    for (const [i, ex] of exs.entries()) {
      const lineStart = ex.text.lastIndexOf('\n', ex.cursor - 1) + 1;
      const tail = healingTail(tokenizer, ex.text.slice(lineStart, ex.cursor), { whitespace: true });
      if (tail !== '' && tail.trim() === '') healed++;
      for (const layout of ['psm', 'spm'] as const) {
        const session = new DocumentSession(ex.path, ex.text, model, tokenizer);
        try {
          const order = i % 2 === 0 ? [false, true] : [true, false];
          for (const heal of order) {
            const t = heal && tail.trim() === '' ? tail : '';
            const update = await session.update(ex.cursor, { updater: pieUpdate, budget: { ...DEFAULT_PROMPT_BUDGET, maxContextTokens: num(args, 'context', 1024), reserveTokens: 24 }, hide: t.length, layout });
            const config = generationConfig(tokenizer, { maxNewTokens: 24, mode: 'line' });
            const processors: LogitsProcessor[] = [banIdsFrom(tokenizer.size)];
            if (t !== '') processors.push(healingProcessor(tokenizer, t));
            const gen = await generate(model, session.cache, update.logits, config, { tokenizer, processors, criteria: afterTail(stoppingCriteria(config), t) });
            const got = stripTail(gen.text, t).trim().split('\n')[0].trim();
            (hits[`${layout}${heal ? '+whitespaceHealing' : ''}`] ??= []).push(got === ex.truth ? 1 : 0);
          }
        } finally {
          session.dispose();
        }
      }
    }
  } finally {
    await model.dispose();
  }
  const rate = (xs: number[]): number => r3(xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length));
  const delta = (a: string, b: string): unknown => meanCi((hits[b] ?? []).map((x, k) => 100 * (x - (hits[a] ?? [])[k])));
  return {
    examples: exs.length,
    whitespaceTailHealed: healed,
    nextLineExactMatch: Object.fromEntries(Object.entries(hits).map(([k, v]) => [k, rate(v)])),
    deltaPoints: { psm: delta('psm', 'psm+whitespaceHealing'), spm: delta('spm', 'spm+whitespaceHealing') },
  };
}

async function withModel(modelDir: string, records: HeldoutRecord[], examples: Example[], args: string[]): Promise<object> {
  const variants = variantsFrom(args);
  const { rows, taken, indexSeconds } = await accuracy(modelDir, records, examples, variants, args);
  const byLang: Record<string, unknown> = {};
  for (const lang of [...new Set(rows.map((r) => r.lang))].sort()) byLang[lang] = summarize(rows.filter((r) => r.lang === lang), variants);
  const changedSamples = rows
    .filter((r) => r.by['spm+healing'] && r.by['spm+healing+monitors'] && r.by['spm+healing'].ident !== r.by['spm+healing+monitors'].ident)
    .slice(0, 12)
    .map((r) => ({ lang: r.lang, member: r.member, withoutMonitors: r.by['spm+healing'].text, withMonitors: r.by['spm+healing+monitors'].text }));
  const overheadExamples = sample(examples, num(args, 'overhead-examples', 60));
  const perToken = overheadExamples.length > 0 ? await overhead(modelDir, records, overheadExamples, args) : 'skipped';
  const lines = num(args, 'line-starts', 30) > 0 ? await lineStarts(modelDir, records, args) : 'skipped';
  return {
    threads: num(args, 'threads', 2),
    maxTokens: num(args, 'max-tokens', 12),
    maxContextTokens: num(args, 'context', 1024),
    workspaceFilesIndexed: taken,
    indexSeconds: r3(indexSeconds),
    ...summarize(rows, variants),
    byLanguage: byLang,
    perToken,
    lineStartWhitespaceHealing: lines,
    changedSamples,
  };
}

function languageIdToGrammar(languageId: string): string {
  return grammarForLanguageId(languageId)?.name ?? languageId;
}

export async function run(argv: string[]): Promise<object> {
  const quick = argv.includes('--quick');
  // --quick only changes defaults; flags given explicitly still win.
  const args = argv.filter((a) => a !== '--quick');
  const quickDefaults: Record<string, string> = { 'per-lang': '5', 'overhead-examples': '8', 'line-starts': '3' };
  if (quick) for (const [k, v] of Object.entries(quickDefaults)) if (!args.includes(`--${k}`)) args.push(`--${k}`, v);
  const root = resolve(__dirname, '../..');
  const dataDir = resolve(flag(args, 'data') ?? join(root, 'bench/data/heldout'));
  const records = readHeldout(dataDir);
  const perLang = num(args, 'per-lang', 40);
  const perFile = num(args, 'per-file', 12);
  const t0 = performance.now();
  const { examples, stats } = await collect(records, perLang, perFile);
  const byLang: Record<string, number> = {};
  for (const e of examples) byLang[e.languageId] = (byLang[e.languageId] ?? 0) + 1;
  const report: Record<string, unknown> = {
    data: dataDir,
    records: records.length,
    quick,
    analysis: {
      files: stats.files,
      memberAccesses: stats.accesses,
      receiverResolvedRate: r3(stats.resolved / Math.max(1, stats.accesses)),
      /** Resolved receivers whose legal set lacked the true member: the monitor would have masked a correct name. */
      falseMaskRate: r3(stats.falseMasks / Math.max(1, stats.resolved)),
      meanLegalSetSize: r3(stats.legalSetSizeSum / Math.max(1, stats.resolved)),
      meanAnalysisMsPerAccess: r3(stats.analysisMsSum / Math.max(1, stats.accesses)),
      examples: examples.length,
      examplesByLanguage: byLang,
      seconds: r3((performance.now() - t0) / 1000),
    },
  };
  const modelDir = flag(args, 'model') ?? (existsSync(join(root, 'models/default/config.json')) ? join(root, 'models/default') : undefined);
  const modelExamples = num(args, 'model-examples', 3 * perLang);
  if (modelDir) report.model = { dir: modelDir, ...(await withModel(modelDir, records, sample(examples, modelExamples), args)) };
  else report.model = 'skipped: no model (pass --model DIR or add models/default)';
  const out = resolve(flag(args, 'out') ?? join(root, 'bench/out/monitors.json'));
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  return report;
}
