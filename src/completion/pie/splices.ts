// Token splices: the unit of change PIE applies to a document's KV cache.

import type { TokenSplice } from './segmentTokens.js';

export type { TokenSplice };

/** Applies ascending, non-overlapping splices (old coordinates) to a token list. */
export function applySplices(tokens: readonly number[], splices: readonly TokenSplice[]): number[] {
  const out: number[] = [];
  let cur = 0;
  for (const s of splices) {
    for (let i = cur; i < s.start; i++) out.push(tokens[i]);
    out.push(...s.tokens);
    cur = s.end;
  }
  for (let i = cur; i < tokens.length; i++) out.push(tokens[i]);
  return out;
}

/** Tokens encoded / kept when applying the splices to a cache of `length` tokens. */
export function spliceCost(length: number, splices: readonly TokenSplice[]): { encoded: number; deleted: number; kept: number } {
  let encoded = 0;
  let deleted = 0;
  for (const s of splices) {
    encoded += s.tokens.length;
    deleted += s.end - s.start;
  }
  return { encoded, deleted, kept: length - deleted };
}
