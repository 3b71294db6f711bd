// Model-free fuzz of the whole PIE path (DocumentSession: VS Code content changes → incremental
// prompt → Myers splices → updateCache → KvCache splice/rotate) over thousands of random steps on
// real held-out source files, with the default model's real tokenizer and a small one.
//
// Invariant checked after EVERY step (edit, multi-place change, cursor move, undo), for the
// pie / prefix / full modes and pie with a refresh window, in both prompt layouts, with token
// healing as the service does it (the last token of the cursor line hidden when the rule says so):
//   1. the cache's tokens equal the from-scratch prompt of the current text:
//        psm  [<|file_sep|> path\n] <|fim_prefix|> encode(text[ws, c − h)) <|fim_suffix|> encode(text[c, we)) <|fim_middle|>
//        spm  [<|file_sep|> path\n] <|fim_prefix|> <|fim_suffix|> encode(text[c, we)) <|fim_middle|> encode(text[ws, c − h))
//      where [ws, we) is the prompt's window (the whole file when it fits), c the cursor and h
//      the characters healing hides;
//   2. slot i sits at RoPE position i, and its key equals R(i)·e(token) (e: the probe's pre-RoPE
//      key), i.e. keys re-rotated after edits equal keys encoded directly at their new position;
//   3. every row a forward encodes attends to exactly the target prompt's tokens before it, at
//      their natural positions (checked inside the probe model). With 'full' that is what makes
//      the logits equal a from-scratch pass; with 'pie' it means inserted tokens see the current text;
//   4. the window holds the cursor and stays within the token budget.
// 'conflict' steps (no rotation) are mixed in and check 1 and 3 only (positions are left stale by design).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ByteLevelBpeTokenizer } from '../../../src/engine/tokenizer';
import { KvCache } from '../../../src/engine/kvCache';
import { applyRope, ropeSpec, type RopeSpec } from '../../../src/engine/rope';
import type { ForwardRequest, ForwardResult, RopeLayout, TokenizerLike } from '../../../src/engine/types';
import { DocumentSession, cacheUpdater, type SessionModel } from '../../../src/completion/documentSession';
import { LineIndex } from '../../../src/completion/documentText';
import { markersOf, type FimLayout } from '../../../src/completion/pie/documentPrompt';
import { healingTail } from '../../../src/decoding/tokenHealing';
import { DEFAULT_PROMPT_BUDGET, promptPath, type PromptBudget } from '../../../src/completion/prompt';
import type { CacheMode, DocumentEdit } from '../../../src/completion/types';
import { mulberry32, tinyTokenizerJson } from '../../fixtures/tinyModel';

const ROOT = join(__dirname, '../../..');
const HEAD = 4;

/** Pre-RoPE probe key of a token: deterministic, distinct per token. */
function embedKey(token: number): Float32Array {
  return Float32Array.of(Math.sin(token * 0.7 + 1), Math.cos(token * 1.3), ((token % 17) - 8) / 8, ((token % 5) + 1) / 5);
}

/**
 * A model that checks what each encoded row attends to (invariant 3) and returns keys R(p)·e(token),
 * values [token, position, 0, 0]. `target` is the prompt the current update must reach.
 */
class ProbeModel implements SessionModel {
  target: readonly number[] = [];
  checkPositions = true;
  where = '';
  private seen = new Int32Array(0);
  private stamp = 0;
  rows = 0;
  constructor(readonly rope: RopeSpec) {}

  createCache(): KvCache {
    return new KvCache({ numLayers: 1, numKvHeads: 1, headDim: HEAD }, this.rope, { chunk: 32 });
  }

  embed(tokens: ArrayLike<number>): Float32Array {
    return Float32Array.from(tokens);
  }

