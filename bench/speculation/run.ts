// Lossless speculative decoding: tokens/s of every drafter against plain greedy decoding on the
// same prompts, with every output checked against greedy's.
//
//   slipstream bench speculation [--quick] [--model DIR] [--per-lang N] [--edits-per-lang N]
//                                [--warmup N] [--context N] [--seed N] [--threads N] [--out FILE]
//                                [--layout psm|spm] [--no-token-healing] [--no-monitors]
//
// Defaults are the committed run (bench/results/speculation.{json,md}); --quick is a smoke run
// written to bench/out/speculation-quick.{json,md}.
//
// Parts:
//  qLatency  one forward of q rows (a draft-tree-shaped bias, logits for every row) at a 512 and
//            a 2048 context (past 1920), q = 1…64, interleaved rounds, medians; plus the JS work
//            around a verification forward (bias, embeddings, matrix update) per q.
//  completion  requests at random places in held-out files (bench/data/heldout: Python, C/C++,
//            TypeScript/JavaScript): the cursor at the start of a random line, that line and
//            the next 0–10 deleted (code not written yet), FIM prompt of the document (up to
//            --context tokens, as the editor builds it), maxTokens uniform in 16…128.
//  edit      copy-friendly requests: a block of 6–40 lines duplicated below itself, either
//            verbatim ("duplicate") or with one of its identifiers renamed in the copy
//            ("rename"), the first 1–6 lines of the copy typed, the cursor at the start of the
//            next line, the rest of the copy not written yet; or ("sibling") a definition
//            (its head line names a function, method or type) duplicated with only its name
//            changed in the head line, which is all that is typed: the user starts a sibling
//            of the definition above and asks for its body. maxTokens uniform in 16…128;
//            the three kinds equally likely.
//
// Stopping (honest note): requests stop at maxTokens or at an end/control token (the model
// saying the middle is done); the line and block rules are off, because they end most
// requests within a line or two and would measure nothing about decode speed. The default
// model ends the middle at once (<|endoftext|> first) at about half of all line starts, and
// far more often mid-line (measured while building this bench: 11/20 at line starts, 17/20
// mid-line, Python); such requests decode nothing. So every candidate request is screened by
// a greedy run of 16 tokens (not timed), and only those that reach 16 tokens are measured, up
// to N per language; the report says how many candidates were screened out.
//
// Product path: every request is decoded as the CompletionService decodes it, apart from the
// stopping rules above: the prompt layout the model declares (generation_config.json; spm for
// the embedded model), token healing (requestHealingTail: the prompt stops before the cursor
// line's last token, which the model writes again under healingProcessor; the criteria judge
// the text after it) and the monitors on (their analysis awaited, i.e. ready as in an editor
// where the document was opened before the request; a fresh Monitors per variant, untimed).
// --layout / --no-token-healing / --no-monitors are for comparison runs only.
//
// Per request the prompt is encoded once; then greedy and every drafter decode from the same
// cache in a rotating order (interleaved), each timed from the first token's logits to the
// end. Ratio = greedy ms / drafter ms (outputs are equal, so this is the tokens/s ratio).
// Headline: median of per-request ratios. The recycling matrix and the acceptance rates start
// empty and warm up on --warmup requests first (in the editor they persist per workspace).

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { loadCheckpoint } from '../../src/engine/checkpoint';
import { Model } from '../../src/engine/model';
import type { TokenizerLike } from '../../src/engine/types';
import type { FimLayout } from '../../src/engine/types';
import { DocumentSession, fullReencode } from '../../src/completion/documentSession';
import { Monitoring } from '../../src/completion/monitoring';
import { DEFAULT_PROMPT_BUDGET } from '../../src/completion/prompt';
import { requestHealingTail } from '../../src/completion/service';
import type { LogitsProcessor } from '../../src/decoding/logitsProcessors';
import { afterTail, healingProcessor, stripTail } from '../../src/decoding/tokenHealing';
import { generate, type GenerationResult } from '../../src/decoding/generate';
import { generationConfig } from '../../src/decoding/generationConfig';
import { banIdsFrom } from '../../src/decoding/logitsProcessors';
import { argmax } from '../../src/decoding/sampling';
import { stopAtControlTokens, stopAtEos, stopAtMaxTokens } from '../../src/decoding/stopping';
import { DraftTree, Speculation, speculativeGenerate, type DrafterKind, type SpeculationOptions, type SpeculativeResult } from '../../src/decoding/speculation/index';
import { DEFAULT_FORWARD_MS } from '../../src/decoding/speculation/planner';
import { AdjacencyMatrix, RecyclingSource } from '../../src/decoding/speculation/recycling';
import { mulberry32 } from '../../test/fixtures/tinyModel';
import { flag, num } from '../args';

