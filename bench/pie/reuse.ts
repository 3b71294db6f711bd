// What one cache update keeps and what it encodes, counted without the model (from the same
// alignment updateCache uses), so that the two prompt layouts can be compared on the same edit.
//
// In psm (`<pre> before <suf> after <mid>`) the text before the cursor comes first; in spm
// (`<pre> <suf> after <mid> before`) the text after the cursor does, and the cursor's own
// neighbourhood is the prompt's end. PIE encodes the same inserted tokens in both, but which kept
// tokens end up *after* the edit — their K/V computed without it in view ("stale") and, for pie,
// re-rotated — depends on the layout: an edit below the cursor leaves the whole text before the
// cursor stale in spm and none of it in psm. A cursor move is one marker move in psm and a move of
// the text in between from one end of the prompt to the other in spm.

import { keptAlignment } from '../../src/completion/pie/cacheUpdate';

export interface Reuse {
  /** Target tokens encoded by pie/conflict (the edit's tokens, the last token, any refresh window). */
  encoded: number;
  /** Target tokens whose K/V are kept. */
  reused: number;
  /** Kept tokens whose position changes (pie rotates their keys; conflict leaves them wrong). */
  rotated: number;
  /** Kept tokens after the first changed one: computed without the edit in view. */
  stale: number;
  /** Tokens the 'prefix' mode keeps (the common prefix; the last token is always encoded). */
  prefixKept: number;
}

/** Counts for bringing a cache that holds `current` (at natural positions) to `target`. */
export function reuseOf(current: readonly number[], target: readonly number[], refresh: { refreshWindow?: number; refreshEnd?: number } = {}): Reuse {
  const kept = keptAlignment(current, target, refresh);
  let encoded = 0;
  let rotated = 0;
  let stale = 0;
  let changed = false;
  for (let i = 0; i < kept.length; i++) {
    if (kept[i] < 0) {
      encoded++;
      changed = true;
      continue;
    }
    if (kept[i] !== i) {
      rotated++;
      changed = true;
    }
    if (changed) stale++;
  }
  let prefixKept = 0;
  while (prefixKept < current.length && prefixKept < target.length - 1 && current[prefixKept] === target[prefixKept]) prefixKept++;
  return { encoded, reused: target.length - encoded, rotated, stale, prefixKept };
}