  async forward(cache: KvCache, req: ForwardRequest): Promise<ForwardResult> {
    const q = req.positions.length;
    const past = cache.length;
    const ptok = cache.tokens();
    const ppos = cache.positions();
    const bias = req.bias;
    this.rows += q;
    // seen[k] = step at which target position k was last seen (a bitset without clearing).
    const seen = this.seen.length >= this.target.length + 1 ? this.seen : (this.seen = new Int32Array(2 * this.target.length + 64));
    const count = new Map<number, number>();
    for (let i = 0; i < q; i++) {
      const p = req.positions[i];
      const stamp = ++this.stamp;
      let n = 0;
      for (let j = 0; j < past + q; j++) {
        const visible = bias ? bias[i * (past + q) + j] === 0 : j < past || j - past <= i;
        if (!visible) continue;
        n++;
        const token = j < past ? ptok[j] : req.embeds[j - past];
        if (this.checkPositions) {
          // Attention does not care about slot order, only positions: position k must hold target[k], once.
          const pos = j < past ? ppos[j] : req.positions[j - past];
          if (pos < 0 || pos > p || seen[pos] === stamp || this.target[pos] !== token) {
            assert.fail(`${this.where}: row at position ${p} sees token ${token} at position ${pos} (target ${this.target[pos]})`);
          }
          seen[pos] = stamp;
        } else count.set(token, (count.get(token) ?? 0) + 1);
      }
      assert.equal(n, p + 1, `${this.where}: row at position ${p} sees ${n} slots`);
      if (!this.checkPositions && i === q - 1) {
        // Without rotation positions are stale; the tokens seen must still be the target prefix (as a multiset).
        for (let k = 0; k <= p; k++) count.set(this.target[k], (count.get(this.target[k]) ?? 0) - 1);
        assert.ok([...count.values()].every((v) => v === 0), `${this.where}: last row attends to the target prefix (conflict)`);
      }
      count.clear();
    }
    const pre = new Float32Array(q * HEAD);
    for (let i = 0; i < q; i++) pre.set(embedKey(req.embeds[i]), i * HEAD);
    const keys = applyRope(this.rope, pre, 1, req.positions);
    const values = new Float32Array(q * HEAD);
    for (let i = 0; i < q; i++) {
      values[i * HEAD] = req.embeds[i];
      values[i * HEAD + 1] = req.positions[i];
    }
    return { logits: new Float32Array(1), rows: 1, newKeys: [keys], newValues: [values] };
  }
}

interface Doc {
  path: string;
  text: string;
}

function heldout(): Doc[] {
  const out: Doc[] = [];
  for (const lang of ['python', 'typescript', 'c']) {
    const lines = gunzipSync(readFileSync(join(ROOT, 'bench/data/heldout', `${lang}.jsonl.gz`))).toString('utf8').split('\n');
    let taken = 0;
    for (const l of lines) {
      if (!l.trim()) continue;
      const r = JSON.parse(l) as { path: string; text: string };
      if (r.text.length < 2500) continue;
      out.push({ path: r.path, text: r.text });
      if (++taken === 6) break;
    }
  }
  return out;
}

const SNIPPETS = ['x', ' ', '\n', '    ', '\t', 'foo', '(', ')', '{\n', '}\n', '  return a + b;\n', '\n\n', 'é', '🎉', '数据', 'naïve', '123', ' = ', '.', "'s", '    def f(self):\n        pass\n', '// comment\n', '"str"', '->', '::', '==', '  ', 'self', '_', 'ing'];

/** Offsets never split a surrogate pair (VS Code never does either). */
function offset(text: string, r: () => number, lo = 0, hi = text.length): number {
  let o = lo + Math.floor(r() * (hi - lo + 1));
  if (o > 0 && o < text.length && /[\uDC00-\uDFFF]/.test(text[o])) o--;
  return o;
}

/** A region near the cursor most of the time (typing happens there), anywhere otherwise. */
function region(text: string, cursor: number, r: () => number): [number, number] {
  if (r() < 0.5) return [0, text.length];
  return [Math.max(0, cursor - 400), Math.min(text.length, cursor + 400)];
}

/** Inserted text; CRLF documents get CRLF line breaks, as VS Code normalises pasted text. */
function snippet(r: () => number, crlf: boolean): string {
  let s = '';
  const n = 1 + Math.floor(r() * 3);
  for (let i = 0; i < n; i++) s += SNIPPETS[Math.floor(r() * SNIPPETS.length)];
  return crlf ? s.replace(/\r?\n/g, '\r\n') : s;
}

type RawEdit = { start: number; end: number; text: string };

