// Sizing a draft tree by measurement. A verification forward over q rows costs t(q) (on a 2-core
// CPU a big tree is compute-bound: see DEFAULT_FORWARD_MS) and yields 1 + Σ P(node accepted)
// tokens on average: every accepted node plus the bonus token chosen at the deepest one. The
// planner keeps the nodes with the best estimates and picks the count that maximises expected
// tokens per millisecond. Estimates come from acceptance statistics the drafters keep per node
// class (depth × rank for recycling, chain index for CopySpec), learnt online.

import { DraftTree } from './tree';
import type { DraftContext, Drafter } from './verify';

/** Milliseconds of one verification forward of `rows` rows against `past` cached slots. */
export type ForwardCost = (rows: number, past: number) => number;

/**
 * Forward latency of the default model (30M Qwen2, vocab 15,232) with a tree bias and logits
 * for every row, ms: medians of 15 forwards on the 2-core AVX-512 dev machine while it was
 * quiet (load ≈ 1; q = 12, 24, 48 interpolated). `slipstream bench speculation` repeats the
 * measurement (qLatency). Rows: past length; columns: qs. The planner uses the shape (what a
 * row costs relative to the forward), which holds for models of similar width on 2 cores.
 */
export const DEFAULT_FORWARD_MS: { pasts: readonly number[]; qs: readonly number[]; ms: readonly (readonly number[])[] } = {
  pasts: [512, 2048],
  qs: [1, 2, 4, 8, 12, 16, 24, 32, 48, 64],
  ms: [
    [6.6, 7.65, 8.3, 10.7, 13.2, 15.7, 22.5, 29.5, 42.5, 55.8],
    [8.6, 9.4, 11.05, 14.5, 19.0, 23.6, 33.8, 44.0, 60.0, 76.0],
  ],
};

/** Piecewise-linear interpolation of a latency table (clamped at both ends in past; linear beyond the last q). */
export function tableCost(table: typeof DEFAULT_FORWARD_MS): ForwardCost {
  const { pasts, qs, ms } = table;
  const alongQ = (row: readonly number[], q: number): number => {
    if (q <= qs[0]) return row[0];
    for (let i = 1; i < qs.length; i++) {
      if (q <= qs[i]) return row[i - 1] + ((row[i] - row[i - 1]) * (q - qs[i - 1])) / (qs[i] - qs[i - 1]);
    }
    const n = qs.length - 1;
    return row[n] + ((row[n] - row[n - 1]) * (q - qs[n])) / (qs[n] - qs[n - 1]);
  };
  return (rows, past) => {
    if (past <= pasts[0]) return alongQ(ms[0], rows);
    for (let i = 1; i < pasts.length; i++) {
      if (past <= pasts[i]) {
        const a = alongQ(ms[i - 1], rows);
        const b = alongQ(ms[i], rows);
        return a + ((b - a) * (past - pasts[i - 1])) / (pasts[i] - pasts[i - 1]);
      }
    }
    return alongQ(ms[ms.length - 1], rows);
  };
}

export const defaultForwardCost: ForwardCost = tableCost(DEFAULT_FORWARD_MS);

export interface PlanOptions {
  cost: ForwardCost;
  /** Cached slots the forward attends to. */
  past: number;
  /** Most rows (root included). */
  maxRows: number;
  /** JS work per drafted row (logits scan for recycling, chooser), ms. Default 0.02. */
  perRowMs?: number;
  /**
   * The throughput decoding already achieves, tokens per ms. Given, the planner maximises
   * expected tokens − throughput × ms (a node is worth its row when it brings more tokens than
   * that time would bring at the usual rate: what maximises total tokens / total time); omitted,
   * this forward's own tokens per ms.
   */
  throughput?: number;
}

/** What the planner decided, for the statistics. */
export interface Plan {
  tree: DraftTree;
  /** Expected tokens this forward yields (1 + Σ estimates of the kept nodes). */
  expectedTokens: number;
  expectedMs: number;
}

/**
 * Keeps the nodes of `tree` that pay for their rows: the best-estimated ones first (a child
 * never scores above its parent, so every prefix of that order is a tree), as many as maximise
 * expected tokens per millisecond (see PlanOptions.throughput).
 */
export function planTree(tree: DraftTree, opts: PlanOptions): Plan {
  const perRow = opts.perRowMs ?? 0.02;
  const order: number[] = [];
  for (let i = 1; i < tree.size; i++) if (tree.estimates[i] > 0) order.push(i);
  order.sort((a, b) => tree.estimates[b] - tree.estimates[a] || a - b);
  const limit = Math.min(order.length, Math.max(0, opts.maxRows - 1));
  const msFor = (rows: number): number => opts.cost(rows, opts.past) + perRow * (rows - 1);
  const lambda = opts.throughput;
  const valueOf = (tokens: number, ms: number): number => (lambda === undefined ? tokens / ms : tokens - lambda * ms);
  let best = 0;
  let bestMs = msFor(1);
  let bestValue = valueOf(1, bestMs);
  let sum = 0;
  for (let k = 0; k < limit; k++) {
    sum += tree.estimates[order[k]];
    const ms = msFor(k + 2);
    const value = valueOf(1 + sum, ms);
    if (value > bestValue) {
      bestValue = value;
      best = k + 1;
      bestMs = ms;
    }
  }
  // Estimates are monotone along paths, so the prefix is parent-closed; close it anyway so a
  // drafter's odd estimate cannot make an invalid tree.
  const keep = new Set<number>();
  for (let k = 0; k < best; k++) for (let n = order[k]; n > 0 && !keep.has(n); n = tree.parents[n]) keep.add(n);
  const out = keep.size === tree.size - 1 ? tree : tree.subtree(keep);
  let expected = 1;
  for (let i = 1; i < out.size; i++) expected += out.estimates[i];
  return { tree: out, expectedTokens: expected, expectedMs: bestMs };
}

