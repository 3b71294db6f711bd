// A small LRU of shown completions, keyed by (document, text before the cursor), so that typing
// through a suggestion keeps showing its rest without running the model: if the user typed the
// first characters of a cached completion, the rest is the answer.

export interface CachedCompletion {
  /** What remains to be shown after what the user typed. */
  completion: string;
  /** Characters of the cached completion the user has typed since it was stored. */
  typed: number;
}

interface Entry {
  path: string;
  prefix: string;
  /** Text after the cursor when stored; typing through a completion does not change it. */
  suffix: string;
  completion: string;
}

export interface CompletionCacheOptions {
  /** Entries kept, all documents together. Default 64. */
  capacity?: number;
  /** Characters of the text after the cursor compared on lookup. Default 256. */
  suffixChars?: number;
}

export class CompletionCache {
  private readonly capacity: number;
  private readonly suffixChars: number;
  /** Oldest first. A plain list: capacity is small, and keys would copy whole prefixes. */
  private entries: Entry[] = [];

  constructor(opts: CompletionCacheOptions = {}) {
    this.capacity = Math.max(1, opts.capacity ?? 64);
    this.suffixChars = Math.max(0, opts.suffixChars ?? 256);
  }

  get size(): number {
    return this.entries.length;
  }

  /** Remembers a completion shown at (path, prefix). Empty completions are not stored. */
  put(path: string, prefix: string, suffix: string, completion: string): void {
    if (completion === '') return;
    this.entries = this.entries.filter((e) => e.path !== path || e.prefix !== prefix);
    this.entries.push({ path, prefix, suffix: suffix.slice(0, this.suffixChars), completion });
    if (this.entries.length > this.capacity) this.entries.splice(0, this.entries.length - this.capacity);
  }

  /**
   * The rest of a cached completion for the cursor at (prefix | suffix): an entry of the same
   * document whose prefix plus the start of its completion is the current prefix, with the
   * same text after the cursor. Fully typed completions give nothing.
   */
  get(path: string, prefix: string, suffix: string): CachedCompletion | undefined {
    const wantSuffix = suffix.slice(0, this.suffixChars);
    let best: Entry | undefined;
    for (const e of this.entries) {
      if (e.path !== path || e.suffix !== wantSuffix || prefix.length < e.prefix.length) continue;
      const typed = prefix.length - e.prefix.length;
      if (typed >= e.completion.length) continue;
      if (!prefix.startsWith(e.prefix) || !e.completion.startsWith(prefix.slice(e.prefix.length))) continue;
      // The longest stored prefix is the most recent request in this typing run.
      if (!best || e.prefix.length > best.prefix.length) best = e;
    }
    if (!best) return undefined;
    const hit = best;
    this.entries = this.entries.filter((e) => e !== hit);
    this.entries.push(hit);
    const typed = prefix.length - best.prefix.length;
    return { completion: best.completion.slice(typed), typed };
  }

  /** Forgets a document's entries (closed, or changed away from the cursor). */
  forget(path: string): void {
    this.entries = this.entries.filter((e) => e.path !== path);
  }

  clear(): void {
    this.entries = [];
  }
}
