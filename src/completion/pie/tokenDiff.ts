// Minimal token splices between the cached prompt and the new prompt.
//
// Myers' O((N+M)·D) diff: with the edit distance D small (typing, a rename in a few
// places, a psm cursor move) it costs a few hundred thousand steps at most for a 2k-token
// prompt. Past `maxDistance` we look for one long block that moved to the front of the
// other side (below), else return one splice between the common prefix and the common
// suffix, which is what a file switch needs anyway.
//
// The block: in the spm layout (`<pre> <suf> after <mid> before`) a cursor move takes the text
// between the old and the new cursor from one end of the prompt to the other — moving down by
// 40 lines deletes ~400 tokens just after <|fim_suffix|> and appends them to the prompt's end:
// D ≈ 800, past the Myers bound, while everything in between (the rest of `after`,
// <|fim_middle|>, `before`) is unchanged. Falling back to one splice would re-encode the whole
// prompt. So, past the bound, the longest run that starts (within a few tokens: the moved
// text's edge is re-tokenized) one side's changed middle and occurs in the other's is kept:
// old = X·Y·W, new = Y·Z (moving down), or old = Y·W, new = Z·Y·W' (moving up); X is deleted, Z
// inserted, and W against Z / W' is diffed again (small: the cursor's own tokens).

import type { TokenSplice } from './segmentTokens.js';

export interface DiffOptions {
  /** Give up on a fine-grained diff past this many inserted + deleted tokens. */
  maxDistance?: number;
  /** Kept runs shorter than this between two splices are re-encoded too (avoids fragments). */
  minKeptRun?: number;
}

export function diffTokens(oldTokens: ArrayLike<number>, newTokens: ArrayLike<number>, opts: DiffOptions = {}): TokenSplice[] {
  const maxDistance = opts.maxDistance ?? 512;
  const minKeptRun = opts.minKeptRun ?? 4;
  const n = oldTokens.length;
  const m = newTokens.length;
  let pre = 0;
  while (pre < n && pre < m && oldTokens[pre] === newTokens[pre]) pre++;
  let suf = 0;
  while (suf < n - pre && suf < m - pre && oldTokens[n - 1 - suf] === newTokens[m - 1 - suf]) suf++;
  const a0 = pre;
  const a1 = n - suf;
  const b0 = pre;
  const b1 = m - suf;
  if (a0 === a1 && b0 === b1) return [];
  if (a0 === a1 || b0 === b1) return [{ start: a0, end: a1, tokens: slice(newTokens, b0, b1) }];

  const script = myers(oldTokens, a0, a1, newTokens, b0, b1, maxDistance) ?? movedBlock(oldTokens, a0, a1, newTokens, b0, b1, maxDistance, minKeptRun);
  if (!script) return [{ start: a0, end: a1, tokens: slice(newTokens, b0, b1) }];
  // Kept runs: the common prefix and suffix (always) and the inner matches long enough
  // to be worth keeping; every gap between consecutive kept runs is one splice.
  const kept: Snake[] = [{ a: 0, b: 0, len: a0 }, ...script.filter((r) => r.len >= minKeptRun), { a: a1, b: b1, len: suf }];
  const out: TokenSplice[] = [];
  for (let i = 0; i + 1 < kept.length; i++) {
    const aEnd = kept[i].a + kept[i].len;
    const bEnd = kept[i].b + kept[i].len;
    if (aEnd !== kept[i + 1].a || bEnd !== kept[i + 1].b) out.push({ start: aEnd, end: kept[i + 1].a, tokens: slice(newTokens, bEnd, kept[i + 1].b) });
  }
  return out;
}

/** A run of matching tokens: old[a, a+len) == new[b, b+len). */
interface Snake {
  a: number;
  b: number;
  len: number;
}

/** A moved block is kept only when it is at least this long and this share of the shorter middle. */
const MIN_BLOCK = 32;
const MIN_BLOCK_SHARE = 0.25;
/** The block may start this many tokens into a middle (where re-tokenization at its edge differs). */
const BLOCK_SLACK = 8;

/**
 * The fallback past the Myers bound (see the file comment): the longest run that starts within
 * BLOCK_SLACK tokens of the new middle y[y0, y1) and occurs in the old middle x[x0, x1), or the
 * same with the sides swapped; what lies before it on both sides is one splice, the rest after it
 * is diffed again (Myers, else one splice). Null when no such run is long enough. Snakes are in
 * absolute indices, ascending in both sequences.
 */