/** One content change: 1 edit (insert, delete, replace, BPE-boundary tweak) or several (multi-cursor, rename). */
function randomChange(text: string, cursor: number, r: () => number, crlf: boolean): RawEdit[] {
  const [lo, hi] = region(text, cursor, r);
  const kind = r();
  if (kind < 0.12) {
    // Rename: every occurrence of an identifier in a region (one change, several ranges).
    const words = [...text.slice(lo, hi).matchAll(/[A-Za-z_][A-Za-z0-9_]{2,}/g)];
    if (words.length > 0) {
      const w = words[Math.floor(r() * words.length)][0];
      const edits: RawEdit[] = [];
      const re = new RegExp(`\\b${w}\\b`, 'g');
      for (const m of text.slice(lo, hi).matchAll(re)) edits.push({ start: lo + (m.index ?? 0), end: lo + (m.index ?? 0) + w.length, text: r() < 0.5 ? `${w}2` : w.slice(0, -1) });
      return edits.slice(0, 12);
    }
  }
  if (kind < 0.25) {
    // Multi-cursor: the same text typed or deleted at 2–4 places.
    const k = 2 + Math.floor(r() * 3);
    const pts = [...new Set(Array.from({ length: k }, () => offset(text, r, lo, hi)))].sort((a, b) => a - b);
    const t = snippet(r, crlf);
    const del = r() < 0.3;
    const edits: RawEdit[] = [];
    let last = -1;
    for (const p of pts) {
      const end = del ? Math.min(text.length, p + 1 + Math.floor(r() * 3)) : p;
      if (p <= last) continue;
      if (del && /[\uDC00-\uDFFF]/.test(text[end] ?? '')) continue;
      edits.push({ start: p, end, text: del ? '' : t });
      last = end;
    }
    return edits;
  }
  if (kind < 0.45) {
    // At a BPE boundary: split or join a word, change indentation, join or split lines.
    const o = offset(text, r, lo, hi);
    const choices: RawEdit[] = [
      { start: o, end: o, text: r() < 0.5 ? ' ' : 'a' },
      { start: o, end: Math.min(text.length, o + 1), text: '' },
      { start: o, end: o, text: crlf ? '\r\n' : '\n' },
    ];
    const ls = text.lastIndexOf('\n', o - 1) + 1;
    choices.push({ start: ls, end: ls, text: '    ' });
    const nl = text.indexOf('\n', o);
    if (nl >= 0) choices.push({ start: crlf && text[nl - 1] === '\r' ? nl - 1 : nl, end: nl + 1, text: '' });
    const e = choices[Math.floor(r() * choices.length)];
    if (/[\uDC00-\uDFFF]/.test(text[e.end] ?? '') || /[\uDC00-\uDFFF]/.test(text[e.start] ?? '')) return [];
    return [e];
  }
  // Insert, delete or replace a random range (now and then a whole block, like a paste or a cut).
  const a = offset(text, r, lo, hi);
  const big = r() < 0.05;
  const b = offset(text, r, a, Math.min(text.length, a + (big ? 1500 : 40)));
  const what = r();
  if (what < 0.4) return [{ start: a, end: a, text: big ? text.slice(b, Math.min(text.length, b + 1200)) : snippet(r, crlf) }];
  if (what < 0.7) return [{ start: a, end: b, text: '' }];
  return [{ start: a, end: b, text: snippet(r, crlf) }];
}

function toDocEdits(index: LineIndex, edits: RawEdit[]): DocumentEdit[] {
  return edits.map((e) => ({ start: index.positionAt(e.start), end: index.positionAt(e.end), text: e.text }));
}

function expectedPrompt(tokenizer: TokenizerLike, path: string, text: string, start: number, cursor: number, end: number, layout: FimLayout, hidden: number): number[] {
  const m = markersOf(tokenizer);
  const p = promptPath(path);
  const header = m.fileSep === undefined || p === '' ? [] : [m.fileSep, ...tokenizer.encode(`${p}\n`)];
  const before = tokenizer.encode(text.slice(start, cursor - hidden));
  const after = tokenizer.encode(text.slice(cursor, end));
  if (layout === 'spm') return [...header, m.fimPrefix, m.fimSuffix, ...after, m.fimMiddle, ...before];
  return [...header, m.fimPrefix, ...before, m.fimSuffix, ...after, m.fimMiddle];
}

