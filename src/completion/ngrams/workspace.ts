// The workspace n-gram model: counts over the token ids of the open documents and of the
// workspace's files, one table per language (a Python request is scored with Python counts).
//
// Incremental: an open document keeps its tokens with SegmentTokens (only a window around each
// edit is tokenized again, and the tokens stay equal to tokenizing the whole text), and an edit
// subtracts the grams that overlapped the changed tokens and adds the new ones; a workspace file
// that changes is diffed the same way against its previous tokens. Nothing is counted twice:
// an open document and the workspace file with the same path are one entry.
//
// Bounds (what "bounded memory" means here):
//   - at most maxLanguages tables (default 4, least recently used dropped), each
//     NgramCounts' BYTES_PER_ENTRY × maxEntriesPerLanguage (default 2^18 entries = 6.6 MB);
//   - at most maxTokens token ids held in all (default 1 000 000 = 4 MB; the oldest workspace
//     files are dropped first, open documents never), at most maxDocumentTokens per entry
//     (default 200 000: only the start of a longer file is counted);
//   - workspace text waiting to be tokenized: at most maxPendingChars (default 8 M characters).
// So about 4 × 6.6 + 4 + 16 ≈ 46 MB at the very most with the defaults, typically far less.
//
// Workspace files and newly opened documents are tokenized in the background (ingest(), short
// time slices, started by itself once the tokenizer is attached); the token lists persist
// through NgramStore, so a restart only tokenizes files that changed.

import type { TokenizerLike } from '../../engine/types';
import type { NgramModel } from '../../decoding/superposed/types';
import { applyChange, applyEdits, LineIndex } from '../documentText';
import { SegmentTokens } from '../pie/segmentTokens';
import type { DocumentEdit } from '../types';
import { NgramCounts, DEFAULT_MAX_ORDER } from './counts';
import { InterpolatedNgrams } from './interpolate';
import { NgramStore, textHash, type NgramStoreLog, type StoredTokens } from './store';

export interface WorkspaceNgramsOptions {
  maxOrder?: number;
  maxEntriesPerLanguage?: number;
  maxLanguages?: number;
  maxTokens?: number;
  maxDocumentTokens?: number;
  maxPendingChars?: number;
  /** Open documents up to this size are followed edit by edit (default 200 000 characters). */
  maxOpenChars?: number;
  /** Folder of the persisted token lists; undefined = memory only. */
  stateDir?: string;
  log?: NgramStoreLog;
  saveDelayMs?: number;
  /** Longest a background slice of ingest() runs before yielding, ms (default 8). */
  sliceMs?: number;
}

interface Entry {
  path: string;
  languageId: string;
  /** The counted tokens (a prefix of the text's tokens when the text is longer than maxDocumentTokens). */
  tokens: Int32Array;
  textHash: number;
  /** Set while the document is open in the editor: edits keep `tokens` current. */
  open?: { segment: SegmentTokens; lines: LineIndex };
  /** Insertion order (workspace files are evicted oldest first). */
  stamp: number;
}

interface Pending {
  text: string;
  languageId: string;
  /** An open document (kept current by edits once tokenized) rather than a workspace file. */
  open: boolean;
}

interface Table {
  counts: NgramCounts;
  model: InterpolatedNgrams;
  used: number;
}

export class WorkspaceNgrams {
  private readonly opts: Required<Omit<WorkspaceNgramsOptions, 'stateDir' | 'log'>> & Pick<WorkspaceNgramsOptions, 'stateDir' | 'log'>;
  private readonly tables = new Map<string, Table>();
  private readonly entries = new Map<string, Entry>();
  /** Workspace files waiting for the tokenizer, by path. */
  private readonly pending = new Map<string, Pending>();
  private running = false;
  private disposed = false;
  private pendingChars = 0;
  private heldTokens = 0;
  private stamp = 0;
  private clock = 0;
  private tokenizer: TokenizerLike | undefined;
  private fingerprint = 0;
  private readonly store: NgramStore;
  /** Stored token lists not yet claimed by a file, by path (restart: skip re-tokenizing). */
  private stored = new Map<string, StoredTokens>();

  constructor(opts: WorkspaceNgramsOptions = {}) {
    this.opts = {
      maxOrder: opts.maxOrder ?? DEFAULT_MAX_ORDER,
      maxEntriesPerLanguage: opts.maxEntriesPerLanguage ?? 1 << 18,
      maxLanguages: opts.maxLanguages ?? 4,
      maxTokens: opts.maxTokens ?? 1_000_000,
      maxDocumentTokens: opts.maxDocumentTokens ?? 200_000,
      maxPendingChars: opts.maxPendingChars ?? 8_000_000,
      maxOpenChars: opts.maxOpenChars ?? 200_000,
      saveDelayMs: opts.saveDelayMs ?? 30_000,
      sliceMs: opts.sliceMs ?? 8,
      stateDir: opts.stateDir,
      log: opts.log,
    };
    this.store = new NgramStore({ dir: opts.stateDir, log: opts.log, saveDelayMs: this.opts.saveDelayMs }, () => this.snapshot(), () => this.fingerprint);
  }

