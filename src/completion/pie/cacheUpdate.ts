// Brings a document's KV cache from the tokens it holds to a new prompt.
//
// Modes (CompletionOptions.cache):
//   pie      Positional Integrity Encoding (arXiv 2407.03157): keep every unchanged token's K/V,
//            encode only inserted tokens (against the tokens before them), and shift the RoPE
//            positions of everything after each edit by the cumulative Δ (keys re-rotated from
//            their encoded originals inside KvCache).
//   conflict PIE without the rotation: later keys keep their old positions (the paper's
//            failing "Conflict Fast Encoding" baseline, kept for measurement).
//   prefix   keep the longest common prefix, re-encode everything after it (what a server
//            with plain prompt caching does).
//   full     re-encode the whole prompt.
// In every mode the last prompt token (<|fim_middle|>) is re-encoded, since its logits start
// generation and must see the current text; `refresh` re-encodes more tokens before a point.

import type { KvCache, SlotRun } from '../../engine/kvCache.js';
import type { StepModel } from '../../decoding/generate.js';
import type { CacheMode } from '../types.js';
import { diffTokens } from './tokenDiff.js';
import type { TokenSplice } from './segmentTokens.js';

export interface CacheUpdateOptions {
  mode: CacheMode;
  /** Re-encode exactly the `refreshWindow` tokens that end at `refreshEnd` (a target index). */
  refreshWindow?: number;
  refreshEnd?: number;
  /** Most rows per forward while encoding (bounds the attention scratch memory). */
  chunk?: number;
  signal?: AbortSignal;
}

export interface CacheUpdateResult {
  /** [vocab] logits after the last prompt token. */
  logits: Float32Array;
  /** Prompt tokens whose K/V were kept. */
  reused: number;
  /** Prompt tokens encoded by this update. */
  encoded: number;
  /** Token splices applied (pie/conflict), for reports. */
  splices: number;
}

const DEFAULT_CHUNK = 512;

export async function updateCache(model: StepModel, cache: KvCache, target: readonly number[], opts: CacheUpdateOptions): Promise<CacheUpdateResult> {
  if (target.length === 0) throw new RangeError('updateCache: empty prompt');
  const chunk = opts.chunk ?? DEFAULT_CHUNK;
  const current = cache.tokens();
  if (opts.mode === 'full' || opts.mode === 'prefix') {
    let keep = 0;
    if (opts.mode === 'prefix') {
      // Only a prefix at its natural positions is reusable (after PIE edits positions may have shifted).
      const positions = cache.positions();
      while (keep < current.length && keep < target.length && current[keep] === target[keep] && positions[keep] === keep) keep++;
    }
    keep = Math.min(keep, target.length - 1, refreshStart(target.length, opts));
    cache.truncate(keep);
    const logits = await encodeInto(model, cache, target.slice(keep), keep, opts.signal, chunk);
    return { logits, reused: keep, encoded: target.length - keep, splices: 0 };
  }

  const splices = withForcedSplices(diffTokens(current, target), current, target, opts);
  return applySplices(model, cache, splices, target, opts.mode === 'pie', chunk, opts.signal);
}

/** First target index the refresh window re-encodes (target.length when none). */
function refreshStart(n: number, opts: Pick<CacheUpdateOptions, 'refreshWindow' | 'refreshEnd'>): number {
  const w = opts.refreshWindow ?? 0;
  if (w <= 0) return n;
  const end = Math.min(opts.refreshEnd ?? n - 1, n - 1);
  return Math.max(0, end - w);
}

/**
 * Appends `tokens` at positions start, start + 1, ... in chunks of `chunk` rows; returns the
 * logits of the last one ([vocab]). Throws the abort reason after any forward once aborted.
 */
export async function encodeInto(model: StepModel, cache: KvCache, tokens: readonly number[], start: number, signal?: AbortSignal, chunk = DEFAULT_CHUNK): Promise<Float32Array> {
  if (tokens.length === 0) throw new RangeError('encodeInto: nothing to encode');
  let logits: Float32Array | undefined;
  for (let i = 0; i < tokens.length; i += chunk) {
    signal?.throwIfAborted();
    const part = tokens.slice(i, i + chunk);
    const positions = part.map((_, j) => start + i + j);
    const out = await model.forward(cache, { embeds: model.embed(part), positions, logitRows: 'last', signal });
    cache.append(out.newKeys, out.newValues, part, positions);
    logits = out.logits;
    signal?.throwIfAborted();
  }
  return logits as Float32Array;
}

