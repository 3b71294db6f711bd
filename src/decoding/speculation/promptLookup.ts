// The existing-practice baseline: llama.cpp-style prompt-lookup (n-gram) drafting, as in
// llama.cpp's `lookup` example with its context n-gram cache. For every n = 1…4, the cache
// counts which token followed each n-gram of the context (prompt + generated). A draft grows
// one token at a time: the longest n-gram ending at the current end whose most frequent
// continuation passes the "lax" thresholds (at least 2, 2, 1, 1 occurrences and 66, 50, 50, 50 %
// of them for n = 1…4) gives the next token; drafting stops at the first miss or at n_draft
// tokens. No static corpus cache (there is none to ship) and no planner: a fixed chain, verified
// by the same tree verifier (a one-branch tree).

import type { DraftContext, Drafter } from './verify';
import { DraftTree } from './tree';

export const NGRAM_MAX = 4;
const MIN_SAMPLES = [2, 2, 1, 1];
const MIN_PERCENT = [66, 50, 50, 50];

/** A node of the reversed-context trie: the n-gram ending in the tokens on the way down. */
interface GramNode {
  /** Previous token → longer n-gram. */
  longer: Map<number, GramNode>;
  /** Following token → count. */
  counts: Map<number, number>;
  total: number;
  best: number;
  bestCount: number;
}

function gramNode(): GramNode {
  return { longer: new Map(), counts: new Map(), total: 0, best: -1, bestCount: 0 };
}

export class PromptLookupDrafter implements Drafter {
  readonly name = 'prompt-lookup';
  private root = gramNode();
  private seq: number[] = [];
  private synced = 0;

  constructor(private readonly nDraft = 8) {}

  begin(prompt: ArrayLike<number>): void {
    // The context cache belongs to one generation (llama.cpp rebuilds it per prompt).
    this.root = gramNode();
    this.seq = [];
    this.synced = 0;
    for (let i = 0; i < prompt.length; i++) this.push(prompt[i]);
  }

  draft(root: number, ctx: DraftContext): DraftTree {
    const gen = ctx.generated;
    while (this.synced < gen.length) this.push(gen[this.synced++]);
    const tree = new DraftTree(root);
    const draft: number[] = [];
    const limit = Math.min(this.nDraft, ctx.maxDepth);
    while (draft.length < limit) {
      const next = this.lookup(draft);
      if (next < 0) break;
      draft.push(next);
    }
    tree.addPath(0, draft, draft.map(() => 1));
    return tree;
  }

  /** The drafted token after seq + draft, or -1. */
  private lookup(draft: readonly number[]): number {
    const at = (back: number): number => (back <= draft.length ? draft[draft.length - back] : this.seq[this.seq.length - (back - draft.length)]);
    const avail = this.seq.length + draft.length;
    const path: GramNode[] = [];
    let node = this.root;
    for (let n = 1; n <= NGRAM_MAX && n <= avail; n++) {
      const child = node.longer.get(at(n));
      if (!child) break;
      path.push(child);
      node = child;
    }
    for (let n = path.length; n >= 1; n--) {
      const g = path[n - 1];
      if (g.total < MIN_SAMPLES[n - 1] || 100 * g.bestCount < MIN_PERCENT[n - 1] * g.total) continue;
      return g.best;
    }
    return -1;
  }

  /** Appends a token, counting it as the continuation of the 1…4 n-grams before it. */
  private push(token: number): void {
    const s = this.seq;
    let node = this.root;
    for (let n = 1; n <= NGRAM_MAX && n <= s.length; n++) {
      const prev = s[s.length - n];
      let child = node.longer.get(prev);
      if (!child) {
        child = gramNode();
        node.longer.set(prev, child);
      }
      const c = (child.counts.get(token) ?? 0) + 1;
      child.counts.set(token, c);
      child.total++;
      if (c > child.bestCount) {
        child.bestCount = c;
        child.best = token;
      }
      node = child;
    }
    s.push(token);
  }
}