  /** Token ids held, all entries together. */
  get tokens(): number {
    return this.heldTokens;
  }

  get documents(): number {
    return this.entries.size;
  }

  /** Bytes held by the count tables (their fixed bound) and the token lists. */
  bytes(): number {
    let b = 4 * this.heldTokens;
    for (const t of this.tables.values()) b += t.counts.bytes();
    return b;
  }

  /**
   * The tokenizer arrived (the model loaded): loads the persisted token lists, counts them, and
   * makes open documents and pending files countable. Call once per tokenizer.
   */
  async attach(tokenizer: TokenizerLike, fingerprint: number): Promise<void> {
    this.tokenizer = tokenizer;
    this.fingerprint = fingerprint;
    for (const r of await this.store.load(tokenizer.size)) {
      if (this.tokenizer !== tokenizer) return;
      // A file the editor already handed over (or opened) meanwhile is newer than its stored copy.
      if (!this.entries.has(r.path) && !this.pending.has(r.path)) this.put(r.path, r.languageId, r.tokens, r.textHash, undefined);
      this.stored.set(r.path, r);
    }
    this.schedule();
  }

  /** The counts for a language (undefined when nothing of that language was counted). */
  model(languageId: string): NgramModel | undefined {
    const t = this.tables.get(languageId);
    if (!t || t.counts.entries === 0) return undefined;
    t.used = ++this.clock;
    return t.model;
  }

  /** The counts table of a language (tests, statistics). */
  countsOf(languageId: string): NgramCounts | undefined {
    return this.tables.get(languageId)?.counts;
  }

  /**
   * An open document (or a re-open with new text): tokenized by the background ingest, then kept
   * current by edit(). A document over maxOpenChars is counted like a workspace file (its start).
   */
  open(path: string, text: string, languageId: string): void {
    this.dropPending(path);
    const e = this.entries.get(path);
    if (e) e.open = undefined;
    this.queue(path, text, languageId, true);
  }

  /** Edits of an open document, as the service receives them. */
  edit(path: string, edits: readonly DocumentEdit[]): void {
    const e = this.entries.get(path);
    if (!e?.open) {
      // Not tokenized yet: the pending text follows the edits.
      const p = this.pending.get(path);
      if (p?.open) this.queue(path, applyEdits(p.text, edits), p.languageId, true);
      return;
    }
    const { text, index, offsets } = applyChange(e.open.lines, edits);
    e.open.lines = index;
    e.open.segment.applyEdits(offsets);
    e.textHash = textHash(text);
    this.replaceTokens(e, Int32Array.from(e.open.segment.tokens.slice(0, this.opts.maxDocumentTokens)));
  }

  /** The editor closed it: its last tokens stay counted as a workspace file. */
  close(path: string): void {
    const e = this.entries.get(path);
    if (e) e.open = undefined;
    const p = this.pending.get(path);
    if (p) p.open = false;
  }

  /** Stops the background ingest (the service is going). */
  dispose(): void {
    this.disposed = true;
    this.pending.clear();
    this.pendingChars = 0;
  }

  /** A workspace file (new or changed): counted by the next ingest(). Returns whether it was taken. */
  addFile(path: string, text: string, languageId: string): boolean {
    if (this.entries.get(path)?.open || this.pending.get(path)?.open) return true; // the open document is the newer text
    return this.queue(path, text, languageId, false);
  }

  removeFile(path: string): void {
    this.dropPending(path);
    const e = this.entries.get(path);
    if (e && !e.open) this.drop(e);
  }