/**
 * What a pie or conflict update keeps, without running it: [target.length] the old slot each
 * target token keeps, or -1 where it is encoded (the diff's inserted tokens, the last token, the
 * refresh window). The cache's update itself is read from this alignment (withForcedSplices);
 * reports use it to count what an edit reuses in a given prompt layout.
 */
export function keptAlignment(current: ArrayLike<number>, target: readonly number[], opts: Pick<CacheUpdateOptions, 'refreshWindow' | 'refreshEnd'> = {}): Int32Array {
  return alignment(diffTokens(current, target), current, target, opts);
}

function alignment(splices: readonly TokenSplice[], current: ArrayLike<number>, target: readonly number[], opts: Pick<CacheUpdateOptions, 'refreshWindow' | 'refreshEnd'>): Int32Array {
  const keptOld = new Int32Array(target.length).fill(-1);
  let o = 0;
  let t = 0;
  for (const s of splices) {
    while (o < s.start) keptOld[t++] = o++;
    o = s.end;
    t += s.tokens.length;
  }
  while (o < current.length) keptOld[t++] = o++;
  keptOld[target.length - 1] = -1;
  const rs = refreshStart(target.length, opts);
  const re = Math.min(target.length, opts.refreshEnd ?? target.length);
  for (let i = rs; i < re; i++) keptOld[i] = -1;
  return keptOld;
}

/**
 * Adds re-encoding of the last token and of the refresh window to the diff's splices.
 * Works on the alignment "target index → kept old index (or -1 = encode)": forcing a token
 * to be re-encoded sets it to -1, and the splices are read back from the runs of -1.
 */
function withForcedSplices(splices: TokenSplice[], current: ArrayLike<number>, target: readonly number[], opts: CacheUpdateOptions): TokenSplice[] {
  const keptOld = alignment(splices, current, target, opts);
  const out: TokenSplice[] = [];
  let oldCursor = 0;
  for (let i = 0; i < target.length; ) {
    if (keptOld[i] >= 0) {
      // A jump in old indices between two kept tokens is a pure deletion.
      if (keptOld[i] > oldCursor) out.push({ start: oldCursor, end: keptOld[i], tokens: [] });
      oldCursor = keptOld[i] + 1;
      i++;
      continue;
    }
    const start = i;
    while (i < target.length && keptOld[i] < 0) i++;
    const oldEnd = i < target.length ? keptOld[i] : current.length;
    out.push({ start: oldCursor, end: oldEnd, tokens: target.slice(start, i) });
    oldCursor = oldEnd;
  }
  return out;
}

/**
 * Applies splices (ascending, old coordinates) in one relayout of the cache: every kept slot moves
 * once to its target index (pie: re-rotated there to its natural position; conflict: position
 * kept), the inserted tokens' slots are left as gaps, then every inserted token is encoded in ONE
 * forward (`chunk` rows per forward) and written into its gap. Each new row sees exactly the target
 * slots before it: kept slots and rows of earlier chunks through the cache, rows of its own chunk
 * as new rows (their gaps are masked), so a long paste is encoded exactly like a short one.
 * On error (abort) the gaps not yet filled are removed again, leaving a valid cache of whatever
 * tokens it then holds.
 */
