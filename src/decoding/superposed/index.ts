// Several alternative completions from one decoding pass.
//
//   superposed  Superposed Decoding (superposed.ts): one row per step for the first `steps`
//               tokens, then the exact finish (finish 'exact': verify all drafts in one forest
//               forward, continue each exactly) or superposed to the end (finish 'superposed',
//               the paper's way: one row per step throughout, no exact pass).
//   chains      k exact chains from the k best first tokens, decoded together (forest.ts: one
//               forward of one row — or one speculative tree — per chain per step). The first
//               chain is exactly greedy decoding.
// Both drop an alternative still running well past the lead draft's length (forest.laneBudget):
// it would set the latency of the whole answer.
// Baselines for bench/superposed (what k drafts cost without sharing a pass):
//   independent the same k chains, decoded one after another (k greedy runs).
//   sampled     k runs one after another, every token sampled at `temperature` (default 0.8)
//               from a seeded generator; with speculation the walk stays exact sampling (each
//               token is drawn from the exact distribution given its prefix).
//
// Which one the product uses is decided by bench/superposed (see bench/results/superposed.md):
// the service asks for DEFAULT_DRAFT_METHOD.
//
// The cache is borrowed as in generate(): truncated back to the prompt in `finally`.

import type { KvCache } from '../../engine/kvCache';
import type { GenerateOptions, StepModel } from '../generate';
import type { GenerationConfig } from '../generationConfig';
import { greedyChooser, mulberry32 } from '../sampling';
import type { Drafter } from '../speculation/verify';
import { applyLogitsProcessors, type LogitsProcessor } from '../logitsProcessors';
import type { TokenChooser } from '../sampling';
import { decodeLanes, Lane, logProbOf, type ForestContext, type ForestStats } from './forest';
import { seedTokens, superposedDrafts, SUPERPOSED_DEFAULTS, verifyDrafts, type Stem, type SuperposedOptions } from './superposed';
import type { Draft } from './types';

export type { NgramModel, Draft } from './types';
export { SUPERPOSED_DEFAULTS } from './superposed';

export type DraftMethod = 'superposed' | 'chains' | 'independent' | 'sampled';
export type DraftFinish = 'exact' | 'superposed';

/** The method the product runs (chosen by bench/superposed). */
export const DEFAULT_DRAFT_METHOD: DraftMethod = 'chains';

export interface MultiDraftOptions extends GenerateOptions, Omit<SuperposedOptions, 'k'> {
  /** Drafts wanted (≥ 1). */
  k: number;
  /** Default DEFAULT_DRAFT_METHOD. */
  method?: DraftMethod;
  /** Superposed only (default 'exact'). */
  finish?: DraftFinish;
  /** Exact finish: a superposed token is kept while the exact model ranks it below this (default k). */
  keepRank?: number;
  /** A fresh speculative drafter per draft (undefined: plain one-row steps). */
  drafter?: () => Drafter;
  /**
   * Token healing's tail: the text every draft must spell first (the healing processor makes
   * it so). The drafts branch where a token completes it (see Stem); default none.
   */
  tail?: string;
  /** 'sampled' only: temperature (default 0.8) and generator seed (default 1). */
  temperature?: number;
  seed?: number;
}

export interface MultiDraftResult {
  /** Distinct token sequences, best first (see the ranking in multiDraftGenerate). */
  drafts: Draft[];
  cancelled: boolean;
  /** Forwards and rows run after the prompt. */
  forwards: number;
  rows: number;
}

/**
 * k drafts from `firstLogits` ([vocab], the logits of the cache's last slot). Ranking: for
 * 'chains', the greedy chain first, then by exact log-probability; for 'superposed', by exact
 * log-probability after the exact finish, by the superposed score otherwise.
 */
