// A character (byte) trie over the decoded vocabulary, used to compute in one walk which tokens
// keep "the identifier being typed" on the way to a legal name.
//
// The trie is implicit: token ids sorted by their bytes. A trie node at depth d is a range
// [lo, hi) of that order whose tokens share their first d bytes; its children are the sub-ranges
// with equal byte d (found by binary search), and the tokens that end at the node sort first.
// That costs one Int32Array [V] instead of ~500k node objects for a 150k vocabulary. Built once
// per tokenizer and cached.
//
// Working on bytes rather than decoded strings keeps tokens that hold part of a UTF-8 character
// exact: every byte >= 0x80 counts as an identifier byte (Python and JS allow non-ASCII names).

import type { TokenizerLike } from '../../engine/types';

export type IdentifierSyntax = 'python' | 'ecmascript' | 'c';

const identTables = new Map<IdentifierSyntax, Uint8Array>();

/** [256] 1 where the byte may appear inside an identifier of that language (one shared table per syntax: read only). */
export function identifierBytes(syntax: IdentifierSyntax): Uint8Array {
  const known = identTables.get(syntax);
  if (known) return known;
  const t = new Uint8Array(256);
  identTables.set(syntax, t);
  for (let b = 0; b < 256; b++) {
    const c = String.fromCharCode(b);
    t[b] = b >= 0x80 || /[A-Za-z0-9_]/.test(c) || (syntax === 'ecmascript' && (c === '$' || c === '#')) ? 1 : 0;
  }
  return t;
}

/** The legal names as a small byte trie (hundreds of names, so plain Maps are fine here). */
export class NameTrie {
  readonly children = new Map<number, NameTrie>();
  terminal = false;
  /** Nodes in the whole trie (set on the root by from()); picks the cheaper walk in allowIdentifier. */
  nodeCount = 1;

  static from(names: Iterable<string>, ident: Uint8Array): NameTrie {
    const root = new NameTrie();
    const enc = new TextEncoder();
    for (const name of names) {
      const b = enc.encode(name);
      // A "name" with a non-identifier byte cannot be typed as one identifier: skip it.
      if (b.length === 0 || b.some((x) => !ident[x])) continue;
      let n = root;
      for (const x of b) {
        let c = n.children.get(x);
        if (!c) {
          c = new NameTrie();
          n.children.set(x, c);
          root.nodeCount++;
        }
        n = c;
      }
      n.terminal = true;
    }
    return root;
  }

  /** The node reached by `bytes`, or null when no legal name starts with them. */
  walk(bytes: Uint8Array): NameTrie | null {
    let n: NameTrie | undefined = this;
    for (const b of bytes) {
      n = n.children.get(b);
      if (!n) return null;
    }
    return n;
  }
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

const cache = new WeakMap<object, VocabTrie>();

export class VocabTrie {
  /** Token ids with at least one byte, sorted by bytes. [n] */
  private readonly order: Int32Array;
  /** Bytes per id ([size]); empty for ids never produced. */
  private readonly bytes: Uint8Array[];
  /** [size] 1 for ids the monitors never mask (end/control tokens, empty ids). */
  readonly exempt: Uint8Array;
  readonly size: number;

  private constructor(tokenizer: Pick<TokenizerLike, 'size' | 'tokenBytes' | 'eosIds'>, special: Iterable<number>) {
    this.size = tokenizer.size;
    this.bytes = new Array<Uint8Array>(this.size);
    this.exempt = new Uint8Array(this.size);
    for (const id of tokenizer.eosIds) if (id < this.size) this.exempt[id] = 1;
    for (const id of special) if (id < this.size) this.exempt[id] = 1;
    const ids: number[] = [];
    for (let id = 0; id < this.size; id++) {
      const b = tokenizer.tokenBytes(id);
      this.bytes[id] = b;
      if (b.length === 0) this.exempt[id] = 1;
      if (!this.exempt[id]) ids.push(id);
    }
    ids.sort((x, y) => compareBytes(this.bytes[x], this.bytes[y]));
    this.order = Int32Array.from(ids);
  }

  /** The trie for a tokenizer, built on first use (~100 ms for 150k tokens) and cached. */
  static for(tokenizer: Pick<TokenizerLike, 'size' | 'tokenBytes' | 'eosIds'>): VocabTrie {
    let t = cache.get(tokenizer);
    if (!t) {
      const withSpecials = tokenizer as { specialIds?: ReadonlySet<number> };
      t = new VocabTrie(tokenizer, withSpecials.specialIds ?? []);
      cache.set(tokenizer, t);
    }
    return t;
  }

