// CopySpec (arXiv 2502.08923): code repeats itself (renames, duplicated blocks, parallel
// branches), so when the last γ tokens already occurred earlier in the context, the tokens that
// followed them then are a good draft now. The context is the prompt (the whole FIM prompt:
// text before and after the cursor) plus the tokens generated so far.
//
// CopyIndex keeps, for a growing token sequence, every γ-gram's occurrences in order (a hash of
// the γ tokens → chain of start positions, verified token by token, so hash collisions cost
// time, never correctness). It follows the document: begin() of the next request keeps the
// common prefix with the previous sequence and re-indexes only the rest (a keystroke at the
// cursor changes the prompt from the cursor on; measured on a 2,000-token prompt: ~70 µs
// against ~150–250 µs for a fresh index).
//
// Where this differs from the paper, by measurement (bench/results/speculation.md, design
// choices): among the first 8 earlier occurrences the one whose preceding tokens match furthest
// back is copied (the paper: the earliest); without a γ = 3 match a γ = 2 index is tried; the
// chain length is not a fixed N = 10 but what the planner finds worth verifying, from
// acceptance rates learnt per (streak of the previous copy, matched length, position in chain).

import type { DraftContext } from './verify';
import { AcceptanceTable } from './planner';
import type { DraftTree } from './tree';

export const DEFAULT_GAMMA = 3;
/**
 * Tokens drafted after a match (CopySpec's N); the planner keeps as many as pay. 32: while a
 * copy is being followed (every copied token accepted in the previous forward), the learnt
 * rates stay high far down the chain and a 32-row forward still costs less than 3 plain steps
 * here (bench/results/speculation.md compares it with the former 16).
 */
export const DEFAULT_COPY_LENGTH = 32;

export class CopyIndex {
  private seq = new Int32Array(1024);
  private len = 0;
  /** gram hash → first / last start position with that hash. */
  private readonly head = new Map<number, number>();
  private readonly tail = new Map<number, number>();
  /** [capacity] next / previous start position with the same hash, -1 = none. */
  private next = new Int32Array(1024);
  private prev = new Int32Array(1024);

  constructor(readonly gamma = DEFAULT_GAMMA) {
    if (!Number.isInteger(gamma) || gamma < 1) throw new RangeError(`gamma must be a positive integer, got ${gamma}`);
  }

  get length(): number {
    return this.len;
  }

  token(i: number): number {
    return this.seq[i];
  }

  /** [length] the indexed tokens (a copy). */
  tokens(): Int32Array {
    return this.seq.slice(0, this.len);
  }

  /** Adds tokens[from..] at the end, indexing every γ-gram they complete. */
  append(tokens: ArrayLike<number>, from = 0): void {
    const n = tokens.length;
    if (this.len + n - from > this.seq.length) this.grow(this.len + n - from);
    for (let i = from; i < n; i++) {
      this.seq[this.len++] = tokens[i];
      const start = this.len - this.gamma;
      if (start >= 0) this.link(start);
    }
  }

