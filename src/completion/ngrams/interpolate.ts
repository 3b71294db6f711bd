// The n-gram probability superposed decoding mixes with the model's: a linear interpolation of
// the maximum-likelihood estimates of orders n = 2 … 6 over the workspace counts.
//
// λ (our choice; the paper does not publish code-specific weights): 0.1, 0.15, 0.2, 0.25, 0.3 for
// n = 2 … 6 (λ_n ∝ n), longer contexts trusted more. Orders whose context the workspace never saw say
// nothing, so the weights are renormalised over the orders that did; when none did, the answer
// is NaN ("no information") and the decoder then scores by the model alone.

import type { NgramModel } from '../../decoding/superposed/types';
import type { NgramCounts } from './counts';

export const DEFAULT_LAMBDAS: readonly number[] = [0.1, 0.15, 0.2, 0.25, 0.3];

/** λ_n ∝ n for n = 2 … maxOrder (DEFAULT_LAMBDAS for maxOrder 6). */
export function defaultLambdas(maxOrder: number): number[] {
  const ns = Array.from({ length: Math.max(0, maxOrder - 1) }, (_, i) => i + 2);
  const total = ns.reduce((a, b) => a + b, 0);
  return ns.map((n) => n / total);
}

export class InterpolatedNgrams implements NgramModel {
  /** [maxOrder + 1] weight by order n (index n); 0 for n < 2. */
  private readonly weights: Float64Array;

  constructor(
    readonly counts: NgramCounts,
    lambdas: readonly number[] = defaultLambdas(counts.maxOrder),
  ) {
    if (lambdas.length !== counts.maxOrder - 1 || lambdas.some((l) => !(l >= 0))) {
      throw new RangeError(`need ${counts.maxOrder - 1} non-negative weights (n = 2 … ${counts.maxOrder}), got [${lambdas.join(', ')}]`);
    }
    this.weights = new Float64Array(counts.maxOrder + 1);
    lambdas.forEach((l, i) => (this.weights[i + 2] = l));
  }

  probabilities(seq: ArrayLike<number>, end: number, candidates: readonly number[]): Float64Array {
    const out = new Float64Array(candidates.length).fill(Number.NaN);
    const ctx = this.counts.contexts(seq, end); // [maxOrder] entry by context length
    let total = 0;
    for (let n = 2; n <= this.counts.maxOrder; n++) if (this.counts.followersOf(ctx[n - 1]) > 0) total += this.weights[n];
    if (total <= 0) return out;
    candidates.forEach((token, i) => {
      let p = 0;
      for (let n = 2; n <= this.counts.maxOrder; n++) {
        const e = ctx[n - 1];
        const f = this.counts.followersOf(e);
        if (f > 0) p += (this.weights[n] * this.counts.countAfter(e, token)) / f;
      }
      out[i] = p / total;
    });
    return out;
  }
}