async function applySplices(
  model: StepModel,
  cache: KvCache,
  splices: readonly TokenSplice[],
  target: readonly number[],
  rotate: boolean,
  chunk: number,
  signal?: AbortSignal,
): Promise<CacheUpdateResult> {
  const before = cache.length;
  const runs: SlotRun[] = [];
  /** Inserted tokens in target order, with their target index (= natural position). */
  const rows: Array<{ token: number; at: number }> = [];
  let o = 0;
  let t = 0;
  for (const s of splices) {
    if (s.start > o) runs.push({ from: o, to: t, n: s.start - o });
    t += s.start - o;
    for (const token of s.tokens) rows.push({ token, at: t++ });
    o = s.end;
  }
  if (before > o) runs.push({ from: o, to: t, n: before - o });
  t += before - o;
  if (t !== target.length) throw new Error(`applySplices: the splices make ${t} tokens, the prompt has ${target.length}`);
  const reused = runs.reduce((n, r) => n + r.n, 0);
  // Rows after the last kept slot are appended after their forward rather than left as gaps: an
  // update that only appends (the first one, typing at the end, re-encoding <|fim_middle|>) keeps
  // the cache gap-free and its positions contiguous while the model runs.
  const last = runs[runs.length - 1];
  const laidOut = last ? last.to + last.n : 0;
  cache.relayout(laidOut, runs, rotate ? naturalPositions(laidOut) : undefined);

  let filled = 0;
  let logits: Float32Array | null = null;
  try {
    for (let s = 0; s < rows.length; s += chunk) {
      const part = rows.slice(s, Math.min(rows.length, s + chunk));
      const q = part.length;
      const past = cache.length;
      const bias = new Float32Array(q * (past + q)).fill(-Infinity);
      for (let i = 0; i < q; i++) {
        const row = bias.subarray(i * (past + q), (i + 1) * (past + q));
        row.fill(0, 0, Math.min(part[i].at, past));
        // Rows of this chunk before row i are still gaps in the cache; row i sees them as new rows.
        for (let j = 0; j < i && part[j].at < past; j++) row[part[j].at] = -Infinity;
        row.fill(0, past, past + i + 1);
      }
      const out = await model.forward(cache, {
        embeds: model.embed(part.map((r) => r.token)),
        positions: part.map((r) => r.at),
        bias,
        logitRows: [q - 1],
        signal,
      });
      signal?.throwIfAborted();
      logits = out.logits;
      // Runs of consecutive target slots: into their gaps, or appended at the end (a run never
      // spans both: the slot before the end is a kept one).
      for (let a = 0; a < q; ) {
        let b = a + 1;
        while (b < q && part[b].at === part[b - 1].at + 1) b++;
        const rows = {
          keys: out.newKeys.map((k) => sliceRows(k, q, a, b, cache.shape.numKvHeads, cache.shape.headDim)),
          values: out.newValues.map((v) => sliceRows(v, q, a, b, cache.shape.numKvHeads, cache.shape.headDim)),
          tokens: part.slice(a, b).map((r) => r.token),
          positions: part.slice(a, b).map((r) => r.at),
        };
        if (part[a].at < cache.length) cache.write(part[a].at, rows);
        else cache.append(rows.keys, rows.values, rows.tokens, rows.positions);
        a = b;
      }
      filled += q;
    }
  } catch (e) {
    dropGaps(
      cache,
      rows
        .slice(filled)
        .map((r) => r.at)
        .filter((at) => at < laidOut),
    );
    throw e;
  }
  if (!logits) throw new Error('applySplices: the last prompt token was not re-encoded');
  assertTokens(cache, target);
  return { logits, reused, encoded: rows.length, splices: splices.length };
}

/** [n] positions 0, 1, …, n − 1. */
function naturalPositions(n: number): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  return p;
}

/** Removes the listed (ascending) gap slots, keeping every other slot in order. */
function dropGaps(cache: KvCache, gaps: readonly number[]): void {
  if (gaps.length === 0) return;
  const kept: SlotRun[] = [];
  let from = 0;
  let to = 0;
  for (const g of [...gaps, cache.length]) {
    if (g > from) {
      kept.push({ from, to, n: g - from });
      to += g - from;
    }
    from = g + 1;
  }
  cache.relayout(to, kept);
}

/** Rows [from, to) of one layer's [numKvHeads, q, headDim] slice → [numKvHeads, to-from, headDim]. */
function sliceRows(a: Float32Array, q: number, from: number, to: number, numKvHeads: number, headDim: number): Float32Array {
  if (from === 0 && to === q) return a;
  const n = to - from;
  const out = new Float32Array(numKvHeads * n * headDim);
  for (let h = 0; h < numKvHeads; h++) out.set(a.subarray((h * q + from) * headDim, (h * q + to) * headDim), h * n * headDim);
  return out;
}

/** The update must leave exactly the target tokens in the cache; anything else is a bug. */
function assertTokens(cache: KvCache, target: readonly number[]): void {
  const got = cache.tokens();
  let ok = got.length === target.length;
  for (let i = 0; ok && i < got.length; i++) ok = got[i] === target[i];
  if (!ok) throw new Error(`PIE update left ${got.length} tokens that differ from the ${target.length}-token prompt`);
}
