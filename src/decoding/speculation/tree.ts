// A draft tree: the pending token (already chosen, not yet in the cache) at the root, drafted
// continuations below it. It is a trie: two drafters proposing the same continuation share the
// node. Verification runs every node in one forward; each node sees the whole cache, its
// ancestors and itself (the tree attention bias), at position root position + depth, which is
// exactly where the node would sit if its path were decoded one token at a time.
//
// Nodes are stored parents-first (a child is always added after its parent), so any subset
// closed under "parent of" keeps that order, and row i of the forward is node i.

/** Who proposed a node (several, once drafts merge): keys the acceptance statistics. */
export interface NodeSource {
  /** Drafter name, e.g. 'copyspec', 'recycling'. */
  drafter: string;
  /** The drafter's statistics class for this node (e.g. depth × rank), or -1 for none. */
  slot: number;
}

export class DraftTree {
  /** [size] token id per node; node 0 is the root. */
  readonly tokens: number[];
  /** [size] parent node index; -1 for the root. */
  readonly parents: number[];
  /** [size] depth below the root (root 0). */
  readonly depths: number[];
  /**
   * [size] estimated probability that the node ends up on the accepted path (root 1). Drafters
   * set it; the planner keeps the nodes worth their forward cost.
   */
  readonly estimates: number[];
  /** [size] the drafters that proposed each node (empty for the root). */
  readonly sources: NodeSource[][];
  /** Per node: child token → child index. */
  private readonly children: Map<number, number>[];

  constructor(root: number) {
    this.tokens = [root];
    this.parents = [-1];
    this.depths = [0];
    this.estimates = [1];
    this.sources = [[]];
    this.children = [new Map()];
  }

  get size(): number {
    return this.tokens.length;
  }

  get root(): number {
    return this.tokens[0];
  }

  /** Child of `node` carrying `token`, or -1. */
  childOf(node: number, token: number): number {
    return this.children[node].get(token) ?? -1;
  }

  /** Children of `node`, in insertion order. */
  childrenOf(node: number): number[] {
    return [...this.children[node].values()];
  }

  /**
   * The child of `parent` with `token`, created when absent. A merged node keeps the highest
   * estimate and records every source.
   */
  add(parent: number, token: number, estimate: number, source?: NodeSource): number {
    if (!Number.isInteger(parent) || parent < 0 || parent >= this.size) throw new RangeError(`parent ${parent} outside [0, ${this.size})`);
    if (!Number.isInteger(token) || token < 0) throw new RangeError(`token ${token} is not a token id`);
    let node = this.children[parent].get(token);
    if (node === undefined) {
      node = this.tokens.length;
      this.tokens.push(token);
      this.parents.push(parent);
      this.depths.push(this.depths[parent] + 1);
      this.estimates.push(estimate);
      this.sources.push([]);
      this.children.push(new Map());
      this.children[parent].set(token, node);
    } else if (estimate > this.estimates[node]) {
      this.estimates[node] = estimate;
    }
    if (source) this.sources[node].push(source);
    return node;
  }

  /** Adds `tokens` as a chain below `parent` (merging with existing nodes); returns the node indices. */
  addPath(parent: number, tokens: readonly number[], estimates?: readonly number[], source?: (i: number) => NodeSource): number[] {
    const out: number[] = [];
    let at = parent;
    tokens.forEach((t, i) => {
      at = this.add(at, t, estimates?.[i] ?? 0, source?.(i));
      out.push(at);
    });
    return out;
  }

  /** Node indices from the root to `node`, both included. */
  pathTo(node: number): number[] {
    const path: number[] = [];
    for (let n = node; n >= 0; n = this.parents[n]) path.push(n);
    return path.reverse();
  }

  /** Whether `a` is `b` or one of its ancestors. */
  isAncestorOrSelf(a: number, b: number): boolean {
    for (let n = b; n >= 0; n = this.parents[n]) if (n === a) return true;
    return false;
  }

  /**
   * A new tree with only the listed nodes (and the root), which must be closed under "parent
   * of". Order, tokens, estimates and sources are kept.
   */
  subtree(keep: Iterable<number>): DraftTree {
    const kept = new Set<number>(keep);
    kept.add(0);
    const out = new DraftTree(this.root);
    const map = new Int32Array(this.size).fill(-1);
    map[0] = 0;
    for (let i = 1; i < this.size; i++) {
      if (!kept.has(i)) continue;
      const p = map[this.parents[i]];
      if (p < 0) throw new RangeError(`subtree: node ${i} kept without its parent ${this.parents[i]}`);
      const j = out.add(p, this.tokens[i], this.estimates[i]);
      out.sources[j].push(...this.sources[i]);
      map[i] = j;
    }
    return out;
  }

  /** [size] RoPE positions of the nodes when the root takes `rootPosition`. */
  positions(rootPosition: number): number[] {
    return this.depths.map((d) => rootPosition + d);
  }

  /**
   * The additive attention bias [size, past + size] (row-major, 0 = attend, -Infinity = masked)
   * for Model.forward: every row sees the `past` cached slots, its ancestors and itself.
   */
  bias(past: number): Float32Array {
    const q = this.size;
    const W = past + q;
    const out = new Float32Array(q * W); // zeros: the past is visible to every row
    for (let i = 0; i < q; i++) {
      const row = i * W + past;
      out.fill(Number.NEGATIVE_INFINITY, row, row + q);
      for (let n = i; n >= 0; n = this.parents[n]) out[row + n] = 0;
    }
    return out;
  }
}
