// Keeps the backend's documents in step with the editor's: open, every change, close. Only
// eligible documents (file/untitled, enabled language, within the size limits, not binary)
// reach the backend; skipped ones get a status-bar note while they are the active editor.

import * as vscode from 'vscode';
import { checkDocument } from '../completion/documentGuards';
import type { CompletionBackend } from '../completion/types';
import type { Ctx } from '../ctx';
import { toDocumentEdits } from './documentEdits';
import { classifyDocument, SYNCED_SCHEMES, type DocumentShape, type Eligibility } from './eligibility';
import type { DocumentNote } from './status';

export class DocumentSync implements vscode.Disposable {
  private backend: CompletionBackend | undefined;
  /** URIs currently open in the backend. */
  private readonly opened = new Set<string>();
  /** The last classification of every document the editor has open, by URI. */
  private readonly eligibility = new Map<string, Eligibility>();
  private readonly subscriptions: vscode.Disposable[] = [];
  private readonly closeEvents = new vscode.EventEmitter<string>();
  /** A document left the backend (closed, or no longer eligible). */
  readonly onDidForget = this.closeEvents.event;

  constructor(private readonly ctx: Ctx) {
    this.subscriptions.push(
      this.closeEvents,
      vscode.workspace.onDidOpenTextDocument((doc) => this.update(doc, true)),
      vscode.workspace.onDidChangeTextDocument((e) => this.changed(e)),
      vscode.workspace.onDidCloseTextDocument((doc) => this.closed(doc)),
      vscode.window.onDidChangeActiveTextEditor(() => this.showActiveNote()),
      ctx.onDidCreateBackend((backend) => ctx.pushModelCleanup(this.attach(backend))),
      ctx.onDidLoseDocument(({ path, error }) => this.lost(path, error)),
      // Languages or limits may have changed: every open document is classified again.
      ctx.onDidChangeSettings(() => this.resync()),
    );
    this.resync();
  }

  /** How the provider should treat a document right now. */
  classify(doc: vscode.TextDocument): Eligibility {
    return this.eligibility.get(doc.uri.toString()) ?? this.update(doc, true);
  }

  /** True when the backend has the document and can complete in it. */
  isOpen(doc: vscode.TextDocument): boolean {
    return this.opened.has(doc.uri.toString());
  }

  /** The backend refused the document (its own guards): stop syncing it and say why. */
  markSkipped(doc: vscode.TextDocument, reason: string): void {
    const key = doc.uri.toString();
    this.eligibility.set(key, { kind: 'skipped', reason, cause: 'content' });
    this.closeInBackend(key);
    this.showActiveNote();
  }

  dispose(): void {
    for (const d of this.subscriptions) d.dispose();
    this.subscriptions.length = 0;
  }

  /** Opens every eligible document in a new backend; the returned disposable detaches. */
  private attach(backend: CompletionBackend): vscode.Disposable {
    this.backend = backend;
    this.opened.clear();
    for (const doc of vscode.workspace.textDocuments) this.update(doc, false);
    return {
      dispose: () => {
        if (this.backend !== backend) return;
        for (const key of this.opened) this.closeEvents.fire(key);
        this.backend = undefined;
        this.opened.clear();
      },
    };
  }

  private resync(): void {
    this.eligibility.clear();
    for (const doc of vscode.workspace.textDocuments) this.update(doc, true);
    // Closed while it was being classified again: drop what the backend still holds of it.
    const live = new Set(vscode.workspace.textDocuments.map((d) => d.uri.toString()));
    for (const key of [...this.opened]) if (!live.has(key)) this.closeInBackend(key);
    this.showActiveNote();
  }