/**
 * Online acceptance rates of node classes ("slots"): P(node accepted | its parent was),
 * as a Beta posterior mean over a prior. Counts halve past `horizon` tries so the rates follow
 * the current document and model rather than the whole history.
 */
export class AcceptanceTable {
  private readonly tries: Float64Array;
  private readonly hits: Float64Array;

  constructor(
    readonly slots: number,
    private readonly prior: (slot: number) => number,
    private readonly strength = 4,
    private readonly horizon = 2000,
  ) {
    this.tries = new Float64Array(slots);
    this.hits = new Float64Array(slots);
  }

  rate(slot: number): number {
    const s = Math.min(Math.max(0, slot), this.slots - 1);
    return (this.hits[s] + this.strength * this.prior(s)) / (this.tries[s] + this.strength);
  }

  record(slot: number, hit: boolean): void {
    const s = Math.min(Math.max(0, slot), this.slots - 1);
    this.tries[s]++;
    if (hit) this.hits[s]++;
    if (this.tries[s] > this.horizon) {
      this.tries[s] /= 2;
      this.hits[s] /= 2;
    }
  }

  /** Observed tries of a slot (after decay). */
  triesOf(slot: number): number {
    return this.tries[Math.min(Math.max(0, slot), this.slots - 1)];
  }
}

/**
 * The acceptance outcome of one verification: calls `record(node, hit)` for every drafted node
 * whose parent was accepted (those are the ones the model actually judged); `path` is the
 * accepted path from the root.
 */
export function judgedNodes(tree: DraftTree, path: readonly number[], record: (node: number, hit: boolean) => void): void {
  const onPath = new Set(path);
  for (let i = 1; i < tree.size; i++) if (onPath.has(tree.parents[i])) record(i, onPath.has(i));
}

/** One drafter inside a PlannedDrafter: adds candidate nodes with estimates and its own statistics slots. */
export interface DraftSource {
  readonly name: string;
  begin?(prompt: ArrayLike<number>): void;
  /** Adds candidates below the tree's nodes (tagged with this source's name and slots). */
  propose(tree: DraftTree, ctx: DraftContext): void;
  observeLogits?(tree: DraftTree, logits: Float32Array, vocab: number): void;
  /** A node of this source in `slot` was judged: accepted or not, its parent having been accepted. */
  record(slot: number, hit: boolean): void;
  /** After a forward's record() calls. */
  settle?(): void;
}

export interface PlannedDrafterOptions {
  cost?: ForwardCost;
  /** Plan against the throughput achieved so far (default true; false: each forward's own tokens per ms). */
  global?: boolean;
  /** Most rows per forward, root included (default 64). */
  maxRows?: number;
  perRowMs?: number;
}

/** Planning statistics of a PlannedDrafter (over its lifetime). */
export interface PlannerStats {
  forwards: number;
  /** Σ expected tokens per forward, as planned. */
  expectedTokens: number;
  /** Σ rows planned. */
  rows: number;
}

/**
 * Drafts with several sources into one tree (earlier sources first: later ones see their nodes,
 * merge into them and share what probability is left), then keeps what pays (planTree).
 */
export class PlannedDrafter implements Drafter {
  readonly name: string;
  readonly stats: PlannerStats = { forwards: 0, expectedTokens: 0, rows: 0 };
  private readonly byName: Map<string, DraftSource>;
  /** Tokens and modelled ms of recent forwards (decayed), for the achieved throughput. */
  private readonly achieved: { tokens: number; ms: number };
  private lastMs = 0;

  constructor(
    private readonly sources: readonly DraftSource[],
    private readonly opts: PlannedDrafterOptions = {},
    name?: string,
    achieved?: { tokens: number; ms: number },
  ) {
    this.name = name ?? sources.map((s) => s.name).join('+');
    this.byName = new Map(sources.map((s) => [s.name, s]));
    this.achieved = achieved ?? { tokens: 0, ms: 0 };
  }

  begin(prompt: ArrayLike<number>): void {
    for (const s of this.sources) s.begin?.(prompt);
  }

  draft(root: number, ctx: DraftContext): DraftTree {
    const tree = new DraftTree(root);
    if (ctx.maxDepth > 0) for (const s of this.sources) s.propose(tree, ctx);
    const cost = this.opts.cost ?? defaultForwardCost;
    const a = this.achieved;
    // Until something is learnt, the throughput of plain decoding.
    const throughput = this.opts.global === false ? undefined : a.ms > 0 ? a.tokens / a.ms : 1 / cost(1, ctx.past);
    const plan = planTree(tree, { cost, past: ctx.past, maxRows: this.opts.maxRows ?? 64, perRowMs: this.opts.perRowMs, throughput });
    this.lastMs = plan.expectedMs;
    this.stats.forwards++;
    this.stats.expectedTokens += plan.expectedTokens;
    this.stats.rows += plan.tree.size;
    return plan.tree;
  }

  observeLogits(tree: DraftTree, logits: Float32Array, vocab: number): void {
    for (const s of this.sources) s.observeLogits?.(tree, logits, vocab);
  }

  observeAcceptance(tree: DraftTree, path: readonly number[]): void {
    judgedNodes(tree, path, (node, hit) => {
      for (const src of tree.sources[node]) this.byName.get(src.drafter)?.record(src.slot, hit);
    });
    for (const s of this.sources) s.settle?.();
    // Achieved throughput in modelled time (load on the machine must not steer the plan).
    const a = this.achieved;
    a.tokens = 0.98 * a.tokens + path.length;
    a.ms = 0.98 * a.ms + this.lastMs;
  }
}