  /** Drops every token from n on (and the grams they were part of). */
  truncate(n: number): void {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`truncate(${n})`);
    if (n >= this.len) return;
    // Grams are linked in increasing order, so the ones dropped are the tails of their chains.
    for (let start = this.len - this.gamma; start >= Math.max(0, n - this.gamma + 1); start--) {
      const h = this.hashAt(start);
      const p = this.prev[start];
      if (p < 0) {
        this.head.delete(h);
        this.tail.delete(h);
      } else {
        this.next[p] = -1;
        this.tail.set(h, p);
      }
    }
    this.len = n;
  }

  /** Makes the sequence equal `tokens`, keeping the common prefix indexed. Returns the prefix kept. */
  reset(tokens: ArrayLike<number>): number {
    const m = Math.min(this.len, tokens.length);
    let c = 0;
    while (c < m && this.seq[c] === tokens[c]) c++;
    this.truncate(c);
    this.append(tokens, c);
    return c;
  }

  /**
   * Start positions of earlier occurrences of the γ-gram that starts at `at` (positions < at),
   * earliest first. -1-terminated iteration via the callback: return false to stop.
   */
  forEachEarlier(at: number, visit: (start: number) => boolean): void {
    if (at < 0 || at + this.gamma > this.len) return;
    for (let s = this.head.get(this.hashAt(at)) ?? -1; s >= 0 && s < at; s = this.next[s]) {
      if (this.sameGram(s, at) && !visit(s)) return;
    }
  }

  /** Earliest start position < at of the γ-gram starting at `at`, or -1. */
  earliest(at: number): number {
    let found = -1;
    this.forEachEarlier(at, (s) => {
      found = s;
      return false;
    });
    return found;
  }

  private link(start: number): void {
    const h = this.hashAt(start);
    this.next[start] = -1;
    const last = this.tail.get(h);
    if (last === undefined) {
      this.head.set(h, start);
      this.prev[start] = -1;
    } else {
      this.next[last] = start;
      this.prev[start] = last;
    }
    this.tail.set(h, start);
  }

  private hashAt(start: number): number {
    let h = 0x811c9dc5;
    for (let i = 0; i < this.gamma; i++) h = Math.imul(h ^ this.seq[start + i], 0x01000193);
    return h >>> 0;
  }

  private sameGram(a: number, b: number): boolean {
    for (let i = 0; i < this.gamma; i++) if (this.seq[a + i] !== this.seq[b + i]) return false;
    return true;
  }

  private grow(min: number): void {
    let cap = this.seq.length;
    while (cap < min) cap *= 2;
    const g = (a: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> => {
      const b = new Int32Array(cap);
      b.set(a);
      return b;
    };
    this.seq = g(this.seq);
    this.next = g(this.next);
    this.prev = g(this.prev);
  }
}

/** A copy draft: where the continuation starts and how long the matched context is. */
export interface CopyMatch {
  /** Start of the earlier occurrence of the last γ tokens. */
  start: number;
  /** Tokens before the end of the sequence that match before `start + γ` (≥ γ, capped). */
  matchLength: number;
  /** The drafted continuation. */
  tokens: number[];
}

const MAX_MATCH = 32;
/** How many earlier occurrences are compared when choosing the one with the longest matched context. */
const MAX_CANDIDATES = 8;

export type CopySelection = 'earliest' | 'longest';

/**
 * The copy draft for the end of `index`'s sequence: the continuation after an earlier
 * occurrence of the last γ tokens, up to `maxTokens` long. 'earliest' takes the first
 * occurrence (CopySpec); 'longest' the one whose preceding tokens match furthest back (ties:
 * earliest), among the first few. A continuation that runs into the current end continues with
 * the draft itself (a repeating pattern repeats). Null when there is no earlier occurrence.
 */
export function findCopy(index: CopyIndex, maxTokens: number, selection: CopySelection = 'earliest'): CopyMatch | null {
  const n = index.length;
  const at = n - index.gamma;
  if (at <= 0 || maxTokens <= 0) return null;
  let best = -1;
  let bestLength = -1;
  let seen = 0;
  index.forEachEarlier(at, (s) => {
    const length = matchLength(index, s, at);
    if (length > bestLength) {
      best = s;
      bestLength = length;
    }
    return selection === 'longest' && ++seen < MAX_CANDIDATES;
  });
  if (best < 0) return null;
  const tokens: number[] = [];
  for (let k = 0; k < maxTokens; k++) {
    const p = best + index.gamma + k;
    tokens.push(p < n ? index.token(p) : tokens[p - n]);
  }
  return { start: best, matchLength: bestLength, tokens };
}

/** γ + how many tokens before the two occurrences also agree (capped at MAX_MATCH). */
function matchLength(index: CopyIndex, earlier: number, at: number): number {
  let m = index.gamma;
  while (m < MAX_MATCH && earlier - (m - index.gamma) - 1 >= 0 && index.token(earlier - (m - index.gamma) - 1) === index.token(at - (m - index.gamma) - 1)) m++;
  return m;
}

/** Buckets of matched context length: < 3 (a fallback match), 3, ≤ 7, ≤ 15, longer. */
const LENGTH_BUCKETS = 5;
function lengthBucket(m: number): number {
  return m < 3 ? 0 : m === 3 ? 1 : m <= 7 ? 2 : m <= 15 ? 3 : 4;
}

const CHAIN_SLOTS = 16;
/**
 * How the previous forward's copy went: 0 none or rejected at once, 1 partly accepted, 2 all
 * accepted (an ongoing copy: the next tokens are very likely the source's next tokens too).
 */