  /**
   * Classifies a document (`scan`: also its content, which is O(document)) and opens or closes
   * it in the backend to match. Returns the classification.
   */
  private update(doc: vscode.TextDocument, scan: boolean): Eligibility {
    const key = doc.uri.toString();
    const known = this.eligibility.get(key);
    const settings = this.ctx.settings;
    const eligibility =
      !scan && known !== undefined
        ? known
        : classifyDocument(shapeOf(doc), settings, () =>
            checkDocument(doc.getText(), { maxDocumentBytes: settings.maxDocumentBytes, maxDocumentLines: settings.maxDocumentLines }),
          );
    this.eligibility.set(key, eligibility);
    if (eligibility.kind === 'eligible') this.openInBackend(doc);
    else this.closeInBackend(key);
    if (doc === vscode.window.activeTextEditor?.document) this.showActiveNote();
    return eligibility;
  }

  private changed(e: vscode.TextDocumentChangeEvent): void {
    if (e.contentChanges.length === 0) return;
    const doc = e.document;
    const key = doc.uri.toString();
    const known = this.eligibility.get(key);
    if (known?.kind === 'ignored') return;
    // Typing keeps content the same kind, so only the O(1) size checks run here; a document
    // that was skipped for its content stays skipped until it is reopened.
    const now = known?.kind === 'skipped' && known.cause === 'content' ? known : classifyDocument(shapeOf(doc), this.ctx.settings);
    this.eligibility.set(key, now);
    if (now.kind !== 'eligible') {
      this.closeInBackend(key);
    } else if (this.opened.has(key)) {
      try {
        this.backend?.edit(key, toDocumentEdits(e.contentChanges));
      } catch (err) {
        // The backend's copy may have diverged: replace it with the editor's text.
        this.ctx.reportError(err);
        this.closeInBackend(key);
        this.openInBackend(doc);
      }
    } else if (known?.kind === 'skipped') {
      // Shrunk back under the limits: the full content check decides.
      this.update(doc, true);
    } else {
      // No backend yet (a no-op then: it reads the text when it is created), or a failed open.
      this.openInBackend(doc);
    }
    if (doc === vscode.window.activeTextEditor?.document && now.kind !== known?.kind) this.showActiveNote();
  }

  /** The backend could not apply an update (it reported so later): replace its copy. */
  private lost(key: string, error: Error): void {
    this.ctx.reportError(error);
    const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === key);
    this.closeInBackend(key);
    if (doc && this.eligibility.get(key)?.kind === 'eligible') this.openInBackend(doc);
  }

  private closed(doc: vscode.TextDocument): void {
    const key = doc.uri.toString();
    this.eligibility.delete(key);
    this.closeInBackend(key);
  }

  private openInBackend(doc: vscode.TextDocument): void {
    const key = doc.uri.toString();
    if (!this.backend || this.opened.has(key)) return;
    try {
      this.backend.open(key, doc.getText(), doc.languageId);
      this.opened.add(key);
    } catch (err) {
      this.ctx.reportError(err);
    }
  }

  private closeInBackend(key: string): void {
    if (!this.opened.delete(key)) return;
    try {
      this.backend?.close(key);
    } catch (err) {
      this.ctx.reportError(err);
    }
    this.closeEvents.fire(key);
  }

  private showActiveNote(): void {
    const doc = vscode.window.activeTextEditor?.document;
    this.ctx.setDocumentNote(doc ? this.noteFor(doc) : undefined);
  }

  private noteFor(doc: vscode.TextDocument): DocumentNote | undefined {
    // Only the user's own files deserve a note; an output pane or a diff view is not theirs.
    if (!SYNCED_SCHEMES.has(doc.uri.scheme)) return undefined;
    const e = this.eligibility.get(doc.uri.toString());
    if (e?.kind === 'skipped') return { kind: 'skipped', reason: e.reason };
    if (e?.kind === 'ignored') return { kind: 'language', languageId: doc.languageId };
    return undefined;
  }
}

function shapeOf(doc: vscode.TextDocument): DocumentShape {
  const end = doc.lineAt(doc.lineCount - 1).range.end;
  return { uriScheme: doc.uri.scheme, languageId: doc.languageId, lineCount: doc.lineCount, length: doc.offsetAt(end) };
}