/** Undo: one edit restoring the previous text (common prefix/suffix removed), as VS Code reports it. */
function undoEdit(text: string, back: string): RawEdit {
  let a = 0;
  while (a < text.length && a < back.length && text[a] === back[a]) a++;
  if (a > 0 && /[\uDC00-\uDFFF]/.test(text[a] ?? '')) a--;
  let b = 0;
  while (b < text.length - a && b < back.length - a && text[text.length - 1 - b] === back[back.length - 1 - b]) b++;
  if (b > 0 && /[\uDC00-\uDFFF]/.test(text[text.length - b] ?? '')) b--;
  return { start: a, end: text.length - b, text: back.slice(a, back.length - b) };
}

interface FuzzOptions {
  tokenizer: TokenizerLike;
  doc: Doc;
  seed: number;
  steps: number;
  layout: RopeLayout;
  /** Prompt layout; token healing follows the service's rule for it. */
  fim: FimLayout;
  budget: PromptBudget;
  crlf: boolean;
  chars: number;
}

async function fuzz(o: FuzzOptions): Promise<{ steps: number; truncated: number; healed: number }> {
  const r = mulberry32(o.seed);
  const rope = ropeSpec({ headDim: HEAD, ropeTheta: 10000, ropeScalingFactor: 1, ropeLayout: o.layout });
  const model = new ProbeModel(rope);
  let text = o.doc.text;
  if (text.length > o.chars) {
    const s = text.lastIndexOf('\n', Math.floor(r() * (text.length - o.chars))) + 1;
    text = text.slice(s, s + o.chars);
  }
  if (o.crlf) text = text.replace(/\r?\n/g, '\r\n');
  const session = new DocumentSession(o.doc.path, text, model, o.tokenizer);
  const history: string[] = [];
  let cursor = offset(text, r);
  let truncated = 0;
  let healed = 0;
  const textBudget = o.budget.maxContextTokens - o.budget.reserveTokens - 4 - 32;
  for (let step = 0; step < o.steps; step++) {
    const where = `seed ${o.seed} step ${step}`;
    const what = r();
    if (what < 0.6) {
      const edits = randomChange(session.text, cursor, r, o.crlf);
      if (edits.length > 0) {
        history.push(session.text);
        const index = new LineIndex(session.text);
        session.applyEdits(toDocEdits(index, edits));
        // The caret follows an edit at or before it (simplified: shift by the edits before it).
        let shift = 0;
        for (const e of edits) if (e.end <= cursor) shift += e.text.length - (e.end - e.start);
        cursor = Math.min(session.text.length, Math.max(0, edits.some((e) => e.start < cursor && e.end > cursor) ? edits[0].start : cursor + shift));
      }
    } else if (what < 0.72 && history.length > 0) {
      const back = history.pop() as string;
      const e = undoEdit(session.text, back);
      session.applyEdits(toDocEdits(new LineIndex(session.text), [e]));
      cursor = Math.min(cursor, session.text.length);
    } else {
      cursor = r() < 0.5 ? offset(session.text, r) : offset(session.text, r, Math.max(0, cursor - 200), Math.min(session.text.length, cursor + 200));
    }
    // VS Code never puts the caret between \r and \n, nor inside a surrogate pair.
    if (session.text[cursor - 1] === '\r' && session.text[cursor] === '\n') cursor--;
    if (/[\uDC00-\uDFFF]/.test(session.text[cursor] ?? '')) cursor--;

    const u = r();
    const mode: CacheMode = u < 0.72 ? 'pie' : u < 0.82 ? 'prefix' : u < 0.86 ? 'full' : u < 0.92 ? 'conflict' : 'pie';
    const refresh = u >= 0.92 ? 1 + Math.floor(r() * 64) : 0;
    const [line, col] = session.lines.positionAt(cursor);
    const c = session.offsetAt(line, col);
    model.checkPositions = mode !== 'conflict';
    model.where = `${where} (${mode}${refresh ? ` W${refresh}` : ''})`;
    const updater = cacheUpdater(mode, refresh);
    // The probe learns the prompt the update must reach once the session has moved its window.
    const spy = {
      name: updater.name,
      update: (ctx: Parameters<typeof updater.update>[0]) => {
        model.target = ctx.target.tokens;
        return updater.update(ctx);
      },
    };
    // Token healing as CompletionService.run asks for it (on most steps; off on the others).
    const lineStart = session.lines.starts[line];
    const linePrefix = session.text.slice(lineStart, c);
    const tail = r() < 0.8 ? healingTail(o.tokenizer, linePrefix, { whitespace: o.fim === 'spm' && linePrefix.trim() === '' }) : '';
    if (tail !== '') healed++;
    const out = await session.update(c, { updater: spy, budget: o.budget, hide: tail.length, layout: o.fim });
    const p = out.prompt;
    assert.ok(p.hidden === tail.length || p.start > c - tail.length, `${where}: hides the healing tail unless the window starts inside it`);
    const want = expectedPrompt(o.tokenizer, o.doc.path, session.text, p.start, c, p.end, o.fim, p.hidden);
    assert.deepEqual(p.tokens, want, `${where}: prompt = from-scratch tokenization (${mode})`);
    assert.ok(p.start <= c && c <= p.end, `${where}: cursor inside the window`);
    assert.ok(p.tokens.length - 4 - 32 <= textBudget + 4, `${where}: window within budget (${p.tokens.length})`);
    if (p.truncated) truncated++;
    const cache = session.cache;
    assert.deepEqual([...cache.tokens()], want, `${where}: cached tokens (${mode})`);
    assert.equal(out.reusedTokens + out.encodedTokens, want.length, `${where}: reused + encoded`);
    if (mode !== 'conflict') {
      const pos = cache.positions();
      for (let i = 0; i < pos.length; i++) if (pos[i] !== i) assert.fail(`${where}: slot ${i} at position ${pos[i]} (${mode})`);
      const keys = cache.keys(0);
      const pre = new Float32Array(want.length * HEAD);
      want.forEach((t, i) => pre.set(embedKey(t), i * HEAD));
      const direct = applyRope(rope, pre, 1, want.map((_, i) => i));
      for (let i = 0; i < keys.length; i++) if (Math.abs(keys[i] - direct[i]) > 2e-5) assert.fail(`${where}: key ${i >> 2} ≠ R(pos)·e(token) (${keys[i]} vs ${direct[i]}, ${mode})`);
    }
  }
  return { steps: o.steps, truncated, healed };
}

