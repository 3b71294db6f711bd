// Token healing: a prompt that ends inside what the tokenizer would normally write as one longer
// token (a lone `.` before a member, half an identifier, the first character of `==`) is out of
// distribution: the model has rarely seen `.` as a token of its own followed by `items`, since
// `.items` is one token. So the last token's text (the "tail") is left out of the prompt, and the
// first generated token(s) must spell it again: any token that starts with the tail (`.items`),
// or one that is a strict prefix of it, after which the rest of the tail is still owed. The
// tail is then cut from the completion, which stays text after the editor's cursor.
//
// The rule for how much to back off (measured in bench/monitors; see bench/results/monitors.md):
// exactly one token, the one that ends at the cursor, and only when
//   - some other token of the vocabulary starts with its text (else the model cannot write a
//     longer token there and healing changes nothing),
//   - it is not whitespace only, except indentation in the spm layout (the service decides:
//     at line starts bench/monitors measured +6 points next-line exact match in spm, nothing in
//     psm; whitespace in mid-line was not measured),
//   - it holds whole characters (a UTF-8 character split across tokens is left alone),
// and never across a line break (only the cursor line's text is looked at).
//
// The logits processor is prefix-pure like the monitors' (see Monitors.processor): its mask
// depends only on ctx.generated, so a speculative verifier or superposed drafts can apply it at
// any position of any path. It runs before the monitors, which then see only healed tokens.

import type { TokenizerLike } from '../engine/types';
import type { LogitsProcessor } from './logitsProcessors';
import type { StoppingCriterion } from './stopping';
import { VocabTrie } from './monitors/vocabTrie';

/** Characters of the cursor line looked at to find the last token (the tail lies within them). */
const LINE_WINDOW = 256;

const encoder = new TextEncoder();

export interface HealingOptions {
  /** Also heal a whitespace-only tail (default false). */
  whitespace?: boolean;
}

/**
 * The text to back off before the cursor: the last token of the cursor line's text before the
 * cursor, when the rule in the file comment says to heal it; '' otherwise.
 */
export function healingTail(tokenizer: TokenizerLike, linePrefix: string, opts: HealingOptions = {}): string {
  if (linePrefix === '' || /[\r\n]/.test(linePrefix)) return '';
  const window = linePrefix.slice(-LINE_WINDOW);
  const ids = tokenizer.encode(window);
  if (ids.length === 0) return '';
  const bytes = tokenizer.tokenBytes(ids[ids.length - 1]);
  let tail: string;
  try {
    tail = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return '';
  }
  if (tail === '' || !window.endsWith(tail)) return '';
  if (!opts.whitespace && tail.trim() === '') return '';
  return VocabTrie.for(tokenizer).countStartingWith(bytes) >= 2 ? tail : '';
}

export interface HealingStats {
  /** Positions the constraint applied to. */
  constrained: number;
  /** Positions where no allowed token had a finite logit, left unconstrained. */
  fallbacks: number;
}

/**
 * Masks every token that does not continue the tail: at a position where the generated text
 * has spelled tail[0, k), the allowed tokens start with tail[k..] or are a strict prefix of it.
 * End and control tokens are masked too (the middle must contain the tail, which is already in
 * the document). Once the tail is spelled out, or when the generated tokens left it (after a
 * fallback), the processor does nothing.
 */
export function healingProcessor(tokenizer: Pick<TokenizerLike, 'size' | 'tokenBytes' | 'eosIds'>, tail: string, stats?: HealingStats): LogitsProcessor {
  const trie = VocabTrie.for(tokenizer);
  const tailBytes = encoder.encode(tail);
  // Allowed ids after k bytes of the tail, [size] 0/1, built on first use.
  const masks = new Map<number, Uint8Array>();
  const maskAt = (k: number): Uint8Array => {
    let m = masks.get(k);
    if (!m) {
      m = new Uint8Array(trie.size);
      const rest = tailBytes.subarray(k);
      for (const id of trie.idsStartingWith(rest)) m[id] = 1;
      for (const id of trie.idsStrictPrefixOf(rest)) m[id] = 1;
      masks.set(k, m);
    }
    return m;
  };
  return (logits, ctx) => {
    const k = spelled(ctx.generated, tailBytes, trie);
    if (k < 0 || k >= tailBytes.length) return;
    const allowed = maskAt(k);
    const V = Math.min(logits.length, allowed.length);
    let viable = false;
    for (let i = 0; i < V && !viable; i++) if (allowed[i] === 1 && logits[i] > Number.NEGATIVE_INFINITY) viable = true;
    if (!viable) {
      if (stats) stats.fallbacks++;
      return;
    }
    if (stats) stats.constrained++;
    for (let i = 0; i < V; i++) if (allowed[i] === 0) logits[i] = Number.NEGATIVE_INFINITY;
    // Rows past the tokenizer (padded embeddings) are never allowed.
    if (logits.length > V) logits.fill(Number.NEGATIVE_INFINITY, V);
  };
}

/**
 * Bytes of the tail that `generated` has spelled (0 … tail length, capped at the length once
 * passed), or -1 when the generated bytes disagree with the tail (the constraint fell back).
 */
function spelled(generated: readonly number[], tail: Uint8Array, trie: VocabTrie): number {
  let k = 0;
  for (const id of generated) {
    if (k >= tail.length) return tail.length;
    const b = trie.tokenBytes(id);
    for (let j = 0; j < b.length && k < tail.length; j++, k++) if (b[j] !== tail[k]) return -1;
  }
  return Math.min(k, tail.length);
}

/**
 * The completion after the healed tail ('' when the generated text did not spell it: a
 * fallback, or generation ended inside it).
 */
export function stripTail(text: string, tail: string): string {
  return text.startsWith(tail) ? text.slice(tail.length) : '';
}

/**
 * Stopping criteria that judge the text after the tail, as they would without healing: the
 * line and block rules count from the editor's cursor (a tail `(` must not count as a bracket
 * the completion opened). While the tail is still being spelled they see no text.
 */
export function afterTail(criteria: readonly StoppingCriterion[], tail: string): StoppingCriterion[] {
  if (tail === '') return [...criteria];
  return criteria.map((criterion) => (progress) => {
    const offset = progress.text.startsWith(tail) ? tail.length : tail.startsWith(progress.text) ? progress.text.length : 0;
    const verdict = criterion({ tokens: progress.tokens, text: progress.text.slice(offset) });
    return verdict ? { kind: verdict.kind, keep: verdict.keep + offset } : null;
  });
}