  /** Tokenizes and counts what is pending (files, newly opened documents) in time slices; resolves with how many. */
  async ingest(signal?: AbortSignal): Promise<number> {
    let n = 0;
    while (this.pending.size > 0 && this.tokenizer && !signal?.aborted && !this.disposed) {
      const t0 = performance.now();
      while (this.pending.size > 0 && performance.now() - t0 < this.opts.sliceMs) {
        const [path, p] = this.pending.entries().next().value as [string, Pending];
        this.dropPending(path);
        this.count(path, p);
        n++;
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    return n;
  }

  /** Saves the token lists now (shutdown). Never throws. */
  flush(): Promise<void> {
    return this.store.flush();
  }

  private count(path: string, p: Pending): void {
    const tok = this.tokenizer;
    if (!tok) return;
    const hash = textHash(p.text);
    if (p.open && p.text.length <= this.opts.maxOpenChars) {
      const segment = new SegmentTokens(tok, p.text);
      this.put(path, p.languageId, Int32Array.from(segment.tokens.slice(0, this.opts.maxDocumentTokens)), hash, { segment, lines: new LineIndex(p.text) });
      return;
    }
    if (this.entries.get(path)?.open) return;
    const known = this.entries.get(path);
    if (known && known.textHash === hash && known.languageId === p.languageId) return;
    const stored = this.stored.get(path);
    const tokens = stored && stored.textHash === hash ? stored.tokens : Int32Array.from(encodePrefix(tok, p.text, this.opts.maxDocumentTokens));
    this.stored.delete(path);
    this.put(path, p.languageId, tokens, hash, undefined);
  }

  private queue(path: string, text: string, languageId: string, open: boolean): boolean {
    const before = this.pending.get(path)?.text.length ?? 0;
    if (this.pendingChars - before + text.length > this.opts.maxPendingChars) return false;
    this.pending.set(path, { text, languageId, open });
    this.pendingChars += text.length - before;
    this.schedule();
    return true;
  }

  /** Runs ingest() in the background once the tokenizer is there. */
  private schedule(): void {
    if (this.running || !this.tokenizer || this.disposed) return;
    this.running = true;
    setImmediate(() => {
      void this.ingest()
        .catch((e: unknown) => this.opts.log?.warn(`n-grams: ${e instanceof Error ? e.message : String(e)}`))
        .finally(() => {
          this.running = false;
          if (this.pending.size > 0) this.schedule();
        });
    });
  }

  private dropPending(path: string): void {
    const p = this.pending.get(path);
    if (!p) return;
    this.pendingChars -= p.text.length;
    this.pending.delete(path);
  }

  /** Counts `tokens` as the entry for `path` (replacing what was counted for it before). */
  private put(path: string, languageId: string, tokens: Int32Array, hash: number, open: Entry['open']): void {
    let e = this.entries.get(path);
    if (e && e.languageId !== languageId) {
      this.drop(e);
      e = undefined;
    }
    if (!e) {
      const table = this.table(languageId);
      e = { path, languageId, tokens: new Int32Array(0), textHash: hash, stamp: ++this.stamp };
      this.entries.set(path, e);
      table.counts.add(tokens);
      e.tokens = tokens;
      this.heldTokens += tokens.length;
    } else {
      e.stamp = ++this.stamp;
      this.replaceTokens(e, tokens);
    }
    e.textHash = hash;
    e.open = open;
    this.evict();
    this.store.touch();
  }

  /**
   * The grams that changed between the entry's tokens and `next`: those that start within
   * maxOrder − 1 tokens before the first changed token, up to the common suffix.
   */
  private replaceTokens(e: Entry, next: Int32Array): void {
    const prev = e.tokens;
    const counts = this.table(e.languageId).counts;
    const m = Math.min(prev.length, next.length);
    let p = 0;
    while (p < m && prev[p] === next[p]) p++;
    if (p === prev.length && p === next.length) return;
    let s = 0;
    while (s < m - p && prev[prev.length - 1 - s] === next[next.length - 1 - s]) s++;
    const from = Math.max(0, p - (this.opts.maxOrder - 1));
    counts.remove(prev, from, prev.length - s);
    counts.add(next, from, next.length - s);
    this.heldTokens += next.length - prev.length;
    e.tokens = next;
    this.store.touch();
  }

  private drop(e: Entry): void {
    this.tables.get(e.languageId)?.counts.remove(e.tokens);
    this.heldTokens -= e.tokens.length;
    this.entries.delete(e.path);
    this.store.touch();
  }

  private table(languageId: string): Table {
    let t = this.tables.get(languageId);
    if (!t) {
      if (this.tables.size >= this.opts.maxLanguages) this.dropLanguage();
      const counts = new NgramCounts({ maxOrder: this.opts.maxOrder, maxEntries: this.opts.maxEntriesPerLanguage });
      t = { counts, model: new InterpolatedNgrams(counts), used: ++this.clock };
      this.tables.set(languageId, t);
    }
    return t;
  }

  /** The least recently used language goes, with its entries (open documents come back on their next edit or re-open). */
  private dropLanguage(): void {
    let victim: string | undefined;
    let oldest = Infinity;
    for (const [lid, t] of this.tables) {
      if (t.used < oldest) {
        oldest = t.used;
        victim = lid;
      }
    }
    if (victim === undefined) return;
    this.tables.delete(victim);
    for (const e of [...this.entries.values()]) {
      if (e.languageId !== victim) continue;
      this.heldTokens -= e.tokens.length;
      this.entries.delete(e.path);
    }
  }

  /** Over maxTokens: the oldest workspace files go first. */
  private evict(): void {
    if (this.heldTokens <= this.opts.maxTokens) return;
    const files = [...this.entries.values()].filter((e) => !e.open).sort((a, b) => a.stamp - b.stamp);
    for (const e of files) {
      if (this.heldTokens <= this.opts.maxTokens) break;
      this.drop(e);
    }
  }

  private snapshot(): StoredTokens[] {
    return [...this.entries.values()].sort((a, b) => b.stamp - a.stamp).map((e) => ({ path: e.path, languageId: e.languageId, textHash: e.textHash, tokens: e.tokens }));
  }
}

/** The tokens of text, at most `max` of them (long files: only the start is tokenized). */
function encodePrefix(tok: TokenizerLike, text: string, max: number): number[] {
  // ~3 characters per token in code: cut the text first so a huge file is not tokenized whole.
  const cut = text.length > max * 8 ? text.slice(0, max * 8) : text;
  const ids = tok.encode(cut);
  return ids.length > max ? ids.slice(0, max) : ids;
}
