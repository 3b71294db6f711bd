// Logits processors: small units that edit one row of logits in place before a token is chosen
// (masks from monitors, banned ids). They compose as a list applied in order.

/** Where in the sequence a row of logits is being decided. */
export interface LogitsContext {
  /** Absolute RoPE position the chosen token will occupy. */
  position: number;
  /** Tokens generated before this one (the draft path, under speculation). */
  generated: readonly number[];
}

/**
 * Edits `logits` ([vocab] float32, one row) in place; -Infinity forbids an id.
 *
 * Contract for every processor (the monitors', token healing's): prefix-pure. The edit depends
 * only on `ctx.generated` (and on what the processor was built with), never on which rows it
 * saw before, so speculative verification may apply it to each verified position of a draft
 * tree in any order, and superposed decoding once per draft, and get exactly what greedy
 * decoding along the same path gets (greedy acceptance stays lossless).
 */
export type LogitsProcessor = (logits: Float32Array, ctx: LogitsContext) => void;

/** Forbids the listed ids. */
export function banTokens(ids: readonly number[]): LogitsProcessor {
  const list = [...new Set(ids)];
  return (logits) => {
    for (const id of list) if (id >= 0 && id < logits.length) logits[id] = Number.NEGATIVE_INFINITY;
  };
}

/**
 * Forbids ids the tokenizer cannot produce: checkpoints pad the embedding matrix past the
 * tokenizer (Qwen2.5: 151936 rows, 151665 ids), and those untrained rows must never be chosen.
 */
export function banIdsFrom(size: number): LogitsProcessor {
  return (logits) => {
    if (size < logits.length) logits.fill(Number.NEGATIVE_INFINITY, size);
  };
}

/** Applies processors in order to one row. */
export function applyLogitsProcessors(processors: readonly LogitsProcessor[], logits: Float32Array, ctx: LogitsContext): void {
  for (const p of processors) p(logits, ctx);
}
