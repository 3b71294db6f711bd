// The texts offered as inline items for one result. Pure, so the rule is unit-tested.

import type { CompletionResult } from '../completion/types';

/**
 * Non-empty, distinct alternatives, best first. VS Code shows the first and cycles the rest.
 * Two texts that differ only in trailing whitespace look the same as ghost text: the first stays.
 */
export function alternatives(result: Pick<CompletionResult, 'completion' | 'completions'>): string[] {
  const texts = result.completions.length > 0 ? result.completions : [result.completion];
  const seen = new Set<string>();
  return texts.filter((t) => {
    const key = t.trimEnd();
    if (key === '' || seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