function movedBlock(
  x: ArrayLike<number>, x0: number, x1: number,
  y: ArrayLike<number>, y0: number, y1: number,
  maxD: number,
  minKeptRun: number,
): Snake[] | null {
  let block: Snake = { a: x0, b: y0, len: 0 };
  for (let s = 0; s < BLOCK_SLACK; s++) {
    // old = X·Y·W, new = (a few)·Y·Z  or  old = (a few)·Y·W, new = Z·Y·W'.
    const inOld = longestRunStarting(y, y0 + s, y1, x, x0, x1);
    if (inOld.len > block.len) block = { a: inOld.at, b: y0 + s, len: inOld.len };
    const inNew = longestRunStarting(x, x0 + s, x1, y, y0, y1);
    if (inNew.len > block.len) block = { a: x0 + s, b: inNew.at, len: inNew.len };
  }
  const len = block.len;
  if (len < Math.max(MIN_BLOCK, minKeptRun, MIN_BLOCK_SHARE * Math.min(x1 - x0, y1 - y0))) return null;
  const ra = block.a + len;
  const rb = block.b + len;
  if (ra === x1 || rb === y1) return [block];
  const rest = myers(x, ra, x1, y, rb, y1, maxD);
  // The rest could not be diffed: it is one splice (no further kept runs).
  return [block, ...(rest ?? [])];
}

/**
 * The longest run of `needle[n0, n1)`'s first tokens that occurs in `hay[h0, h1)`: where it starts
 * in `hay` and its length (0 when `needle`'s first token does not occur). O(|hay| · run) at worst;
 * the runs compared end at the first mismatch, so a few thousand tokens cost well under a millisecond.
 */
function longestRunStarting(needle: ArrayLike<number>, n0: number, n1: number, hay: ArrayLike<number>, h0: number, h1: number): { at: number; len: number } {
  let best = { at: h0, len: 0 };
  if (n0 >= n1) return best;
  const first = needle[n0];
  for (let h = h0; h < h1 && h1 - h > best.len; h++) {
    if (hay[h] !== first) continue;
    let k = 1;
    while (h + k < h1 && n0 + k < n1 && hay[h + k] === needle[n0 + k]) k++;
    if (k > best.len) best = { at: h, len: k };
  }
  return best;
}

/** Myers' greedy forward algorithm with the trace kept for the path; null past maxD. */
function myers(
  x: ArrayLike<number>, x0: number, x1: number,
  y: ArrayLike<number>, y0: number, y1: number,
  maxD: number,
): Snake[] | null {
  const n = x1 - x0;
  const m = y1 - y0;
  const max = Math.min(n + m, maxD);
  const offset = max + 1;
  const v = new Int32Array(2 * max + 3);
  const trace: Int32Array[] = [];
  for (let d = 0; d <= max; d++) {
    trace.push(v.slice());
    for (let k = -d; k <= d; k += 2) {
      let px: number;
      if (k === -d || (k !== d && v[offset + k - 1] < v[offset + k + 1])) px = v[offset + k + 1];
      else px = v[offset + k - 1] + 1;
      let py = px - k;
      while (px < n && py < m && x[x0 + px] === y[y0 + py]) {
        px++;
        py++;
      }
      v[offset + k] = px;
      if (px >= n && py >= m) return backtrack(trace, d, n, m, offset, x0, y0);
    }
  }
  return null;
}

function backtrack(trace: Int32Array[], dEnd: number, n: number, m: number, offset: number, x0: number, y0: number): Snake[] {
  const snakes: Snake[] = [];
  let px = n;
  let py = m;
  for (let d = dEnd; d >= 0; d--) {
    const prev = trace[d];
    const k = px - py;
    let prevK: number;
    if (k === -d || (k !== d && prev[offset + k - 1] < prev[offset + k + 1])) prevK = k + 1;
    else prevK = k - 1;
    const prevX = d === 0 ? 0 : prev[offset + prevK];
    const prevY = prevX - prevK;
    // The diagonal run that ends at (px, py) started after the step from (prevX, prevY).
    const startX = d === 0 ? 0 : prevK === k + 1 ? prevX : prevX + 1;
    const startY = d === 0 ? 0 : startX - k;
    if (px > startX) snakes.push({ a: x0 + startX, b: y0 + startY, len: px - startX });
    px = prevX;
    py = prevY;
    if (d === 0) break;
  }
  return snakes.reverse();
}

function slice(a: ArrayLike<number>, from: number, to: number): number[] {
  const out = new Array<number>(to - from);
  for (let i = from; i < to; i++) out[i - from] = a[i];
  return out;
}
