// A small LRU of shown completions, keyed by (document, text before the cursor), so that typing
// through a suggestion keeps showing its rest without running the model: if the user typed the
// first characters of a cached completion, the rest is the answer. An entry keeps every
// alternative that was offered (drafts), so cycling still works after typing: the ones the typed
// text agrees with stay, in their order, with the one being typed through first.

export interface CachedCompletion {
  /** What remains to be shown after what the user typed (completions[0]). */
  completion: string;
  /** The rest of every stored alternative that starts with what the user typed, best first. */
  completions: string[];
  /** Characters of the cached completion the user has typed since it was stored. */
  typed: number;
}

interface Entry {
  path: string;
  prefix: string;
  /** Text after the cursor when stored; typing through a completion does not change it. */
  suffix: string;
  /** The alternatives, best first, non-empty and distinct. */
  completions: string[];
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

  /** Remembers the completion(s) shown at (path, prefix), best first. Empty ones are not stored. */
  put(path: string, prefix: string, suffix: string, completion: string | readonly string[]): void {
    const completions = [...new Set(typeof completion === 'string' ? [completion] : completion)].filter((c) => c !== '');
    if (completions.length === 0) return;
    this.entries = this.entries.filter((e) => e.path !== path || e.prefix !== prefix);
    this.entries.push({ path, prefix, suffix: suffix.slice(0, this.suffixChars), completions });
    if (this.entries.length > this.capacity) this.entries.splice(0, this.entries.length - this.capacity);
  }

  /**
   * The rest of a cached completion for the cursor at (prefix | suffix): an entry of the same
   * document whose prefix plus the start of one of its alternatives is the current prefix, with
   * the same text after the cursor. Fully typed alternatives give nothing.
   */
  get(path: string, prefix: string, suffix: string): CachedCompletion | undefined {
    const wantSuffix = suffix.slice(0, this.suffixChars);
    let best: { entry: Entry; rest: string[] } | undefined;
    for (const e of this.entries) {
      if (e.path !== path || e.suffix !== wantSuffix || prefix.length < e.prefix.length) continue;
      if (!prefix.startsWith(e.prefix)) continue;
      const typed = prefix.slice(e.prefix.length);
      const rest = e.completions.filter((c) => c.length > typed.length && c.startsWith(typed)).map((c) => c.slice(typed.length));
      if (rest.length === 0) continue;
      // The longest stored prefix is the most recent request in this typing run.
      if (!best || e.prefix.length > best.entry.prefix.length) best = { entry: e, rest };
    }
    if (!best) return undefined;
    const hit = best.entry;
    this.entries = this.entries.filter((e) => e !== hit);
    this.entries.push(hit);
    return { completion: best.rest[0], completions: [...new Set(best.rest)], typed: prefix.length - hit.prefix.length };
  }

  /** Forgets a document's entries (closed, or changed away from the cursor). */
  forget(path: string): void {
    this.entries = this.entries.filter((e) => e.path !== path);
  }

  clear(): void {
    this.entries = [];
  }
}