const realTokenizer = new ByteLevelBpeTokenizer(JSON.parse(readFileSync(join(ROOT, 'models/default/tokenizer.json'), 'utf8')));
const smallTokenizer = new ByteLevelBpeTokenizer(tinyTokenizerJson(600).json);
const docs = heldout();
// FUZZ_SCALE=10 runs ten times the steps (tens of thousands) when hunting a bug.
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);

test('fuzz: held-out files (LF and CRLF), real and small tokenizers, both RoPE layouts, both prompt layouts with token healing, every cache mode: 3000 steps', async () => {
  let steps = 0;
  let healed = 0;
  for (let seed = 1; seed <= 24 * SCALE; seed++) {
    const res = await fuzz({
      tokenizer: seed % 4 === 0 ? smallTokenizer : realTokenizer,
      doc: docs[seed % docs.length],
      seed,
      steps: 125,
      layout: seed % 2 ? 'rotate-half' : 'interleaved',
      // spm (the default model's layout) in two seeds of three, psm in the others.
      fim: seed % 3 === 2 ? 'psm' : 'spm',
      budget: DEFAULT_PROMPT_BUDGET,
      crlf: seed % 3 === 0,
      chars: 1500,
    });
    steps += res.steps;
    healed += res.healed;
  }
  assert.equal(steps, 3000 * SCALE);
  assert.ok(healed > 300 * SCALE, `healing hid a tail in ${healed} steps`);
});

test('fuzz: files larger than the window (sliding budget window): 800 steps', async () => {
  let truncated = 0;
  for (let seed = 50; seed < 50 + 8 * SCALE; seed++) {
    const res = await fuzz({
      tokenizer: seed % 2 ? smallTokenizer : realTokenizer,
      doc: docs[(seed * 7) % docs.length],
      seed,
      steps: 100,
      layout: 'rotate-half',
      fim: seed % 2 === 0 ? 'spm' : 'psm',
      budget: { ...DEFAULT_PROMPT_BUDGET, maxContextTokens: 300 },
      crlf: seed % 3 === 1,
      chars: 8000,
    });
    truncated += res.truncated;
  }
  assert.ok(truncated > 400 * SCALE, `the window was partial in ${truncated} of ${800 * SCALE} steps`);
});
