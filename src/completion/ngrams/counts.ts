// Exact n-gram counts over token ids, in bounded memory: the n-gram model superposed decoding
// scores drafts with (decoding/superposed/). Counted from the workspace, not shipped: the paper's
// web-scale n-grams are not an option for an editor extension.
//
// Storage: a trie kept in one open-addressing hash table. Entry e stands for the m-gram
// (its parent's (m−1)-gram) + token[e], so an n-gram key is the pair (parent entry, token) and
// every gram is stored exactly (no hashing of the tokens themselves: collisions cost probes,
// never wrong counts). Per entry:
//   count      occurrences of the m-gram
//   followers  occurrences of the m-gram followed by another token (the denominator of
//              P(token | m-gram); differs from count at the ends of sequences)
// Memory (the bound): BYTES_PER_ENTRY × maxEntries = 25 B per entry (4 × int32 + order byte +
// two int32 hash slots), 13.1 MB at the default 2^19 entries, allocated up front.
//
// Removing a sequence subtracts exactly what adding it added, so add(a); add(b); remove(a)
// gives the counts of b alone. Entries whose count reaches 0 stay until the table fills up,
// then a rebuild drops them. If live entries still fill it, the rarest long grams are pruned
// (count ≤ θ at order ≥ m, m from the top order down, θ doubling): every occurrence of a gram is
// also one of its prefix, so a child never counts more than its parent and such a cut always
// removes whole subtrees. After a prune the counts of surviving entries stay right for what was
// added since they were created, and `exact` turns false.

export const DEFAULT_MAX_ORDER = 6;
export const DEFAULT_MAX_ENTRIES = 1 << 19;
/** 4 int32 columns + 1 order byte per entry, and 2 int32 hash slots per entry. */
export const BYTES_PER_ENTRY = 4 * 4 + 1 + 2 * 4;

export interface NgramCountsOptions {
  /** Longest gram counted (default 6). */
  maxOrder?: number;
  /** Most trie entries (default 2^19): the memory bound, BYTES_PER_ENTRY each. */
  maxEntries?: number;
}

const EMPTY = -1;

export class NgramCounts {
  readonly maxOrder: number;
  readonly maxEntries: number;
  private parent: Int32Array;
  private token: Int32Array;
  private cnt: Int32Array;
  private fol: Int32Array;
  private order: Uint8Array;
  /** [capacity] entry index, or EMPTY. Capacity = 2 × maxEntries (load ≤ 1/2). */
  private slots: Int32Array;
  private mask: number;
  private used = 0;
  private pruned = false;

  constructor(opts: NgramCountsOptions = {}) {
    this.maxOrder = opts.maxOrder ?? DEFAULT_MAX_ORDER;
    if (!Number.isInteger(this.maxOrder) || this.maxOrder < 1 || this.maxOrder > 255) throw new RangeError(`maxOrder must be an integer in 1…255, got ${this.maxOrder}`);
    const want = opts.maxEntries ?? DEFAULT_MAX_ENTRIES;
    if (!Number.isInteger(want) || want < 16) throw new RangeError(`maxEntries must be an integer ≥ 16, got ${want}`);
    this.maxEntries = want;
    this.parent = new Int32Array(want);
    this.token = new Int32Array(want);
    this.cnt = new Int32Array(want);
    this.fol = new Int32Array(want);
    this.order = new Uint8Array(want);
    let cap = 1;
    while (cap < 2 * want) cap <<= 1;
    this.slots = new Int32Array(cap).fill(EMPTY);
    this.mask = cap - 1;
  }

  /** Trie entries in use (zero-count ones included until the next rebuild). */
  get entries(): number {
    return this.used;
  }

  /** False once a prune dropped rare grams to stay within maxEntries. */
  get exact(): boolean {
    return !this.pruned;
  }

  /** Bytes held by the table (fixed: the bound). */
  bytes(): number {
    return this.parent.byteLength * 4 + this.order.byteLength + this.slots.byteLength;
  }

  /** Counts every m-gram (m = 1 … maxOrder) that starts in tokens[start, end). */
  add(tokens: ArrayLike<number>, start = 0, end = tokens.length): void {
    this.update(tokens, start, end, 1);
  }

  /** Subtracts what add() with the same arguments added. */
  remove(tokens: ArrayLike<number>, start = 0, end = tokens.length): void {
    this.update(tokens, start, end, -1);
  }

  /** Occurrences of `gram` (1 … maxOrder tokens); 0 when unseen. */
  count(gram: ArrayLike<number>): number {
    const e = this.find(gram, 0, gram.length);
    return e < 0 ? 0 : this.cnt[e];
  }

  /** Occurrences of `context` followed by some token: Σ_t count(context + t). */
  followers(context: ArrayLike<number>, start = 0, end = context.length): number {
    const e = this.find(context, start, end);
    return e < 0 ? 0 : this.fol[e];
  }

  /**
   * P(token | seq[end − (n − 1), end)) by maximum likelihood, for the order n = length + 1;
   * NaN when the context was never followed by anything (no information).
   */
  conditional(seq: ArrayLike<number>, end: number, contextLength: number, token: number): number {
    const e = this.find(seq, end - contextLength, end);
    if (e < 0 || this.fol[e] <= 0) return Number.NaN;
    const c = this.child(e, token);
    return c < 0 ? 0 : this.cnt[c] / this.fol[e];
  }