export async function multiDraftGenerate(model: StepModel, cache: KvCache, firstLogits: Float32Array, config: GenerationConfig, options: MultiDraftOptions): Promise<MultiDraftResult> {
  const { k, signal } = options;
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`k must be a positive integer, got ${k}`);
  const method = options.method ?? DEFAULT_DRAFT_METHOD;
  const processors = options.processors ?? [];
  const chooser = options.chooser ?? greedyChooser(processors);
  const promptLength = cache.length;
  const stats: ForestStats = { forwards: 0, rows: 0 };
  const cancelled = (): MultiDraftResult => ({ drafts: [], cancelled: true, ...stats });
  const fc: ForestContext = { model, cache, promptLength, base: cache.nextPosition(), prompt: cache.tokens(), config, signal };
  const newLane = (): Lane => {
    const drafter = options.drafter?.();
    drafter?.begin?.(fc.prompt);
    return new Lane(config, options, drafter);
  };
  const endIds = new Set([...config.eosTokenIds, ...config.stopTokenIds]);

  try {
    if (signal?.aborted) return cancelled();
    const stem = await decodeStem(fc, firstLogits, processors, options, stats);
    if (!stem) return cancelled();
    // The stem is every draft's: the lanes see it as part of the prompt.
    fc.promptLength = cache.length;
    if (method === 'chains' || method === 'independent') {
      const seeds = seedTokens(stem, processors, k, cache.nextPosition(), endIds, (id) => options.tokenizer.tokenBytes(id));
      const lanes = seeds.tokens.map((t, i) => {
        const lane = newLane();
        stem.tokens.forEach((s, j) => lane.push(s, stem.logps[j]));
        lane.push(t, seeds.logps[i]);
        return lane;
      });
      const groups = method === 'chains' ? [lanes] : lanes.map((l) => [l]);
      for (const g of groups) if (!(await decodeLanes(fc, g, chooser, stats, method === 'chains'))) return cancelled();
      const [first, ...rest] = lanes.filter((l) => !l.dropped).map(toDraft);
      return { drafts: distinct([first, ...rest.sort(byLogp)]), cancelled: false, ...stats };
    }
    if (method === 'sampled') {
      const sample = samplingChooser(processors, options.temperature ?? 0.8, mulberry32(options.seed ?? 1));
      const lanes: Lane[] = [];
      for (let i = 0; i < k; i++) {
        const lane = newLane();
        lanes.push(lane);
        stem.tokens.forEach((s, j) => lane.push(s, stem.logps[j]));
        const row = stem.logits.slice();
        const t = sample(row, { position: cache.nextPosition(), generated: lane.tokens });
        if (lane.push(t, logProbOf(row, t)) && !(await decodeLanes(fc, [lane], sample, stats))) return cancelled();
      }
      return { drafts: distinct(lanes.map(toDraft).sort(byLogp)), cancelled: false, ...stats };
    }

    const finish = options.finish ?? 'exact';
    const steps = finish === 'superposed' ? Number.POSITIVE_INFINITY : (options.steps ?? SUPERPOSED_DEFAULTS.steps);
    const sup = await superposedDrafts(model, cache, stem, config, { ...options, steps }, stats);
    if (!sup) return cancelled();
    if (finish === 'superposed') {
      const drafts = sup.map((d) => ({ text: d.text, tokens: d.tokens, stop: d.stop ?? 'maxTokens', logp: d.score, superposedTokens: d.tokens.length }));
      return { drafts: distinct(drafts), cancelled: false, ...stats };
    }
    // The superposed slots are no draft's true context: the exact finish starts from the stem.
    cache.truncate(fc.promptLength);
    const lanes = sup.map(() => newLane());
    if (!(await verifyDrafts(fc, sup, lanes, options.keepRank ?? k, processors, stats, stem))) return cancelled();
    if (!(await decodeLanes(fc, lanes, chooser, stats, true))) return cancelled();
    return { drafts: distinct(lanes.filter((l) => !l.dropped).map(toDraft).sort(byLogp)), cancelled: false, ...stats };
  } finally {
    cache.truncate(promptLength);
  }
}

/**
 * Greedy tokens that spell a strict prefix of the tail, decoded once for every draft and
 * appended to the cache (one forward each; usually none: the first token completes the tail).
 * Null when cancelled.
 */
async function decodeStem(fc: ForestContext, firstLogits: Float32Array, processors: readonly LogitsProcessor[], options: MultiDraftOptions, stats: ForestStats): Promise<Stem | null> {
  let rest = new TextEncoder().encode(options.tail ?? '');
  const stem: Stem = { tokens: [], logps: [], logits: firstLogits, rest };
  const chooser = greedyChooser(processors);
  while (rest.length > 0) {
    const row = stem.logits.slice();
    const position = fc.cache.nextPosition();
    const t = chooser(row, { position, generated: stem.tokens });
    const b = options.tokenizer.tokenBytes(t);
    if (b.length === 0 || b.length >= rest.length || !b.every((x, i) => x === rest[i])) break;
    let out;
    try {
      out = await fc.model.forward(fc.cache, { embeds: fc.model.embed([t]), positions: [position], signal: fc.signal });
    } catch (e) {
      if (fc.signal?.aborted) return null;
      throw e;
    }
    stats.forwards++;
    stats.rows++;
    if (fc.signal?.aborted) return null;
    fc.cache.append(out.newKeys, out.newValues, [t], [position]);
    stem.tokens.push(t);
    stem.logps.push(logProbOf(row, t));
    stem.logits = out.logits;
    rest = rest.subarray(b.length);
    stem.rest = rest;
  }
  return stem;
}

function toDraft(lane: Lane): Draft {
  const r = lane.result();
  return { text: r.text, tokens: r.tokens, stop: r.stop, logp: lane.logp, superposedTokens: lane.superposed };
}

const byLogp = (a: Draft, b: Draft): number => b.logp - a.logp;

/** First occurrence of each token sequence. */
function distinct(drafts: Draft[]): Draft[] {
  const seen = new Set<string>();
  return drafts.filter((d) => {
    const key = d.tokens.join(',');
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Samples from softmax(logits / temperature) after the processors; the row is left holding
 * the processed logits (the lane's log-probability is taken from it, at temperature 1).
 */
function samplingChooser(processors: readonly LogitsProcessor[], temperature: number, rand: () => number): TokenChooser {
  if (!(temperature > 0)) throw new RangeError(`temperature must be positive, got ${temperature}`);
  return (logits, ctx) => {
    applyLogitsProcessors(processors, logits, ctx);
    let max = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
    if (max === Number.NEGATIVE_INFINITY) throw new Error(`every token is masked at position ${ctx.position}`);
    let sum = 0;
    for (let i = 0; i < logits.length; i++) sum += Math.exp((logits[i] - max) / temperature);
    let u = rand() * sum;
    let last = -1;
    for (let i = 0; i < logits.length; i++) {
      if (logits[i] === Number.NEGATIVE_INFINITY) continue;
      last = i;
      u -= Math.exp((logits[i] - max) / temperature);
      if (u <= 0) return i;
    }
    return last;
  };
}
