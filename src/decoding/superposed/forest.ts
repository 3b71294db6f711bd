// Exact decoding of several drafts at once through one shared KV cache ("lanes"): every forward
// runs one row per draft (its pending token), or with speculation a draft tree per draft, all
// in one forward. The shared cache holds the prompt, then the drafts' own slots interleaved;
// the attention bias lets each row see the prompt, its own draft's slots and its tree
// ancestors, and nothing of the other drafts. So each draft is decoded exactly as it would be
// alone (same positions, same visible K/V), for about the price of one (a forward of 3–12 rows
// costs 1.03–1.5× a forward of one on this CPU: bench/results/speculation.md).
//
// The cache is borrowed: callers truncate it back to the prompt when they are done.

import type { KvCache } from '../../engine/kvCache';
import type { ForwardResult } from '../../engine/types';
import { GenerationRecorder, type GenerateOptions, type GenerationResult, type StepModel } from '../generate';
import type { GenerationConfig } from '../generationConfig';
import type { TokenChooser } from '../sampling';
import { DraftTree } from '../speculation/tree';
import { gatherKvRows, type Drafter } from '../speculation/verify';

/** One draft being decoded. */
export class Lane {
  readonly recorder: GenerationRecorder;
  /** Cache slots of this draft's tokens that are in the cache, in order. */
  readonly slots: number[] = [];
  /** Σ exact log-probabilities of the chosen tokens. */
  logp = 0;
  /** Set once a stopping rule fired. */
  done: GenerationResult | null = null;
  /** Tokens that came from a superposed draft (kept by verification). */
  superposed = 0;
  /** Given up before it stopped (it ran past the lead lane's budget): not a draft. */
  dropped = false;

  constructor(
    config: GenerationConfig,
    options: Pick<GenerateOptions, 'tokenizer' | 'criteria' | 'onToken'>,
    readonly drafter?: Drafter,
  ) {
    this.recorder = new GenerationRecorder(config, options);
  }

  get tokens(): number[] {
    return this.recorder.tokens;
  }

  /** Records a chosen token with its log-probability; false once the draft is finished. */
  push(token: number, logp: number): boolean {
    if (this.done) return false;
    this.logp += logp;
    this.done = this.recorder.push(token);
    return this.done === null;
  }

  result(): GenerationResult {
    return this.done ?? this.recorder.cancelled();
  }
}

/** Log-probability of `token` in a row of logits (log-softmax), -Infinity when it is masked. */
export function logProbOf(row: Float32Array, token: number): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < row.length; i++) if (row[i] > max) max = row[i];
  if (max === Number.NEGATIVE_INFINITY) return Number.NEGATIVE_INFINITY;
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
  return row[token] - max - Math.log(sum);
}

export interface ForestContext {
  model: StepModel;
  cache: KvCache;
  /** Cache slots [0, promptLength) are the prompt every draft sees. */
  promptLength: number;
  /** Position of the first generated token. */
  base: number;
  prompt: Int32Array;
  config: GenerationConfig;
  signal?: AbortSignal;
}

/** What a walk along a lane's tree decides at each node. */
export type LaneWalker = (lane: Lane, tree: DraftTree, row: (node: number) => Float32Array, position: (node: number) => number) => number[];

/** Forward accounting for the statistics. */
export interface ForestStats {
  forwards: number;
  rows: number;
}

/**
 * One forward over the trees of the given lanes (each rooted at its pending token, the last
 * of lane.tokens), then `walk` per lane decides the accepted path (node indices from the root)
 * and pushes the tokens it chose; the accepted nodes' K/V are appended to the cache for that
 * lane. Returns false when cancelled.
 */
