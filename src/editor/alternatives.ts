// The texts offered as inline items for one result. Pure, so the rule is unit-tested.

import type { CompletionResult } from '../completion/types';

/** Non-empty, distinct alternatives, best first. VS Code shows the first and cycles the rest. */
export function alternatives(result: Pick<CompletionResult, 'completion' | 'completions'>): string[] {
  const texts = result.completions.length > 0 ? result.completions : [result.completion];
  return [...new Set(texts.filter((t) => t !== ''))];
}