  /**
   * For every context length 1 … maxOrder − 1 at the end of seq[0, end): its entry (or -1).
   * Callers that score many candidate tokens after the same context look the context up once.
   */
  contexts(seq: ArrayLike<number>, end: number): Int32Array {
    const out = new Int32Array(this.maxOrder).fill(-1); // [maxOrder], index = context length
    for (let len = 1; len < this.maxOrder && len <= end; len++) out[len] = this.find(seq, end - len, end);
    return out;
  }

  /** Continuation count of a context entry from contexts(). */
  followersOf(entry: number): number {
    return entry < 0 ? 0 : this.fol[entry];
  }

  /** Count of (context entry + token); 0 when unseen. */
  countAfter(entry: number, token: number): number {
    if (entry < 0) return 0;
    const c = this.child(entry, token);
    return c < 0 ? 0 : this.cnt[c];
  }

  clear(): void {
    this.slots.fill(EMPTY);
    this.used = 0;
    this.pruned = false;
  }

  private update(tokens: ArrayLike<number>, start: number, end: number, sign: 1 | -1): void {
    const n = tokens.length;
    if (start < 0 || end > n || start > end) throw new RangeError(`range [${start}, ${end}) outside [0, ${n}]`);
    for (let i = start; i < end; i++) {
      // Room for one whole walk first, so that entry numbers stay put during it.
      if (sign > 0 && this.used + this.maxOrder > this.maxEntries) this.rebuild();
      let e = -1;
      const last = Math.min(n, i + this.maxOrder);
      for (let j = i; j < last; j++) {
        const t = tokens[j];
        if (!Number.isInteger(t) || t < 0) throw new RangeError(`token ${t} at ${j} is not a token id`);
        let c = this.child(e, t);
        if (c < 0) {
          if (sign < 0) {
            // Pruned: this occurrence still counted as a follower of its context when added.
            if (e >= 0 && this.fol[e] > 0) this.fol[e]--;
            break;
          }
          c = this.insert(e, t, j - i + 1);
        }
        this.cnt[c] = Math.max(0, this.cnt[c] + sign);
        if (e >= 0) this.fol[e] = Math.max(0, this.fol[e] + sign);
        e = c;
      }
    }
  }

  /** Entry for seq[start, end), or -1. The empty range is the (virtual) root -1. */
  private find(seq: ArrayLike<number>, start: number, end: number): number {
    if (start < 0 || end - start > this.maxOrder) return -1;
    let e = -1;
    for (let j = start; j < end; j++) {
      e = this.child(e, seq[j]);
      if (e < 0) return -1;
    }
    return end > start ? e : -1;
  }

  private hash(parent: number, token: number): number {
    let h = Math.imul(parent + 1, 0x9e3779b1) ^ Math.imul(token, 0x85ebca6b);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 13;
    return h & this.mask;
  }

  private child(parent: number, token: number): number {
    for (let s = this.hash(parent, token); ; s = (s + 1) & this.mask) {
      const e = this.slots[s];
      if (e === EMPTY) return -1;
      if (this.parent[e] === parent && this.token[e] === token) return e;
    }
  }

  private insert(parent: number, token: number, order: number): number {
    const e = this.used++;
    this.parent[e] = parent;
    this.token[e] = token;
    this.cnt[e] = 0;
    this.fol[e] = 0;
    this.order[e] = order;
    let s = this.hash(parent, token);
    while (this.slots[s] !== EMPTY) s = (s + 1) & this.mask;
    this.slots[s] = e;
    return e;
  }

  /**
   * Drops zero-count entries; when live ones would still fill more than 3/4 of the table,
   * prunes rare long grams (file comment) until a quarter is free.
   */
  private rebuild(): void {
    const keep = new Uint8Array(this.used);
    let live = 0;
    for (let e = 0; e < this.used; e++) {
      // A zero-count entry's descendants are zero too (they never count more than it).
      if (this.cnt[e] > 0) {
        keep[e] = 1;
        live++;
      }
    }
    const target = Math.floor(this.maxEntries * 0.75);
    for (let theta = 1; live > target; theta *= 2) {
      for (let m = this.maxOrder; m >= 1 && live > target; m--) {
        for (let e = 0; e < this.used; e++) {
          if (keep[e] && this.order[e] >= m && this.cnt[e] <= theta) {
            keep[e] = 0;
            live--;
            this.pruned = true;
          }
        }
      }
      if (theta > 1 << 30) break;
    }
    // Entries are created parents first, so one pass in index order remaps parents before children.
    const remap = new Int32Array(this.used).fill(-1);
    this.slots.fill(EMPTY);
    let n = 0;
    for (let e = 0; e < this.used; e++) {
      if (!keep[e]) continue;
      const p = this.parent[e] < 0 ? -1 : remap[this.parent[e]];
      if (this.parent[e] >= 0 && p < 0) continue; // its parent was dropped (cannot happen by the rule; kept safe)
      remap[e] = n;
      this.parent[n] = p;
      this.token[n] = this.token[e];
      this.cnt[n] = this.cnt[e];
      this.fol[n] = this.fol[e];
      this.order[n] = this.order[e];
      let s = this.hash(p, this.token[n]);
      while (this.slots[s] !== EMPTY) s = (s + 1) & this.mask;
      this.slots[s] = n;
      n++;
    }
    this.used = n;
  }
}
