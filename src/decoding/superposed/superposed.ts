// Superposed Decoding (arXiv 2405.18400): k drafts from one decoding pass.
//
// Seed the drafts with the k best first tokens. Each step runs ONE row: the superposed
// embedding Σ γ_i · E[last token of draft i] (γ_i = the drafts' weights, softmax of their
// scores at temperature τ; drafts that share a token add up) through the one shared KV cache,
// at the drafts' common next position. The row's logits are the model's guess for every
// draft; each draft is extended with the top-k tokens of that distribution after the logits
// processors applied along its own history (token healing and the monitors keep their
// per-draft masks), and each extension is scored
//     score += (1 − α) · log p_model + α · log p_ngram(token | draft's last n − 1 tokens),
// p_ngram interpolating n = 2 … 6 over the workspace counts (no information: the model alone).
// The k best distinct drafts of the k² extensions are kept. Paper defaults: k = 3, α = 0.54,
// τ = 0.06. Finished drafts stay in the running with their final score.
//
// The superposition only stays faithful for about ten tokens (the paper's observation), and a
// cache slot written from a mixture of embeddings is no draft's true context, so the product
// finishes drafts exactly (index.ts): verifyDrafts() runs every draft as its own chain in one
// forest forward (forest.ts), keeps each drafted token the exact model still ranks among its
// top k, replaces the first one it does not with the exact choice, and decodeLanes()
// continues each draft exactly from there.

import type { KvCache } from '../../engine/kvCache';
import { GenerationRecorder, type GenerateOptions, type GenerationStop, type StepModel } from '../generate';
import type { GenerationConfig } from '../generationConfig';
import { applyLogitsProcessors, type LogitsProcessor } from '../logitsProcessors';
import { argmax } from '../sampling';
import { DraftTree } from '../speculation/tree';
import { forestForward, Lane, logProbOf, type ForestContext, type ForestStats } from './forest';
import type { NgramModel } from './types';

export const SUPERPOSED_DEFAULTS = { k: 3, alpha: 0.54, tau: 0.06, steps: 10 } as const;

/** p_ngram below this counts as this (an unseen continuation after a seen context). */
const NGRAM_FLOOR = 1e-5;

export interface SuperposedOptions {
  k: number;
  /** Weight of the n-gram log-probability (default 0.54). */
  alpha?: number;
  /** Temperature of the draft weights γ (default 0.06). */
  tau?: number;
  /** Superposed steps before the exact finish; Infinity = superposed to the end (default 10). */
  steps?: number;
  ngram?: NgramModel;
  /** Tokens of context the n-gram sees before the drafts (the end of the prompt). */
  ngramContext?: ArrayLike<number>;
}

/** What superposedDrafts needs of the stem: its tokens (already in the cache) and where it leaves off. */
export type SuperposedStem = Pick<Stem, 'tokens' | 'logps' | 'logits' | 'rest'>;

/** A draft of the superposed phase. */
export interface SuperposedDraft {
  tokens: number[];
  /** Σ exact-as-far-as-known log p_model of its tokens (the superposed row's, after processors). */
  logp: number;
  /** The ranking score (model and n-gram mixed). */
  score: number;
  /** Exact log p of the first token (a seed, from the prompt's logits). */
  firstLogp: number;
  text: string;
  stop: GenerationStop | null;
}

/**
 * The tokens every draft starts with: token healing's tail re-spelled a piece at a time
 * (greedy tokens that are strict prefixes of what is left of it). Drafts branch right after
 * it, at the position where a token completes the tail: branching earlier would only spell the
 * same text differently (two tokens for the indentation instead of one).
 */
export interface Stem {
  tokens: number[];
  logps: number[];
  /** [vocab] logits of the position after the stem. */
  logits: Float32Array;
  /** Bytes of the tail still to spell after the stem (the branch tokens must cover them). */
  rest: Uint8Array;
}

/**
 * The k best tokens after the processors (given the stem as the generated prefix), best first;
 * ids that end the middle are left out unless they are the very best (a lone end token is no
 * alternative), and so are alternatives that only spell part of the tail (`stem.rest`).
 */
