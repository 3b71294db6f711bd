// The tree verifier and the speculative generation loop. Lossless: a drafted token is accepted
// exactly when the chooser (greedy after the logits processors, monitors included) picks it at
// its parent, asked in order along the path with the same (position, generated) it would get in
// plain greedy decoding; every accepted token then goes through the same stopping check, one at
// a time, so the text is cut where greedy would cut it. Drafts only decide how many of those
// tokens one forward yields.
//
// One step: root = the token chosen last (not yet in the cache). The drafter grows a tree below
// it; one forward runs every node (tree attention bias, positions = next position + depth,
// logits for every row); walking from the root, the chooser picks a token from the node's
// logits, the walk moves to the child carrying that token, and stops at a node without one: the
// pick there is the bonus token, the next root. Only the accepted path's K/V rows are appended,
// at the positions they were computed at, so the cache is the one greedy decoding would build.
//
// The cache is borrowed as in generate(): truncated back to the prompt in `finally`.

import type { KvCache } from '../../engine/kvCache';
import type { ForwardResult } from '../../engine/types';
import { GenerationRecorder, type GenerateOptions, type GenerationResult, type StepModel } from '../generate';
import type { GenerationConfig } from '../generationConfig';
import { greedyChooser } from '../sampling';
import { DraftTree } from './tree';

/** What a drafter sees when it drafts the next tree. */
export interface DraftContext {
  /** The prompt: the cache's tokens when generation started. */
  readonly prompt: ArrayLike<number>;
  /** Tokens generated so far; the last one is the tree's root. */
  readonly generated: readonly number[];
  /** Deepest node that can still be accepted before the token limit. */
  readonly maxDepth: number;
  /** Cached slots the verification forward attends to. */
  readonly past: number;
}

/** Proposes the tree each verification forward runs. */
export interface Drafter {
  readonly name: string;
  /** A new generation starts from this prompt. */
  begin?(prompt: ArrayLike<number>): void;
  /** The tree to verify below `root` (a tree of the root alone is a plain decoding step). */
  draft(root: number, ctx: DraftContext): DraftTree;
  /** After the forward, before acceptance: the raw logits [tree.size, vocab] of every node. */
  observeLogits?(tree: DraftTree, logits: Float32Array, vocab: number): void;
  /** The accepted path, node indices from the root (the bonus token is not a node). */
  observeAcceptance?(tree: DraftTree, path: readonly number[]): void;
}

export interface SpeculativeOptions extends GenerateOptions {
  drafter: Drafter;
}

export interface SpeculationStats {
  drafter: string;
  /** Verification forwards (= GenerationResult.forwards). */
  forwards: number;
  /** Rows run, all forwards together (drafted nodes + one root per forward). */
  rows: number;
  /** Drafted tokens accepted. */
  acceptedDrafts: number;
  /** Tokens each forward yielded on average (accepted drafts + the bonus token); 1 = greedy. */
  tokensPerForward: number;
  /** Time in the drafter (drafting, planning, statistics, matrix updates), ms. */
  draftMs: number;
  /** Time in verification forwards, ms. */
  forwardMs: number;
}

export interface SpeculativeResult extends GenerationResult {
  speculation: SpeculationStats;
}

/** One forward over every node of `tree` (root at `rootPosition`); the cache is not changed. */
export function forwardTree(model: StepModel, cache: KvCache, tree: DraftTree, rootPosition: number, signal?: AbortSignal): Promise<ForwardResult> {
  return model.forward(cache, {
    embeds: model.embed(tree.tokens),
    positions: tree.positions(rootPosition),
    bias: tree.size > 1 ? tree.bias(cache.length) : undefined,
    logitRows: 'all',
    signal,
  });
}

/** Rows `rows` of one layer's new K or V from a forward over q rows ([kvH, q, d]), as [kvH, rows.length, d]. */
export function gatherKvRows(src: Float32Array, kvH: number, q: number, d: number, rows: readonly number[]): Float32Array {
  const n = rows.length;
  const out = new Float32Array(kvH * n * d);
  for (let h = 0; h < kvH; h++) {
    for (let i = 0; i < n; i++) {
      const from = (h * q + rows[i]) * d;
      out.set(src.subarray(from, from + d), (h * n + i) * d);
    }
  }
  return out;
}