export async function forestForward(fc: ForestContext, lanes: readonly Lane[], trees: readonly DraftTree[], walk: LaneWalker, stats: ForestStats): Promise<boolean> {
  const { model, cache, promptLength, base } = fc;
  const past = cache.length;
  const offsets: number[] = [];
  let q = 0;
  for (const t of trees) {
    offsets.push(q);
    q += t.size;
  }
  const tokens = new Array<number>(q);
  const positions = new Array<number>(q);
  const W = past + q;
  const bias = new Float32Array(q * W).fill(Number.NEGATIVE_INFINITY); // [q, past + q]
  lanes.forEach((lane, l) => {
    const tree = trees[l];
    const rootPosition = base + lane.tokens.length - 1;
    for (let i = 0; i < tree.size; i++) {
      const r = offsets[l] + i;
      tokens[r] = tree.tokens[i];
      positions[r] = rootPosition + tree.depths[i];
      const row = r * W;
      bias.fill(0, row, row + promptLength);
      for (const s of lane.slots) bias[row + s] = 0;
      for (let n = i; n >= 0; n = tree.parents[n]) bias[row + past + offsets[l] + n] = 0;
    }
  });
  let step: ForwardResult;
  try {
    step = await model.forward(cache, { embeds: model.embed(tokens), positions, bias, logitRows: 'all', signal: fc.signal });
  } catch (e) {
    if (fc.signal?.aborted) return false;
    throw e;
  }
  stats.forwards++;
  stats.rows += q;
  if (fc.signal?.aborted) return false;
  const vocab = step.logits.length / q;
  lanes.forEach((lane, l) => {
    const tree = trees[l];
    const o = offsets[l];
    const sub = step.logits.subarray(o * vocab, (o + tree.size) * vocab);
    lane.drafter?.observeLogits?.(tree, sub, vocab);
    const rootPosition = base + lane.tokens.length - 1;
    const path = walk(
      lane,
      tree,
      (node) => sub.subarray(node * vocab, (node + 1) * vocab),
      (node) => rootPosition + tree.depths[node] + 1,
    );
    appendRows(cache, step, q, path.map((n) => o + n), path.map((n) => tree.tokens[n]), path.map((n) => rootPosition + tree.depths[n]));
    for (let i = 0; i < path.length; i++) lane.slots.push(cache.length - path.length + i);
    lane.drafter?.observeAcceptance?.(tree, path);
  });
  return true;
}

/**
 * The greedy walk (speculative acceptance): the chooser picks at every node in order; the walk
 * moves to the child carrying that token and stops at a node without one (its pick is the next
 * pending token). Lossless: the tokens are those plain greedy decoding of the lane would choose.
 */
export function greedyWalk(chooser: TokenChooser): LaneWalker {
  return (lane, tree, row, position) => {
    let node = 0;
    for (;;) {
      const r = row(node);
      const token = chooser(r, { position: position(node), generated: lane.tokens });
      // The chooser applied the processors to r in place: the log-probability is the masked one.
      if (!lane.push(token, logProbOf(r, token))) break;
      const child = tree.childOf(node, token);
      if (child < 0) break;
      node = child;
    }
    return tree.pathTo(node);
  };
}

/**
 * How long the other lanes may run once the lead lane (lanes[0]) has stopped at `leadTokens`
 * tokens: alternatives that ramble on would set the latency of the whole answer (every lane
 * shares each forward, so the longest one decides how many there are). Past it they are dropped.
 */
export const laneBudget = (leadTokens: number): number => Math.max(leadTokens + 6, Math.ceil(1.5 * leadTokens));

/**
 * Decodes every unfinished lane exactly to its stop (one forest forward per step, a drafter's
 * tree per lane when it has one); with `budget`, lanes still running past laneBudget of the lead
 * lane's length are dropped. Returns false when cancelled.
 */
export async function decodeLanes(fc: ForestContext, lanes: readonly Lane[], chooser: TokenChooser, stats: ForestStats, budget = false): Promise<boolean> {
  const walk = greedyWalk(chooser);
  for (;;) {
    if (fc.signal?.aborted) return false;
    const lead = lanes[0];
    if (budget && lead?.done) {
      const cap = laneBudget(lead.tokens.length);
      for (const l of lanes) {
        if (!l.done && l.tokens.length >= cap) {
          l.dropped = true;
          l.done = l.recorder.cancelled();
        }
      }
    }
    const active = lanes.filter((l) => !l.done);
    if (active.length === 0) return true;
    const trees = active.map((lane) => {
      const root = lane.tokens[lane.tokens.length - 1];
      if (!lane.drafter) return new DraftTree(root);
      const maxDepth = Math.max(0, fc.config.maxNewTokens - lane.tokens.length - 1);
      return lane.drafter.draft(root, { prompt: fc.prompt, generated: lane.tokens, maxDepth, past: fc.cache.length });
    });
    if (!(await forestForward(fc, active, trees, walk, stats))) return false;
  }
}

/** Appends rows `rows` (of a forward over q rows) to the cache, in the order given. */
function appendRows(cache: KvCache, step: ForwardResult, q: number, rows: readonly number[], tokens: readonly number[], positions: readonly number[]): void {
  const { numKvHeads: kvH, headDim: d } = cache.shape;
  const pick = (src: Float32Array): Float32Array => gatherKvRows(src, kvH, q, d, rows);
  cache.append(step.newKeys.map(pick), step.newValues.map(pick), tokens, positions);
}