const ROOT = resolve(__dirname, '..', '..');
export const LANGS = ['python', 'c', 'typescript'] as const;
export type Lang = (typeof LANGS)[number];
/** Variants measured against greedy: the shipped drafters, then design-choice rows (name → drafter kind + options). */
const VARIANTS: Record<string, { kind: DrafterKind; options?: SpeculationOptions }> = {
  copyspec: { kind: 'copyspec' },
  recycling: { kind: 'recycling' },
  auto: { kind: 'auto' },
  'prompt-lookup': { kind: 'prompt-lookup' },
  /** The previous copy-draft cap (16 tokens) against the shipped one (32): do longer copy chains pay? */
  'auto (copy ≤ 16)': { kind: 'auto', options: { copy: { maxTokens: 16 } } },
};
const DRAFTERS = Object.keys(VARIANTS);
const QS = DEFAULT_FORWARD_MS.qs;

export interface HeldoutRecord {
  path: string;
  text: string;
}

export interface Request {
  workload: 'completion' | 'edit';
  kind: string;
  lang: Lang;
  path: string;
  doc: string;
  cursor: number;
  maxTokens: number;
  /** Edits: the rest of the copy (what a faithful copy would write next). */
  expected?: string;
}

interface Row {
  workload: string;
  kind: string;
  lang: string;
  path: string;
  promptTokens: number;
  maxTokens: number;
  tokens: number;
  stop: string;
  greedyMs: number;
  /** Token healing's tail ('' = none) and whether the monitors applied. */
  healedTail: string;
  monitors: boolean;
  /** Edits: characters of greedy's text that follow the expected copy before the first difference, and the text's length. */
  copiedChars?: number;
  textChars?: number;
  /** Per drafter: ms, ratio, tokens per forward, rows per forward, draft share, output equal. */
  drafters: Record<string, { ms: number; ratio: number; tokensPerForward: number; rowsPerForward: number; draftShare: number; forwards: number; equal: boolean; firstDifference?: { index: number; greedy: number; got: number } }>;
}

function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

const r2 = (x: number): number => Math.round(x * 100) / 100;
const r3 = (x: number): number => Math.round(x * 1000) / 1000;

