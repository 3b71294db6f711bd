// CopySpec (arXiv 2502.08923): code repeats itself (renames, duplicated blocks, parallel
// branches), so when the last γ tokens already occurred earlier in the context, the tokens that
// followed them then are a good draft now. The context is the prompt (the whole FIM prompt:
// text before and after the cursor) plus the tokens generated so far.
//
// CopyIndex keeps, for a growing token sequence, every γ-gram's occurrences in order (a hash of
// the γ tokens → chain of start positions, verified token by token, so hash collisions cost
// time, never correctness). It follows the document: begin() of the next request keeps the
// common prefix with the previous sequence and re-indexes only the rest (a keystroke at the
// cursor changes the prompt from the cursor on).

import type { DraftContext } from './verify';
import { AcceptanceTable } from './planner';
import type { DraftTree } from './tree';

export const DEFAULT_GAMMA = 3;
/** Tokens drafted after a match (CopySpec's N); the planner keeps as many as pay. */
export const DEFAULT_COPY_LENGTH = 16;

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

/** Buckets of matched context length: γ, ≤ 7, ≤ 15, longer. */
function lengthBucket(m: number): number {
  return m <= DEFAULT_GAMMA ? 0 : m <= 7 ? 1 : m <= 15 ? 2 : 3;
}

const CHAIN_SLOTS = 16;

/** Acceptance rates of copied tokens by (matched-length bucket, chain index), with priors. */
export function copyAcceptanceTable(): AcceptanceTable {
  return new AcceptanceTable(4 * CHAIN_SLOTS, (slot) => (slot % CHAIN_SLOTS === 0 ? 0.25 + 0.1 * Math.floor(slot / CHAIN_SLOTS) : 0.75));
}

/**
 * The CopySpec draft source: one chain per step. Estimates: the chance the k-th copied token is
 * accepted given the ones before it were, learnt per (matched-length bucket, k).
 */
export class CopySpecSource {
  readonly name = 'copyspec';
  private readonly index: CopyIndex;
  /** Generated tokens already appended to the index. */
  private synced = 0;
  readonly table: AcceptanceTable;

  constructor(
    index?: CopyIndex,
    private readonly opts: { maxTokens?: number; selection?: CopySelection } = {},
    table?: AcceptanceTable,
  ) {
    this.index = index ?? new CopyIndex();
    this.table = table ?? copyAcceptanceTable();
  }

  begin(prompt: ArrayLike<number>): void {
    this.index.reset(prompt);
    this.synced = 0;
  }

  /** The copy match for the current sequence (prompt + generated), after syncing the index. */
  match(ctx: DraftContext): CopyMatch | null {
    const gen = ctx.generated;
    // Accepted tokens are final: the index only ever grows during a request.
    if (this.synced < gen.length) {
      this.index.append(gen, this.synced);
      this.synced = gen.length;
    }
    return findCopy(this.index, Math.min(this.opts.maxTokens ?? DEFAULT_COPY_LENGTH, ctx.maxDepth), this.opts.selection);
  }

  propose(tree: DraftTree, ctx: DraftContext): void {
    const m = this.match(ctx);
    if (!m) return;
    const bucket = lengthBucket(m.matchLength);
    let p = 1;
    let at = 0;
    m.tokens.forEach((token, k) => {
      const slot = bucket * CHAIN_SLOTS + Math.min(k, CHAIN_SLOTS - 1);
      p *= this.table.rate(slot);
      at = tree.add(at, token, p, { drafter: this.name, slot });
    });
  }

  record(slot: number, hit: boolean): void {
    this.table.record(slot, hit);
  }
}