export function seedTokens(stem: Pick<Stem, 'tokens' | 'logits' | 'rest'>, processors: readonly LogitsProcessor[], k: number, position: number, endIds: ReadonlySet<number>, tokenBytes?: (id: number) => Uint8Array): { tokens: number[]; logps: number[] } {
  const row = stem.logits.slice();
  applyLogitsProcessors(processors, row, { position, generated: stem.tokens });
  const ranked = topK(row, 4 * k + endIds.size + 8);
  const partial = (t: number): boolean => {
    if (!tokenBytes || stem.rest.length === 0) return false;
    const b = tokenBytes(t);
    return b.length < stem.rest.length && b.every((x, i) => x === stem.rest[i]);
  };
  const tokens: number[] = [];
  for (const t of ranked) {
    if (tokens.length >= k) break;
    if (tokens.length > 0 && (endIds.has(t) || partial(t))) continue;
    tokens.push(t);
  }
  return { tokens, logps: tokens.map((t) => logProbOf(row, t)) };
}

/** Indices of the k largest finite values, largest first (ties: lower index). */
export function topK(row: Float32Array, k: number): number[] {
  const best: number[] = [];
  for (let i = 0; i < row.length; i++) {
    const v = row[i];
    if (v === Number.NEGATIVE_INFINITY || Number.isNaN(v)) continue;
    if (best.length === k && v <= row[best[k - 1]]) continue;
    let j = best.length < k ? best.length : k - 1;
    if (best.length < k) best.push(i);
    while (j > 0 && row[best[j - 1]] < v) {
      best[j] = best[j - 1];
      j--;
    }
    best[j] = i;
  }
  return best;
}

/**
 * The superposed phase: from the prompt's logits, `steps` superposed forwards (or until every
 * draft stopped). The cache gets one slot per step (token -1: a mixture), which the caller
 * truncates away. Returns the drafts best first, or null when cancelled.
 */
export async function superposedDrafts(
  model: StepModel,
  cache: KvCache,
  stem: SuperposedStem,
  config: GenerationConfig,
  options: GenerateOptions & SuperposedOptions,
  stats: ForestStats,
): Promise<SuperposedDraft[] | null> {
  const { k, signal } = options;
  const alpha = options.alpha ?? SUPERPOSED_DEFAULTS.alpha;
  const tau = options.tau ?? SUPERPOSED_DEFAULTS.tau;
  const steps = options.steps ?? SUPERPOSED_DEFAULTS.steps;
  const processors = options.processors ?? [];
  const context = Array.from(options.ngramContext ?? []);
  const base = cache.nextPosition();
  const endIds = new Set([...config.eosTokenIds, ...config.stopTokenIds]);

  // Scores a draft's extensions: model log-probs mixed with the n-gram's for its own history.
  const mix = (history: readonly number[], candidates: readonly number[], logps: readonly number[]): number[] => {
    if (!options.ngram || alpha === 0) return [...logps];
    const seq = context.concat(history);
    const p = options.ngram.probabilities(seq, seq.length, candidates);
    return logps.map((lp, i) => (Number.isNaN(p[i]) ? lp : (1 - alpha) * lp + alpha * Math.log(Math.max(p[i], NGRAM_FLOOR))));
  };

  const seeds = seedTokens(stem, processors, k, base, endIds, (id) => options.tokenizer.tokenBytes(id));
  const seedScores = mix(stem.tokens, seeds.tokens, seeds.logps);
  const stemLogp = stem.logps.reduce((a, b) => a + b, 0);
  let drafts: SuperposedDraft[] = seeds.tokens.map((t, i) => finishCheck(config, options, [...stem.tokens, t], stemLogp + seeds.logps[i], seedScores[i], seeds.logps[i]));

  for (let step = 1; step < Math.min(steps, config.maxNewTokens - stem.tokens.length); step++) {
    if (signal?.aborted) return null;
    const alive = drafts.filter((d) => d.stop === null);
    if (alive.length === 0) break;
    // γ: softmax of the scores at temperature τ (a shared last token gets the sum of its drafts' weights).
    const top = Math.max(...alive.map((d) => d.score));
    const w = alive.map((d) => Math.exp((d.score - top) / tau));
    const z = w.reduce((a, b) => a + b, 0);
    const lasts = alive.map((d) => d.tokens[d.tokens.length - 1]);
    const rows = model.embed(lasts); // [alive, hidden]
    const H = rows.length / alive.length;
    const embeds = new Float32Array(H); // [1, hidden]
    alive.forEach((_, i) => {
      const g = w[i] / z;
      for (let h = 0; h < H; h++) embeds[h] += g * rows[i * H + h];
    });
    const position = base + step - 1;
    let out;
    try {
      out = await model.forward(cache, { embeds, positions: [position], signal });
    } catch (e) {
      if (signal?.aborted) return null;
      throw e;
    }
    stats.forwards++;
    stats.rows++;
    if (signal?.aborted) return null;
    cache.append(out.newKeys, out.newValues, [-1], [position]);

    const candidates: SuperposedDraft[] = drafts.filter((d) => d.stop !== null);
    for (const d of alive) {
      const row = out.logits.slice();
      applyLogitsProcessors(processors, row, { position: position + 1, generated: d.tokens });
      const next = topK(row, k);
      const lps = next.map((t) => logProbOf(row, t));
      const mixed = mix(d.tokens, next, lps);
      next.forEach((t, i) => candidates.push(finishCheck(config, options, [...d.tokens, t], d.logp + lps[i], d.score + mixed[i], d.firstLogp)));
    }
    candidates.sort((a, b) => b.score - a.score);
    const seen = new Set<string>();
    drafts = [];
    for (const c of candidates) {
      // Distinct as text: two spellings of the same text are one draft (the better-scored).
      const key = `${c.stop === null ? '' : 'stop:'}${c.text}`;
      if (seen.has(key)) continue;
      seen.add(key);
      drafts.push(c);
      if (drafts.length === k) break;
    }
  }
  return drafts;
}

