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

import type { KvCache } from '../../engine/kvCache.js';
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
function refreshStart(n: number, opts: CacheUpdateOptions): number {
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
 * Adds re-encoding of the last token and of the refresh window to the diff's splices.
 * Works on the alignment "target index → kept old index (or -1 = encode)": forcing a token
 * to be re-encoded sets it to -1, and the splices are read back from the runs of -1.
 */
function withForcedSplices(splices: TokenSplice[], current: ArrayLike<number>, target: readonly number[], opts: CacheUpdateOptions): TokenSplice[] {
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
 * Applies splices (ascending, old coordinates): delete the replaced rows, shift later
 * positions (pie), then encode every inserted token in ONE forward — each new token sees the
 * cache slots before its insertion point and the new tokens inserted at or before it — and
 * put the rows in place.
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
  // 1. Deletions, left to right, in current cache coordinates; then every kept slot after the first
  //    edit moves to its target position in ONE re-rotation (from K_enc), however many edits.
  const inserts: Array<{ at: number; tokens: number[]; positions: number[] }> = [];
  let shift = 0; // current index = old index + shift (deletions so far)
  let targetShift = 0; // target index = old index + targetShift
  let deleted = 0;
  const shifts: Array<{ from: number; targetShift: number }> = [];
  for (const s of splices) {
    const at = s.start + shift;
    const del = s.end - s.start;
    if (del > 0) cache.splice(at, del);
    deleted += del;
    const positions = s.tokens.map((_, i) => s.start + targetShift + i);
    inserts.push({ at, tokens: s.tokens, positions });
    shift -= del;
    targetShift += s.tokens.length - del;
    // Kept slots from `at` on (current coordinates) sit at old index + targetShift in the target.
    shifts.push({ from: at, targetShift: targetShift - shift });
  }
  if (rotate) moveKeptSlots(cache, shifts);
  const encoded = inserts.reduce((n, r) => n + r.tokens.length, 0);

  // 2. Encode the inserted tokens, `chunk` rows per forward. Row i sees the cache slots before
  //    its insertion point and the rows before it; each chunk's rows are put in place before
  //    the next chunk runs, so a long paste is encoded exactly like a short one.
  const rows = inserts.flatMap((r) => r.tokens.map((token, i) => ({ token, position: r.positions[i], at: r.at })));
  let logits: Float32Array | null = null;
  let insertedSoFar = 0;
  for (let s = 0; s < rows.length; s += chunk) {
    const part = rows.slice(s, Math.min(rows.length, s + chunk));
    const q = part.length;
    const past = cache.length;
    const bias = new Float32Array(q * (past + q)).fill(-Infinity);
    for (let i = 0; i < q; i++) {
      const row = bias.subarray(i * (past + q), (i + 1) * (past + q));
      row.fill(0, 0, part[i].at + insertedSoFar);
      row.fill(0, past, past + i + 1);
    }
    const out = await model.forward(cache, {
      embeds: model.embed(part.map((r) => r.token)),
      positions: part.map((r) => r.position),
      bias,
      logitRows: [q - 1],
      signal,
    });
    signal?.throwIfAborted();
    logits = out.logits;
    // Insert runs that share an insertion point, right to left so earlier points stay valid.
    for (let end = q; end > 0; ) {
      let start = end - 1;
      while (start > 0 && part[start - 1].at === part[end - 1].at) start--;
      cache.splice(part[start].at + insertedSoFar, 0, {
        keys: out.newKeys.map((k) => sliceRows(k, q, start, end, cache.shape.numKvHeads, cache.shape.headDim)),
        values: out.newValues.map((v) => sliceRows(v, q, start, end, cache.shape.numKvHeads, cache.shape.headDim)),
        tokens: part.slice(start, end).map((r) => r.token),
        positions: part.slice(start, end).map((r) => r.position),
      });
      end = start;
    }
    insertedSoFar += q;
  }
  if (!logits) throw new Error('applySplices: the last prompt token was not re-encoded');
  assertTokens(cache, target);
  return { logits, reused: before - deleted, encoded, splices: splices.length };
}

/**
 * Gives every kept slot its natural target position: slot c (current coordinates, after the
 * deletions) before shifts[0].from stays at c; at or after shifts[k].from (and before
 * shifts[k + 1].from) it goes to c + shifts[k].targetShift. The span from the first to the last
 * slot whose position changes is re-rotated once from K_enc (slots before the first edit only
 * move when an earlier 'conflict' update left them off their index).
 */
function moveKeptSlots(cache: KvCache, shifts: ReadonlyArray<{ from: number; targetShift: number }>): void {
  const n = cache.length;
  const now = cache.positions();
  const want = new Float64Array(n);
  let lo = -1;
  let hi = -1;
  for (let k = -1, c = 0; c < n; c++) {
    while (k + 1 < shifts.length && shifts[k + 1].from <= c) k++;
    want[c] = c + (k < 0 ? 0 : shifts[k].targetShift);
    if (want[c] !== now[c]) {
      if (lo < 0) lo = c;
      hi = c;
    }
  }
  if (lo >= 0) cache.setPositions(lo, want.subarray(lo, hi + 1));
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
