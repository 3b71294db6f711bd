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

/**
 * Drafts to ask the service for. Typing (an automatic trigger) asks for one, so ghost text costs
 * a single greedy draft (bench/results/superposed.md: 3 drafts take about 2× its time); an
 * explicit trigger — the user cycling with Alt+] / Alt+[, which makes VS Code ask again, or
 * Trigger Completion — asks for every configured alternative.
 */
export function draftsFor(explicit: boolean, configured: number): number {
  return explicit ? Math.max(1, configured) : 1;
}

/**
 * Whether a completion-cache hit answers the request: not when the user asks for alternatives
 * the entry does not have (it was stored by a one-draft typing request).
 */
export function cacheAnswers(explicit: boolean, configured: number, cachedAlternatives: number): boolean {
  return cachedAlternatives >= draftsFor(explicit, configured) || cachedAlternatives > 1;
}