export function readHeldout(lang: Lang): HeldoutRecord[] {
  const file = join(ROOT, 'bench', 'data', 'heldout', `${lang}.jsonl.gz`);
  if (!existsSync(file)) return [];
  return gunzipSync(readFileSync(file))
    .toString('utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as HeldoutRecord)
    .filter((r) => typeof r.text === 'string' && r.text.split('\n').length >= 30);
}

const indentOf = (s: string): number => s.length - s.trimStart().length;

/** A completion request: cursor at the start of a random line, that line and the next 0–10 deleted (code not written yet). */
export function completionRequest(lang: Lang, rec: HeldoutRecord, rnd: () => number): Request | null {
  const lines = rec.text.split('\n');
  for (let attempt = 0; attempt < 20; attempt++) {
    const i = 8 + Math.floor(rnd() * (lines.length - 16));
    if (lines[i].trim().length < 4) continue;
    const hole = 1 + Math.floor(rnd() * 11);
    const before = `${lines.slice(0, i).join('\n')}\n`;
    const after = lines.slice(i + hole).join('\n');
    return { workload: 'completion', kind: 'completion', lang, path: rec.path, doc: before + after, cursor: before.length, maxTokens: 16 + Math.floor(rnd() * 113) };
  }
  return null;
}

const KEYWORDS = new Set(
  'self this return const let var function class def import from include define struct static void int char long unsigned if else for while elif none None True False null true false typedef'.split(' '),
);

/** An edit request: a block duplicated below itself (verbatim or with an identifier renamed), partly typed. */
export type EditKind = 'duplicate' | 'rename' | 'sibling';
const EDIT_KINDS: readonly EditKind[] = ['duplicate', 'rename', 'sibling'];

/**
 * The name a definition's head line introduces, or null: `def` / `class` / `function` /
 * `struct` … NAME, or a signature (C, C++, TS methods): no assignment, no control keyword, ends
 * opening a body or a parameter list, the name being the last identifier before a `(`.
 */
export function definedName(head: string): string | null {
  const keyword = /^\s*(?:export\s+)?(?:async\s+)?(?:def|class|function\*?|struct|enum|interface|type)\s+([A-Za-z_$][\w$]*)/.exec(head);
  if (keyword) return keyword[1];
  if (/^\s*(?:if|for|while|switch|return|catch|else|elif|with|do|case|new|await|yield|throw|#)\b/.test(head) || /[=;]|=>/.test(head) || !/[{(,:]\s*$/.test(head)) return null;
  const calls = [...head.matchAll(/([A-Za-z_$][\w$]*)\s*\(/g)];
  const last = calls[calls.length - 1];
  if (!last || last.index === undefined) return null;
  const name = last[1];
  const lead = head.slice(0, last.index);
  // Not a call (`obj.f(`, `"key": f(`, `f(` alone opening its arguments): a body opens, or a type precedes the name.
  if (/[.'"]\s*$/.test(lead) || /['"]/.test(lead)) return null;
  if (!/\{\s*$/.test(head) && !/[\w*&>]\s+\**$/.test(lead)) return null;
  return !KEYWORDS.has(name) && !/^(if|for|while|switch|sizeof|catch|return)$/.test(name) ? name : null;
}

/** Where in the head line the defined name ends its search: after the keyword form's name, or at the last `name(`. */
function kindOfHead(head: string, name: string): number {
  const call = head.lastIndexOf(`${name}(`);
  return call >= 0 ? call : head.length;
}

export function editRequest(lang: Lang, rec: HeldoutRecord, rnd: () => number, kind: EditKind): Request | null {
  const lines = rec.text.split('\n');
  for (let attempt = 0; attempt < 60; attempt++) {
    const i = Math.floor(rnd() * (lines.length - 8));
    const head = lines[i];
    if (head.trim().length < 6) continue;
    const ind = indentOf(head);
    let j = i + 1;
    while (j < lines.length && (lines[j].trim() === '' || indentOf(lines[j]) > ind)) j++;
    // Include a closing line at the head's indentation (`}` / `end`) when there is one.
    if (j < lines.length && /^\s*[}\])]/.test(lines[j]) && indentOf(lines[j]) === ind) j++;
    while (j > i + 1 && lines[j - 1].trim() === '') j--;
    const len = j - i;
    if (len < 6 || len > 40) continue;
    let block = lines.slice(i, j);
    if (kind === 'sibling') {
      const name = definedName(head);
      if (!name) continue;
      const renamed = `${name}2`;
      const at = head.lastIndexOf(name, kindOfHead(head, name));
      const before = [...lines.slice(0, j), '', head.slice(0, at) + renamed + head.slice(at + name.length)].join('\n') + '\n';
      return { workload: 'edit', kind, lang, path: rec.path, doc: before + lines.slice(j).join('\n'), cursor: before.length, maxTokens: 16 + Math.floor(rnd() * 113), expected: block.slice(1).join('\n') };
    }
    if (kind === 'rename') {
      const counts = new Map<string, number>();
      for (const m of block.join('\n').matchAll(/\b[A-Za-z_][A-Za-z0-9_]{2,}\b/g)) if (!KEYWORDS.has(m[0])) counts.set(m[0], (counts.get(m[0]) ?? 0) + 1);
      const names = [...counts.entries()].filter(([, c]) => c >= 3).map(([n]) => n);
      if (names.length === 0) continue;
      const name = names[Math.floor(rnd() * names.length)];
      const renamed = `${name}2`;
      block = block.map((l) => l.replace(new RegExp(`\\b${name}\\b`, 'g'), renamed));
    }
    const typed = 1 + Math.floor(rnd() * Math.min(6, len - 3));
    const before = [...lines.slice(0, j), '', ...block.slice(0, typed)].join('\n') + '\n';
    const after = lines.slice(j).join('\n');
    return { workload: 'edit', kind, lang, path: rec.path, doc: before + after, cursor: before.length, maxTokens: 16 + Math.floor(rnd() * 113), expected: block.slice(typed).join('\n') };
  }
  return null;
}

function sameOutput(a: GenerationResult, b: GenerationResult): boolean {
  return a.text === b.text && a.stop === b.stop && a.tokens.length === b.tokens.length && a.tokens.every((t, i) => t === b.tokens[i]);
}

/** Forward latency by rows, with a tree bias and logits for every row, interleaved; plus the JS work per verification. */
async function qLatency(model: Model, tokenizer: TokenizerLike, rounds: number, log: (s: string) => void): Promise<object> {
  const V = model.config.vocabSize;
  const out: Record<string, unknown> = {};
  const rnd = mulberry32(99);
  const text = readHeldout('python')
    .map((r) => r.text)
    .join('\n');
  const ids = tokenizer.encode(text.slice(0, 40000));
  for (const past of [512, 1920]) {
    const cache = model.createCache();
    const prefix = ids.slice(0, past);
    const pre = await model.forward(cache, { embeds: model.embed(prefix), positions: prefix.map((_, i) => i) });
    cache.append(pre.newKeys, pre.newValues, prefix, prefix.map((_, i) => i));
    // A recycling-shaped tree per q: wide near the root, thinning with depth.
    const trees = new Map<number, DraftTree>();
    for (const q of QS) {
      const t = new DraftTree(ids[past]);
      while (t.size < q) {
        const parent = Math.floor(Math.pow(rnd(), 2) * t.size);
        if (t.depths[parent] >= 7) continue;
        t.add(parent, Math.floor(rnd() * tokenizer.size), 0.1);
      }
      trees.set(q, t);
    }
    const times = new Map<number, number[]>(QS.map((q) => [q, []]));
    const js = new Map<number, number[]>(QS.map((q) => [q, []]));
    const matrix = new AdjacencyMatrix(tokenizer.size);
    const recycling = new RecyclingSource(matrix, { limit: tokenizer.size });
    for (let round = 0; round < rounds; round++) {
      const order = [...QS].sort(() => rnd() - 0.5);
      for (const q of order) {
        const tree = trees.get(q) as DraftTree;
        const t0 = performance.now();
        const bias = q > 1 ? tree.bias(cache.length) : undefined;
        const embeds = model.embed(tree.tokens);
        const t1 = performance.now();
        const res = await model.forward(cache, { embeds, positions: tree.positions(past), bias, logitRows: 'all' });
        const t2 = performance.now();
        recycling.observeLogits(tree, res.logits, V);
        for (let i = 0; i < Math.min(q, 4); i++) argmax(res.logits.subarray(i * V, (i + 1) * V));
        const t3 = performance.now();
        (times.get(q) as number[]).push(t2 - t0);
        (js.get(q) as number[]).push(t1 - t0 + (t3 - t2));
      }
    }
    const base = median(times.get(1) as number[]);
    out[`past${past}`] = Object.fromEntries(
      QS.map((q) => {
        const m = median(times.get(q) as number[]);
        return [`q${q}`, { ms: r2(m), vsQ1: r2(m / base), perRowMs: r3(m / q), jsMs: r3(median(js.get(q) as number[])) }];
      }),
    );
    log(`qLatency past ${past}: ${QS.map((q) => `${q}:${r2(median(times.get(q) as number[]))}`).join(' ')} ms`);
  }
  return out;
}

export async function run(args: string[]): Promise<object> {
  const quick = args.includes('--quick');
  const seed = num(args, 'seed', 11);
  const perLang = num(args, 'per-lang', quick ? 2 : 30);
  const editsPerLang = num(args, 'edits-per-lang', quick ? 2 : 16);
  const warmup = num(args, 'warmup', quick ? 2 : 12);
  const context = num(args, 'context', 2048);
  const rounds = num(args, 'q-rounds', quick ? 3 : 15);
  const modelDir = resolve(flag(args, 'model') ?? join(ROOT, 'models', 'default'));
  const outFile = resolve(flag(args, 'out') ?? (quick ? join(ROOT, 'bench', 'out', 'speculation-quick.json') : join(ROOT, 'bench', 'results', 'speculation.json')));
  const log = (s: string): void => console.error(s);
  const started = Date.now();

  const ckpt = await loadCheckpoint(modelDir);
  const model = await Model.load(ckpt, { threads: num(args, 'threads', 2) });
  const tokenizer = ckpt.tokenizer;
  const layoutFlag = flag(args, 'layout');
  if (layoutFlag !== undefined && layoutFlag !== 'psm' && layoutFlag !== 'spm') throw new Error(`--layout takes psm or spm, got ${JSON.stringify(layoutFlag)}`);
  const layout: FimLayout = (layoutFlag as FimLayout | undefined) ?? ckpt.fimLayout ?? 'psm';
  const healing = !args.includes('--no-token-healing');
  const useMonitors = !args.includes('--no-monitors');
  const monitoring = new Monitoring({}, (m) => log(`monitors: ${m}`));
  const signal = new AbortController().signal;
  try {
    const qLat = await qLatency(model, tokenizer, rounds, log);

    // Requests: warm-up first (other files), then completion and edit requests, languages interleaved.
    const rnd = mulberry32(seed);
    const files = Object.fromEntries(LANGS.map((l) => [l, readHeldout(l)])) as Record<Lang, HeldoutRecord[]>;
    const pick = (l: Lang): HeldoutRecord => files[l][Math.floor(rnd() * files[l].length)];
    const make = (n: number, f: (l: Lang) => Request | null): Request[] => {
      const out: Request[] = [];
      for (let k = 0; k < n; k++) {
        for (const l of LANGS) {
          if (files[l].length === 0) continue;
          for (let tries = 0; tries < 10; tries++) {
            const r = f(l);
            if (r) {
              out.push(r);
              break;
            }
          }
        }
      }
      return out;
    };
    const warm = make(Math.ceil((3 * warmup) / LANGS.length), (l) => completionRequest(l, pick(l), rnd));
    const completion = make(perLang * 4, (l) => completionRequest(l, pick(l), rnd));
    const edits = make(editsPerLang * 4, (l) => editRequest(l, pick(l), rnd, EDIT_KINDS[Math.floor(rnd() * EDIT_KINDS.length)]));
    const wanted = (r: Request): number => (r.workload === 'completion' ? perLang : editsPerLang);

    // One Speculation per drafter: each learns (matrix, acceptance rates, throughput) only from its own forwards, as in a session that uses it.
    const specs = new Map(DRAFTERS.map((d) => [d, new Speculation(tokenizer, VARIANTS[d].options)]));
    const processors = [banIdsFrom(tokenizer.size)];
    const rows: Row[] = [];
    const all = [...warm.map((r) => ({ r, measured: false })), ...[...completion, ...edits].map((r) => ({ r, measured: true }))];
    const taken = new Map<string, number>();
    const screened = { completion: 0, edit: 0 };
    let n = -1;
    for (const { r, measured } of all) {
      const key = measured ? `${r.workload}/${r.lang}` : 'warmup';
      if ((taken.get(key) ?? 0) >= (measured ? wanted(r) : warmup)) continue;
      n++;
      const session = new DocumentSession(r.path, r.doc, model, tokenizer);
      const linePrefix = r.doc.slice(r.doc.lastIndexOf('\n', r.cursor - 1) + 1, r.cursor);
      let tail = healing ? requestHealingTail(tokenizer, layout, linePrefix) : '';
      const update = await session.update(r.cursor, { updater: fullReencode, budget: { ...DEFAULT_PROMPT_BUDGET, maxContextTokens: context, reserveTokens: r.maxTokens }, hide: tail.length, layout });
      // As in the service: a window that cannot hide the tail runs without healing and monitors.
      const healedAsPlanned = update.prompt.hidden === tail.length;
      if (!healedAsPlanned) tail = '';
      const monitored = useMonitors && healedAsPlanned;
      if (monitored) monitoring.open(r.path, r.doc);
      let monitorsApplied = false;
      /** A fresh chooser pipeline per variant (the monitors memoise per prefix). */
      const processorsFor = async (): Promise<LogitsProcessor[]> => {
        const ps = [...processors];
        if (tail !== '') ps.push(healingProcessor(tokenizer, tail));
        const m = monitored ? await monitoring.monitorsFor(r.path, r.doc, r.cursor - tail.length, tokenizer, signal) : null;
        if (m) ps.push(m.processor);
        monitorsApplied = m !== null;
        return ps;
      };
      const config = generationConfig(tokenizer, { maxNewTokens: r.maxTokens, mode: 'block' });
      const criteria = afterTail([stopAtEos(config.eosTokenIds), stopAtControlTokens(config.stopTokenIds), stopAtMaxTokens(r.maxTokens)], tail);
      const release = (): void => {
        session.dispose();
        if (monitored) monitoring.close(r.path);
      };
      // Screen: does the model write at least 16 tokens here? (Not timed.)
      const probe = await generate(model, session.cache, update.logits.slice(), config, { tokenizer, processors: await processorsFor(), criteria: afterTail([stopAtEos(config.eosTokenIds), stopAtControlTokens(config.stopTokenIds), stopAtMaxTokens(16)], tail) });
      if (probe.tokens.length < 16) {
        if (measured) screened[r.workload]++;
        release();
        continue;
      }
      taken.set(key, (taken.get(key) ?? 0) + 1);
      const variants = ['greedy', ...DRAFTERS];
      // Rotate which variant runs first.
      const order = variants.map((_, i) => variants[(i + n) % variants.length]);
      const results = new Map<string, { ms: number; out: GenerationResult | SpeculativeResult }>();
      for (const v of order) {
        const ps = await processorsFor();
        const drafter = v === 'greedy' ? undefined : await (specs.get(v) as Speculation).drafter(VARIANTS[v].kind, session);
        const t0 = performance.now();
        const out = drafter
          ? await speculativeGenerate(model, session.cache, update.logits.slice(), config, { tokenizer, processors: ps, criteria, drafter })
          : await generate(model, session.cache, update.logits.slice(), config, { tokenizer, processors: ps, criteria });
        results.set(v, { ms: performance.now() - t0, out });
      }
      release();
      const g = results.get('greedy') as { ms: number; out: GenerationResult };
      const row: Row = {
        workload: measured ? r.workload : 'warmup',
        kind: r.kind,
        lang: r.lang,
        path: r.path,
        promptTokens: update.prompt.tokens.length,
        maxTokens: r.maxTokens,
        tokens: g.out.tokens.length,
        stop: g.out.stop,
        greedyMs: r2(g.ms),
        healedTail: tail,
        monitors: monitorsApplied,
        drafters: {},
      };
      if (r.expected !== undefined) {
        // The completion as the editor would insert it: after the healed tail.
        const text = stripTail(g.out.text, tail);
        let c = 0;
        while (c < text.length && c < r.expected.length && text[c] === r.expected[c]) c++;
        row.copiedChars = c;
        row.textChars = text.length;
      }
      for (const d of DRAFTERS) {
        const x = results.get(d) as { ms: number; out: SpeculativeResult };
        const s = x.out.speculation;
        row.drafters[d] = {
          ms: r2(x.ms),
          ratio: r3(g.ms / x.ms),
          tokensPerForward: r3(s.tokensPerForward),
          rowsPerForward: r3(s.forwards > 0 ? s.rows / s.forwards : 0),
          draftShare: r3(s.draftMs / Math.max(1e-9, x.ms)),
          forwards: s.forwards,
          equal: sameOutput(g.out, x.out),
        };
        if (!row.drafters[d].equal) {
          let i = 0;
          while (i < g.out.tokens.length && g.out.tokens[i] === x.out.tokens[i]) i++;
          row.drafters[d].firstDifference = { index: i, greedy: g.out.tokens[i] ?? -1, got: x.out.tokens[i] ?? -1 };
        }
      }
      rows.push(row);
      if ((n + 1) % 10 === 0) log(`speculation bench: ${rows.length} requests measured, ${screened.completion + screened.edit} screened out (${Math.round((Date.now() - started) / 1000)} s)`);
    }

    const measuredRows = rows.filter((r) => r.workload !== 'warmup');
    const summarize = (rs: Row[]): Record<string, unknown> => {
      const long = rs.filter((r) => r.tokens >= 16);
      const out: Record<string, unknown> = {
        requests: rs.length,
        requestsWith16PlusTokens: long.length,
        meanTokens: r2(rs.reduce((a, r) => a + r.tokens, 0) / Math.max(1, rs.length)),
        stoppedAtEos: rs.filter((r) => r.stop !== 'maxTokens').length,
        greedyMsPerTokenMedian: r2(median(long.map((r) => r.greedyMs / Math.max(1, r.tokens - 1)))),
        healed: rs.filter((r) => r.healedTail !== '').length,
        monitored: rs.filter((r) => r.monitors).length,
      };
      const edits = long.filter((r) => r.textChars !== undefined);
      if (edits.length > 0) {
        /** How far greedy's text follows the copy the user started: median share of its characters before the first difference. */
        out.greedyFollowsCopyMedian = r3(median(edits.map((r) => (r.copiedChars ?? 0) / Math.max(1, r.textChars ?? 1))));
        out.greedyFollowsCopyFully = edits.filter((r) => (r.copiedChars ?? 0) >= 0.9 * (r.textChars ?? 0)).length;
      }
      for (const d of DRAFTERS) {
        const ratios = long.map((r) => r.drafters[d].ratio);
        const forwards = long.reduce((a, r) => a + r.drafters[d].forwards, 0);
        const generated = long.reduce((a, r) => a + r.tokens - 1, 0);
        out[d] = {
          speedupMedian: r2(median(ratios)),
          speedupP25: r2(quantile(ratios, 0.25)),
          speedupP75: r2(quantile(ratios, 0.75)),
          speedupMedianAllRequests: r2(median(rs.filter((r) => r.tokens >= 2).map((r) => r.drafters[d].ratio))),
          /** Tokens per verification forward, pooled over requests (accepted drafts + the bonus token). */
          tokensPerForward: r2(generated / Math.max(1, forwards)),
          tokensPerForwardMedian: r2(median(long.map((r) => r.drafters[d].tokensPerForward))),
          rowsPerForwardMedian: r2(median(long.map((r) => r.drafters[d].rowsPerForward))),
          /** Share of the drafter's decode time spent drafting, planning and updating its state. */
          draftOverheadMedian: r3(median(long.map((r) => r.drafters[d].draftShare))),
          mismatches: rs.filter((r) => !r.drafters[d].equal).length,
        };
      }
      return out;
    };
    const results: Record<string, unknown> = {
      completion: summarize(measuredRows.filter((r) => r.workload === 'completion')),
      edit: summarize(measuredRows.filter((r) => r.workload === 'edit')),
    };
    for (const l of LANGS) results[`completion.${l}`] = summarize(measuredRows.filter((r) => r.workload === 'completion' && r.lang === l));
    for (const k of EDIT_KINDS) results[`edit.${k}`] = summarize(measuredRows.filter((r) => r.workload === 'edit' && r.kind === k));
    const mismatches = Object.fromEntries(DRAFTERS.map((d) => [d, rows.filter((r) => !r.drafters[d].equal).length]));
    const matrix = await (specs.get('auto') as Speculation).adjacency();
    const report = {
      bench: 'speculation',
      command: `./bin/slipstream bench speculation ${args.join(' ')}`.trim(),
      model: modelDir,
      productPath: { layout, tokenHealing: healing, monitors: useMonitors },
      seed,
      context,
      counts: {
        warmup: rows.filter((r) => r.workload === 'warmup').length,
        completion: rows.filter((r) => r.workload === 'completion').length,
        edit: rows.filter((r) => r.workload === 'edit').length,
        screenedOutBelow16Tokens: screened,
      },
      wallSeconds: Math.round((Date.now() - started) / 1000),
      targets: { autoCompletion: 2.0, autoEdit: 3.0 },
      qLatency: qLat,
      results,
      mismatchesAllRequests: mismatches,
      /** Rows of the 'auto' drafter's recycling matrix holding successors at the end. */
      recyclingRowsFilled: matrix.filledRows(),
      rows,
    };
    mkdirSync(dirname(outFile), { recursive: true });
    writeFileSync(outFile, `${JSON.stringify(report, null, 1)}\n`);
    const md = markdown(report, results, qLat);
    writeFileSync(outFile.replace(/\.json$/, '.md'), md);
    console.error(md);
    return { out: outFile, qLatency: qLat, results, mismatchesAllRequests: mismatches };
  } finally {
    monitoring.dispose();
    await model.dispose();
  }
}

function markdown(report: { command: string; wallSeconds: number; counts: object; context: number; productPath: { layout: string; tokenHealing: boolean; monitors: boolean } }, results: Record<string, unknown>, qLat: object): string {
  const p = report.productPath;
  const lines = [
    `# bench speculation (${new Date().toISOString()})`,
    '',
    `\`${report.command}\`, ${report.wallSeconds} s, context ${report.context}, requests ${JSON.stringify(report.counts)}`,
    '',
    `Decoding: prompt layout ${p.layout}, token healing ${p.tokenHealing ? 'on' : 'off'}, monitors ${p.monitors ? 'on' : 'off'}; stops at maxTokens or an end/control token only.`,
    '',
  ];
  lines.push('## Forward latency by rows (tree bias, logits for every row), ms', '');
  const pasts = Object.entries(qLat as Record<string, Record<string, { ms: number; vsQ1: number; jsMs: number }>>);
  lines.push(`| q | ${pasts.map(([p]) => `${p} ms | ×q1 | JS ms`).join(' | ')} |`, `|---|${pasts.map(() => '---:|---:|---:').join('|')}|`);
  for (const q of QS) lines.push(`| ${q} | ${pasts.map(([, v]) => `${v[`q${q}`].ms} | ${v[`q${q}`].vsQ1} | ${v[`q${q}`].jsMs}`).join(' | ')} |`);
  lines.push('');
  for (const [name, res] of Object.entries(results)) {
    const r = res as Record<string, unknown> & { requests: number; requestsWith16PlusTokens: number; meanTokens: number; stoppedAtEos: number; greedyMsPerTokenMedian: number; healed: number; monitored: number };
    lines.push(
      `## ${name}: ${r.requests} requests (${r.requestsWith16PlusTokens} with ≥ 16 tokens), mean ${r.meanTokens} tokens, ${r.stoppedAtEos} ended at an end token, greedy ${r.greedyMsPerTokenMedian} ms/token; ${r.healed} healed, ${r.monitored} with monitors`,
      '',
    );
    if (r.greedyFollowsCopyMedian !== undefined) lines.push(`Greedy follows the copy the user started for a median ${(100 * (r.greedyFollowsCopyMedian as number)).toFixed(0)} % of its text; ${r.greedyFollowsCopyFully} of ${r.requestsWith16PlusTokens} requests copy (≥ 90 %) all the way.`, '');
    lines.push('| drafter | speedup (median) | p25–p75 | all requests | tokens / forward | rows / forward | draft overhead | mismatches |', '|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const d of DRAFTERS) {
      const s = r[d] as { speedupMedian: number; speedupP25: number; speedupP75: number; speedupMedianAllRequests: number; tokensPerForward: number; rowsPerForwardMedian: number; draftOverheadMedian: number; mismatches: number };
      lines.push(`| ${d} | ${s.speedupMedian}× | ${s.speedupP25}–${s.speedupP75} | ${s.speedupMedianAllRequests}× | ${s.tokensPerForward} | ${s.rowsPerForwardMedian} | ${(100 * s.draftOverheadMedian).toFixed(1)} % | ${s.mismatches} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}