const STREAKS = 3;

function copySlot(streak: number, bucket: number, k: number): number {
  return (streak * LENGTH_BUCKETS + bucket) * CHAIN_SLOTS + Math.min(k, CHAIN_SLOTS - 1);
}

/** Acceptance rates of copied tokens by (streak, matched-length bucket, chain index), with priors. */
export function copyAcceptanceTable(): AcceptanceTable {
  return new AcceptanceTable(STREAKS * LENGTH_BUCKETS * CHAIN_SLOTS, (slot) => {
    const k = slot % CHAIN_SLOTS;
    const bucket = Math.floor(slot / CHAIN_SLOTS) % LENGTH_BUCKETS;
    const streak = Math.floor(slot / (CHAIN_SLOTS * LENGTH_BUCKETS));
    if (streak === 2) return k === 0 ? 0.7 : 0.85;
    if (streak === 1) return k === 0 ? 0.35 : 0.75;
    return k === 0 ? 0.15 + 0.07 * bucket : 0.7;
  });
}

export interface CopySpecOptions {
  /** Most tokens per copy draft (default DEFAULT_COPY_LENGTH). */
  maxTokens?: number;
  /** Which earlier occurrence to copy from (default 'longest'). */
  selection?: CopySelection;
  /** γ of a second index tried when the γ-gram has no earlier occurrence (default 2; 0 = none). */
  fallbackGamma?: number;
}

/**
 * The CopySpec draft source: one chain per step. Estimates: the chance the k-th copied token is
 * accepted given the ones before it were, learnt per (streak, matched-length bucket, k).
 */
export class CopySpecSource {
  readonly name = 'copyspec';
  private readonly index: CopyIndex;
  private readonly fallback: CopyIndex | undefined;
  /** Generated tokens already appended to the indexes. */
  private synced = 0;
  readonly table: AcceptanceTable;
  private streak = 0;
  /** This forward's judged copy nodes: accepted count, and whether one was rejected. */
  private judged = { accepted: 0, rejected: false, any: false };

  constructor(
    index?: CopyIndex,
    private readonly opts: CopySpecOptions = {},
    table?: AcceptanceTable,
    fallback?: CopyIndex,
  ) {
    this.index = index ?? new CopyIndex();
    const fg = opts.fallbackGamma ?? 2;
    this.fallback = fg > 0 && fg < this.index.gamma ? (fallback ?? new CopyIndex(fg)) : undefined;
    this.table = table ?? copyAcceptanceTable();
  }

  begin(prompt: ArrayLike<number>): void {
    this.index.reset(prompt);
    this.fallback?.reset(prompt);
    this.synced = 0;
    this.streak = 0;
  }

  /** The copy match for the current sequence (prompt + generated), after syncing the indexes. */
  match(ctx: DraftContext): CopyMatch | null {
    const gen = ctx.generated;
    // Accepted tokens are final: the indexes only ever grow during a request.
    if (this.synced < gen.length) {
      this.index.append(gen, this.synced);
      this.fallback?.append(gen, this.synced);
      this.synced = gen.length;
    }
    const max = Math.min(this.opts.maxTokens ?? DEFAULT_COPY_LENGTH, ctx.maxDepth);
    const selection = this.opts.selection ?? 'longest';
    return findCopy(this.index, max, selection) ?? (this.fallback ? findCopy(this.fallback, max, selection) : null);
  }

  propose(tree: DraftTree, ctx: DraftContext): void {
    this.judged = { accepted: 0, rejected: false, any: false };
    const m = this.match(ctx);
    if (!m) return;
    const bucket = lengthBucket(m.matchLength);
    let p = 1;
    let at = 0;
    m.tokens.forEach((token, k) => {
      const slot = copySlot(this.streak, bucket, k);
      p *= this.table.rate(slot);
      at = tree.add(at, token, p, { drafter: this.name, slot });
    });
  }

  record(slot: number, hit: boolean): void {
    this.table.record(slot, hit);
    this.judged.any = true;
    if (hit) this.judged.accepted++;
    else this.judged.rejected = true;
  }

  /** After this forward's record() calls: the streak the next draft is judged in. */
  settle(): void {
    const j = this.judged;
    this.streak = !j.any || j.accepted === 0 ? 0 : j.rejected ? 1 : 2;
  }
}