/** A draft with its text and stop verdict (a fresh recorder replays its tokens: drafts are short). */
function finishCheck(config: GenerationConfig, options: GenerateOptions, tokens: number[], logp: number, score: number, firstLogp: number): SuperposedDraft {
  const rec = new GenerationRecorder(config, { tokenizer: options.tokenizer, criteria: options.criteria });
  for (let i = 0; i < tokens.length; i++) {
    const done = rec.push(tokens[i]);
    if (done) return { tokens: tokens.slice(0, i + 1), logp, score, firstLogp, text: done.text, stop: done.stop };
  }
  return { tokens, logp, score, firstLogp, text: rec.text, stop: null };
}

/**
 * The exact finish's first forward: every draft as a chain below its first token after the stem, all in one
 * forest forward. Along each chain, a drafted token is kept while the exact model (after the
 * processors) ranks it among its top `keepRank`; the first one it does not is replaced by the
 * exact greedy choice, and the lane continues from there. The first token of every draft is
 * exact already (a seed from the prompt's logits). Returns the lanes, or null when cancelled.
 */
export async function verifyDrafts(fc: ForestContext, drafts: readonly SuperposedDraft[], lanes: Lane[], keepRank: number, processors: readonly LogitsProcessor[], stats: ForestStats, stem: Pick<Stem, 'tokens' | 'logps'>): Promise<boolean> {
  const trees: DraftTree[] = [];
  const s = stem.tokens.length;
  drafts.forEach((d, l) => {
    const lane = lanes[l];
    stem.tokens.forEach((t, i) => lane.push(t, stem.logps[i]));
    lane.push(d.tokens[s], d.firstLogp);
    lane.superposed = s + 1;
    const tree = new DraftTree(d.tokens[s]);
    if (!lane.done) tree.addPath(0, d.tokens.slice(s + 1), d.tokens.slice(s + 1).map(() => 1));
    trees.push(tree);
  });
  const active = lanes.filter((l) => !l.done);
  if (active.length === 0) return true;
  const activeTrees = trees.filter((_, l) => !lanes[l].done);
  return forestForward(
    fc,
    active,
    activeTrees,
    (lane, tree, row, position) => {
      let node = 0;
      for (;;) {
        const r = row(node);
        applyLogitsProcessors(processors, r, { position: position(node), generated: lane.tokens });
        const children = tree.childrenOf(node);
        const drafted = children.length > 0 ? tree.tokens[children[0]] : -1;
        let token: number;
        let kept = false;
        if (drafted >= 0 && r[drafted] > Number.NEGATIVE_INFINITY && rankOf(r, drafted) < keepRank) {
          token = drafted;
          kept = true;
        } else {
          token = argmax(r);
          if (token < 0) throw new Error(`every token is masked at position ${position(node)}`);
        }
        if (kept) lane.superposed++;
        if (!lane.push(token, logProbOf(r, token)) || !kept) break;
        node = children[0];
      }
      return tree.pathTo(node);
    },
    stats,
  );
}

function rankOf(row: Float32Array, token: number): number {
  const v = row[token];
  let r = 0;
  for (let i = 0; i < row.length; i++) if (row[i] > v || (row[i] === v && i < token)) r++;
  return r;
}
