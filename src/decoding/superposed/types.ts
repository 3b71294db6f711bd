// What the multi-draft decoders share: the n-gram model interface (implemented over workspace
// counts in completion/ngrams/) and the shape of a draft.

import type { GenerationStop } from '../generate';

/** Interpolated n-gram probabilities (completion/ngrams/interpolate.ts implements it). */
export interface NgramModel {
  /**
   * P(candidate | seq[0, end)) for each candidate; NaN where the model has no information (no
   * order's context was ever seen), which the decoder treats as "score by the model alone".
   */
  probabilities(seq: ArrayLike<number>, end: number, candidates: readonly number[]): Float64Array;
}

/** One finished draft. */
export interface Draft {
  /** The completion text, cut where the stopping rules said. */
  text: string;
  /** Every token chosen, the one that triggered the stop included. */
  tokens: number[];
  stop: GenerationStop;
  /**
   * Σ log P(token) of the tokens kept, under the exact model after the logits processors (the
   * chains and the exact finish), or the superposed decoder's own score when it finished
   * superposed. Drafts are ranked by it (the draft of the greedy first token first, see
   * MultiDraftResult.drafts).
   */
  logp: number;
  /** Tokens (from the start) that came out of the superposed phase and were kept by verification. */
  superposedTokens: number;
}