  tokenBytes(id: number): Uint8Array {
    return this.bytes[id];
  }

  /**
   * Marks allowed[id] = 1 for every token whose text, appended to `typed` (the identifier bytes
   * already written), either (a) consists of identifier bytes and keeps typed+token a prefix of a
   * legal name, or (b) completes a legal name and continues with a non-identifier byte.
   *
   * Options:
   * - `lead`: the identifier has not started yet and must come after these bytes (`.` after a
   *   receiver, ` ` after `return`). Tokens that do not start with `lead` are outside the rule
   *   and allowed; tokens that are a prefix of `lead` are allowed too. `typed` must be empty.
   * - `allowNumbers`: at the start of an identifier, tokens starting with a digit are a number
   *   literal, not a name: allowed.
   * - `allowBreakStart`: at the start (typed empty, no lead), tokens starting with a
   *   non-identifier byte are allowed (an operator or bracket instead of a name).
   * Returns how many tokens were marked.
   */
  allowIdentifier(
    typed: Uint8Array,
    names: NameTrie,
    ident: Uint8Array,
    allowed: Uint8Array,
    opts: { lead?: Uint8Array; allowNumbers?: boolean; allowBreakStart?: boolean; walk?: 'names' | 'tokens' } = {},
  ): number {
    let count = 0;
    const mark = (id: number): void => {
      if (!allowed[id]) {
        allowed[id] = 1;
        count++;
      }
    };
    const n = this.order.length;
    let lo = 0;
    let hi = n;
    let depth = 0;
    const lead = opts.lead ?? new Uint8Array(0);
    if (lead.length > 0) {
      // Narrow to tokens starting with the lead; everything else is outside the rule.
      for (let d = 0; d < lead.length; d++) {
        const [clo, chi] = this.childRange(lo, hi, d, lead[d], lead[d]);
        // Most of the vocabulary: plain loops (this runs for every receiver a completion names).
        count += this.markOrder(lo, clo, allowed) + this.markOrder(chi, hi, allowed);
        lo = clo;
        hi = chi;
        depth = d + 1;
        // Tokens that end inside the lead are a prefix of it.
        while (lo < hi && this.bytes[this.order[lo]].length === depth) mark(this.order[lo++]);
      }
    }
    const startDepth = depth;
    if (typed.length === 0) {
      if (opts.allowNumbers) {
        const [a, z] = this.childRange(lo, hi, depth, 0x30, 0x39);
        for (let i = a; i < z; i++) mark(this.order[i]);
      }
      if (opts.allowBreakStart) {
        for (let i = lo; i < hi; i++) {
          const b = this.bytes[this.order[i]];
          if (b.length > depth && !ident[b[depth]]) mark(this.order[i]);
        }
      }
    }
    const start = names.walk(typed);
    if (!start) return count;
    // Two walks give the same marks: down the name trie (binary-searching the token order at
    // each node: cheap for a few names), or along each token of the range (a few map lookups per
    // token: cheaper once the names outnumber the tokens, as for the scope monitor's thousands).
    const byTokens = opts.walk === 'tokens' || (opts.walk === undefined && typed.length === 0 && names.nodeCount * 8 > hi - lo);
    if (byTokens) {
      for (let i = lo; i < hi; i++) {
        const id = this.order[i];
        const b = this.bytes[id];
        if (b.length === depth) continue;
        let node: NameTrie | undefined = start;
        let k = depth;
        while (k < b.length && ident[b[k]] && node) {
          node = node.children.get(b[k]);
          k++;
        }
        if (!node) continue;
        // All identifier bytes: a prefix of a legal name. A break byte: only right after a complete name.
        if (k === b.length || node.terminal) mark(id);
      }
      return count;
    }
    const visit = (node: NameTrie, a: number, z: number, d: number): void => {
      let i = a;
      // Tokens ending exactly here spell a prefix of a legal name.
      while (i < z && this.bytes[this.order[i]].length === d) {
        if (d > startDepth) mark(this.order[i]);
        i++;
      }
      if (node.terminal) {
        // The name is complete: any token that continues with a break byte is fine. At depth 0
        // (typed is a whole name, no lead) that is every token starting with one: precomputed.
        if (d === 0) for (const id of this.breakStartIds(ident)) mark(id);
        else {
          for (let j = i; j < z; j++) {
            const id = this.order[j];
            if (!ident[this.bytes[id][d]]) mark(id);
          }
        }
      }
      for (const [b, child] of node.children) {
        const [clo, chi] = this.childRange(i, z, d, b, b);
        if (clo < chi) visit(child, clo, chi, d + 1);
      }
    };
    visit(start, lo, hi, depth);
    return count;
  }

