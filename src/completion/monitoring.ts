// The completion service's side of monitor-guided decoding: a workspace analysis that mirrors
// the service's open documents (each edit feeds the document's incremental tree) plus the
// workspace files the editor hands over in the background, and the per-request monitors.
//
// Nothing here may hold a completion up: the analysis runs while the prompt is encoded, and a
// request whose analysis is not ready within a small budget after that runs unconstrained (the
// parse goes on and serves the next request).

import { analysisLangFor, WorkspaceAnalysis, type DocumentAnalysis } from '../analysis/index';
import { grammarForLanguageId, languageIdForPath } from '../analysis/grammars';
import { createMonitors, type Monitors } from '../decoding/monitors/index';
import type { TokenizerLike } from '../engine/types';
import type { DocumentEdit } from './types';

export interface MonitoringLimits {
  /** Workspace files kept in the index (default 2000). */
  maxFiles?: number;
  /** Largest workspace file indexed, characters (default 500 000). */
  maxFileChars?: number;
  /** Characters of workspace text held before parsing, all files together (default 32 MB). */
  maxPendingChars?: number;
}

interface TrackedDocument {
  languageId: string;
  /** Settles once the grammar is loaded; null when no grammar is shipped for the language. */
  ready: Promise<DocumentAnalysis | null>;
}

export class Monitoring {
  readonly workspace: WorkspaceAnalysis;
  private readonly docs = new Map<string, TrackedDocument>();
  private readonly maxFileChars: number;
  private readonly maxPendingChars: number;
  private pendingChars = 0;

  /** Distinct failure messages already reported (a grammar that cannot load fails for every document). */
  private readonly reported = new Set<string>();

  constructor(
    limits: MonitoringLimits = {},
    /** Told once per distinct message when the analysis fails (the monitors then stay off for that document). */
    private readonly onError: (message: string) => void = () => {},
  ) {
    this.maxFileChars = limits.maxFileChars ?? 500_000;
    this.maxPendingChars = limits.maxPendingChars ?? 32_000_000;
    this.workspace = new WorkspaceAnalysis({ maxFiles: limits.maxFiles ?? 2000, maxChars: 1_000_000 });
  }

  open(path: string, text: string, languageId?: string): void {
    const lid = languageId ?? languageIdForPath(path);
    if (!lid) return;
    const ready = this.workspace.open(path, text, lid).catch((e: unknown) => {
      this.report(e);
      return null;
    });
    this.docs.set(path, { languageId: lid, ready });
    // Parse in the background (time-sliced) so that the first request finds the tree ready.
    void ready.then((doc) => doc?.getTree().catch(() => null));
  }

  /**
   * Edits reach the incremental tree once its grammar has loaded; edits made before that are
   * caught up by comparing texts when a request needs the analysis (see monitorsFor).
   */
  edit(path: string, edits: DocumentEdit[]): void {
    this.workspace.edit(path, edits);
  }

  close(path: string): void {
    this.docs.delete(path);
    this.workspace.close(path);
  }

  /**
   * A workspace file that is not (necessarily) open: its symbols answer imports and members.
   * Bounded by file size and by the text waiting to be parsed; returns whether it was taken.
   */
  addWorkspaceFile(path: string, text: string, languageId?: string): boolean {
    const lid = languageId ?? languageIdForPath(path);
    const grammar = lid ? grammarForLanguageId(lid) : undefined;
    // Only languages with a symbol extractor are worth parsing ahead of time.
    if (!lid || !grammar || !analysisLangFor(grammar.name)) return false;
    if (text.length > this.maxFileChars || this.pendingChars + text.length > this.maxPendingChars) return false;
    if (!this.workspace.index.addFile(path, text, lid)) return false;
    this.pendingChars += text.length;
    return true;
  }

  removeWorkspaceFile(path: string): void {
    this.workspace.index.removeFile(path);
  }

  /** Parses the workspace files handed over so far, in time slices, until done or aborted. */
  async indexWorkspace(signal?: AbortSignal): Promise<number> {
    const n = await this.workspace.index.indexPending(signal);
    // Parsed files drop their text (the index keeps only symbols).
    if (!signal?.aborted) this.pendingChars = 0;
    return n;
  }

  /**
   * The monitors for a request at `cursor` (UTF-16 offset) in `text` (the document as the
   * session has it), or null when none applies. Starts the analysis (parse of the document
   * and of what it imports); callers race it against their own budget.
   */
  async monitorsFor(
    path: string,
    text: string,
    cursor: number,
    tokenizer: TokenizerLike,
    signal: AbortSignal,
    cursorMembers?: { receiverEnd: number; names: readonly string[] },
  ): Promise<Monitors | null> {
    const tracked = this.docs.get(path);
    if (!tracked) return null;
    const doc = await tracked.ready;
    if (!doc || signal.aborted || this.docs.get(path) !== tracked) return null;
    // Edits that arrived while the grammar loaded went nowhere: catch up with the whole text.
    if (doc.text !== text) doc.setText(text);
    return createMonitors({ analysis: this.workspace.index, tokenizer, document: doc, cursorOffset: cursor, languageId: tracked.languageId, signal, cursorMembers });
  }

  dispose(): void {
    this.docs.clear();
    this.workspace.dispose();
  }

  private report(e: unknown): void {
    const message = `static analysis unavailable: ${e instanceof Error ? e.message : String(e)}`;
    if (this.reported.has(message)) return;
    this.reported.add(message);
    this.onError(message);
  }
}

/**
 * Resolves to `p`'s value if it settles within `ms` after `after` settles, else to null (p keeps
 * running). Rejections become null too: a failing analysis must never fail a completion.
 */
export async function withinBudget<T>(p: Promise<T | null>, ms: number, signal: AbortSignal): Promise<T | null> {
  const safe = p.catch(() => null);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), ms);
    signal.addEventListener('abort', () => resolve(null), { once: true });
  });
  try {
    return await Promise.race([safe, late]);
  } finally {
    clearTimeout(timer);
  }
}
