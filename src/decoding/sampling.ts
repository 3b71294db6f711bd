// Choosing a token from a row of logits. The choice is one pluggable function of (logits,
// position, history) so that speculative decoding can ask it for every verified position of a
// draft and accept a drafted token exactly when the chooser would have picked it.

import { applyLogitsProcessors, type LogitsContext, type LogitsProcessor } from './logitsProcessors';

/** Picks the token for one position; may edit `logits` ([vocab], one row) in place. */
export type TokenChooser = (logits: Float32Array, ctx: LogitsContext) => number;

/** Index of the largest value; the lowest index wins ties. -1 when every value is -Infinity or NaN. */
export function argmax(row: Float32Array): number {
  let best = -1;
  let bestValue = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < row.length; i++) {
    if (row[i] > bestValue) {
      bestValue = row[i];
      best = i;
    }
  }
  return best;
}

/** Greedy decoding after the processors: deterministic, so speculation stays lossless. */
export function greedyChooser(processors: readonly LogitsProcessor[] = []): TokenChooser {
  return (logits, ctx) => {
    applyLogitsProcessors(processors, logits, ctx);
    const id = argmax(logits);
    if (id < 0) throw new Error(`every token is masked at position ${ctx.position}`);
    return id;
  };
}

/** mulberry32: a tiny seeded generator of uniform [0, 1), so sampled runs (and test data) repeat exactly. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