  /** Ids (not exempt) whose first byte is not an identifier byte of `ident`, memoised per table. */
  private breakStartIds(ident: Uint8Array): Int32Array {
    let ids = this.breakStarts.get(ident);
    if (!ids) {
      const out: number[] = [];
      for (const id of this.order) if (!ident[this.bytes[id][0]]) out.push(id);
      ids = Int32Array.from(out);
      this.breakStarts.set(ident, ids);
    }
    return ids;
  }

  private readonly breakStarts = new WeakMap<Uint8Array, Int32Array>();

  /** Marks the ids at order positions [from, to); returns how many were not marked before. */
  private markOrder(from: number, to: number, allowed: Uint8Array): number {
    const order = this.order;
    let n = 0;
    for (let i = from; i < to; i++) {
      const id = order[i];
      n += 1 - allowed[id];
      allowed[id] = 1;
    }
    return n;
  }

  /** Marks every token that starts with `lead` followed by a byte in [first, last]. */
  allowAfterLead(lead: Uint8Array, first: number, last: number, allowed: Uint8Array): void {
    let lo = 0;
    let hi = this.order.length;
    for (let d = 0; d < lead.length; d++) [lo, hi] = this.childRange(lo, hi, d, lead[d], lead[d]);
    const [a, z] = this.childRange(lo, hi, lead.length, first, last);
    for (let i = a; i < z; i++) allowed[this.order[i]] = 1;
  }

  /** Ids (not exempt) whose bytes start with `prefix` (the token spelling `prefix` itself included). */
  idsStartingWith(prefix: Uint8Array): Int32Array {
    const [lo, hi] = this.prefixRange(prefix);
    return this.order.slice(lo, hi);
  }

  /** How many ids (not exempt) start with `prefix`. */
  countStartingWith(prefix: Uint8Array): number {
    const [lo, hi] = this.prefixRange(prefix);
    return hi - lo;
  }

  /** Ids (not exempt) spelling exactly a non-empty, strict prefix of `bytes`. */
  idsStrictPrefixOf(bytes: Uint8Array): number[] {
    const out: number[] = [];
    let lo = 0;
    let hi = this.order.length;
    for (let d = 0; d < bytes.length - 1; d++) {
      [lo, hi] = this.childRange(lo, hi, d, bytes[d], bytes[d]);
      // Tokens that end at depth d + 1 sort first in the range.
      for (let i = lo; i < hi && this.bytes[this.order[i]].length === d + 1; i++) out.push(this.order[i]);
    }
    return out;
  }

  /** The order range of ids starting with `prefix`. */
  private prefixRange(prefix: Uint8Array): [number, number] {
    let lo = 0;
    let hi = this.order.length;
    for (let d = 0; d < prefix.length && lo < hi; d++) [lo, hi] = this.childRange(lo, hi, d, prefix[d], prefix[d]);
    return [lo, hi];
  }

  /**
   * Ids (not exempt) whose bytes contain any of `chars` (ASCII); for the syntax monitor's checks.
   * Memoised per `chars` (a walk over the whole vocabulary, ~10 ms, that every request would repeat).
   */
  idsContaining(chars: string): Int32Array {
    let ids = this.containing.get(chars);
    if (!ids) {
      const set = new Uint8Array(256);
      for (const c of chars) set[c.charCodeAt(0)] = 1;
      const out: number[] = [];
      for (const id of this.order) if (this.bytes[id].some((b) => set[b])) out.push(id);
      ids = Int32Array.from(out);
      this.containing.set(chars, ids);
    }
    return ids;
  }

  private readonly containing = new Map<string, Int32Array>();

  /** Sub-range of [lo, hi) (all longer than `depth`) whose byte at `depth` lies in [first, last]. */
  private childRange(lo: number, hi: number, depth: number, first: number, last: number): [number, number] {
    let a = lo;
    let z = hi;
    while (a < z) {
      const m = (a + z) >>> 1;
      if (this.byteAt(m, depth) < first) a = m + 1;
      else z = m;
    }
    const from = a;
    z = hi;
    while (a < z) {
      const m = (a + z) >>> 1;
      if (this.byteAt(m, depth) <= last) a = m + 1;
      else z = m;
    }
    return [from, a];
  }

  /** Byte `depth` of the token at order position `i`, -1 past its end. */
  private byteAt(i: number, depth: number): number {
    const b = this.bytes[this.order[i]];
    return b.length > depth ? b[depth] : -1;
  }
}