/** Appends the K/V rows of `path` (node indices, root first) from a forwardTree result to the cache. */
export function appendPath(cache: KvCache, tree: DraftTree, step: ForwardResult, path: readonly number[], rootPosition: number): void {
  const q = tree.size;
  const n = path.length;
  const { numKvHeads: kvH, headDim: d } = cache.shape;
  // n === q: the whole tree was one accepted chain, rows already in path order.
  const pick = (rows: Float32Array): Float32Array => (n === q ? rows : gatherKvRows(rows, kvH, q, d, path));
  cache.append(
    step.newKeys.map(pick),
    step.newValues.map(pick),
    path.map((node) => tree.tokens[node]),
    path.map((node) => rootPosition + tree.depths[node]),
  );
}

/**
 * Speculative greedy decoding from `firstLogits` ([vocab], the logits of the cache's last
 * slot): the same GenerationResult as generate() with the same arguments, in fewer forwards.
 */
export async function speculativeGenerate(
  model: StepModel,
  cache: KvCache,
  firstLogits: Float32Array,
  config: GenerationConfig,
  options: SpeculativeOptions,
): Promise<SpeculativeResult> {
  const { signal, drafter } = options;
  const chooser = options.chooser ?? greedyChooser(options.processors ?? []);
  const out = new GenerationRecorder(config, options);
  const promptLength = cache.length;
  const stats: SpeculationStats = { drafter: drafter.name, forwards: 0, rows: 0, acceptedDrafts: 0, tokensPerForward: 0, draftMs: 0, forwardMs: 0 };
  const finish = (r: GenerationResult): SpeculativeResult => {
    stats.forwards = r.forwards;
    stats.tokensPerForward = r.forwards > 0 ? (r.tokens.length - 1) / r.forwards : 0;
    return { ...r, speculation: stats };
  };

  try {
    if (signal?.aborted) return finish(out.cancelled());
    let t = performance.now();
    const prompt = cache.tokens();
    drafter.begin?.(prompt);
    stats.draftMs += performance.now() - t;

    let root = chooser(firstLogits, { position: cache.nextPosition(), generated: out.tokens });
    let done = out.push(root);
    if (done) return finish(done);
    for (;;) {
      // As in generate(): an abort during the last token's callbacks ends before the next forward.
      if (signal?.aborted) return finish(out.cancelled());
      const rootPosition = cache.nextPosition();
      t = performance.now();
      const maxDepth = Math.max(0, config.maxNewTokens - out.tokens.length - 1);
      const tree = drafter.draft(root, { prompt, generated: out.tokens, maxDepth, past: cache.length });
      const t1 = performance.now();
      stats.draftMs += t1 - t;

      let step: ForwardResult;
      try {
        step = await forwardTree(model, cache, tree, rootPosition, signal);
      } catch (e) {
        if (signal?.aborted) return finish(out.cancelled());
        throw e;
      }
      const t2 = performance.now();
      stats.forwardMs += t2 - t1;
      out.forwards++;
      stats.rows += tree.size;
      if (signal?.aborted) return finish(out.cancelled());
      const vocab = step.logits.length / tree.size;
      drafter.observeLogits?.(tree, step.logits, vocab);
      stats.draftMs += performance.now() - t2;

      // Walk: the chooser decides every position in order, exactly as greedy would.
      let node = 0;
      for (;;) {
        const row = step.logits.subarray(node * vocab, (node + 1) * vocab);
        const token = chooser(row, { position: rootPosition + tree.depths[node] + 1, generated: out.tokens });
        done = out.push(token);
        if (done) return finish(done);
        root = token;
        const child = tree.childOf(node, token);
        if (child < 0) break;
        node = child;
        stats.acceptedDrafts++;
        if (signal?.aborted) return finish(out.cancelled());
      }
      const path = tree.pathTo(node);
      appendPath(cache, tree, step, path, rootPosition);
      t = performance.now();
      drafter.observeAcceptance?.(tree, path);
      stats.draftMs += performance.now() - t;
    }
  } finally {
    cache.truncate(promptLength);
  }
}
