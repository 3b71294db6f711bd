// Cheap baselines scored on exactly the model's examples, from in-file statistics only (no
// training corpus is available on the CPU machine).
//
//   repeat   the nearest earlier non-blank line, as it is.
//   ngram    a token n-gram model (n ≤ 4, longest matching context wins; ties go to the
//            continuation seen last) counted on the tokens the model's prompt shows: the text
//            before the cursor, plus the text after it in the FIM setting (counted as its own
//            sequence, no n-gram spans the cursor). Greedy from the last 3 tokens before the
//            cursor up to the first newline, or 64 tokens, or until no context matches.

import type { TokenizerLike } from '../../src/engine/types';

export const NGRAM_ORDER = 4;

export class InFileNgram {
  /** context key ("a,b,c") → next token → [count, last index seen]. */
  private readonly table = new Map<string, Map<number, [number, number]>>();
  private seen = 0;

  /** Counts every n-gram (n = 2 … NGRAM_ORDER) inside one token sequence. */
  add(tokens: ArrayLike<number>): this {
    for (let i = 1; i < tokens.length; i++) {
      for (let k = 1; k < NGRAM_ORDER && k <= i; k++) {
        let key = '';
        for (let j = i - k; j < i; j++) key += `${tokens[j]},`;
        let next = this.table.get(key);
        if (!next) this.table.set(key, (next = new Map()));
        const c = next.get(tokens[i]);
        if (c) {
          c[0]++;
          c[1] = this.seen;
        } else next.set(tokens[i], [1, this.seen]);
      }
      this.seen++;
    }
    return this;
  }

  /** The most likely next token after `context` (longest matching suffix first), or undefined. */
  next(context: readonly number[]): number | undefined {
    for (let k = Math.min(NGRAM_ORDER - 1, context.length); k >= 1; k--) {
      let key = '';
      for (let j = context.length - k; j < context.length; j++) key += `${context[j]},`;
      const next = this.table.get(key);
      if (!next) continue;
      let best: number | undefined;
      let bestCount = -1;
      let bestSeen = -1;
      for (const [tok, [count, last]] of next) {
        if (count > bestCount || (count === bestCount && last > bestSeen)) {
          best = tok;
          bestCount = count;
          bestSeen = last;
        }
      }
      return best;
    }
    return undefined;
  }

  /** Greedy continuation of `context` as text, up to its first newline (a blank first line gives ''). */
  continueLine(context: readonly number[], tokenizer: Pick<TokenizerLike, 'decode'>, maxTokens = 64): string {
    const ctx = context.slice(-(NGRAM_ORDER - 1));
    const out: number[] = [];
    let text = '';
    for (let i = 0; i < maxTokens; i++) {
      const t = this.next(ctx);
      if (t === undefined) break;
      out.push(t);
      ctx.push(t);
      ctx.shift();
      text = tokenizer.decode(out);
      const nl = text.indexOf('\n');
      if (nl >= 0) return text.slice(0, nl);
    }
    return text;
  }
}
