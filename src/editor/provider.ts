// Inline completions. One request, top to bottom: is the document ours → is the answer already
// cached (typing through a suggestion) → debounce, superseding older requests → the model
// (loaded on first use) → record the timings → items. VS Code cancels a request's token when
// the user types on; that cancellation reaches the model as an AbortSignal.

import * as vscode from 'vscode';
import { CompletionCache } from '../completion/completionCache';
import { completionOptions } from '../config';
import type { Ctx } from '../ctx';
import { alternatives, cacheAnswers, draftsFor } from './alternatives';
import type { DocumentSync } from './documentSync';
import { sampleFrom } from './latency';
import { askMembers, memberAccessAt } from './memberOracle';
import type { MemberHints } from '../completion/types';
import { RequestGate } from './requestGate';

/** Text after the cursor the cache compares: enough to tell "same place" from "edited nearby". */
const CACHE_SUFFIX_CHARS = 256;

export class InlineCompletionProvider implements vscode.InlineCompletionItemProvider {
  private readonly gate = new RequestGate();
  private readonly cache = new CompletionCache({ suffixChars: CACHE_SUFFIX_CHARS });

  constructor(
    private readonly ctx: Ctx,
    private readonly sync: DocumentSync,
  ) {
    // A different model or different settings would have said something else.
    ctx.pushCleanup(ctx.onDidCreateBackend(() => this.cache.clear()));
    ctx.pushCleanup(
      ctx.onDidChangeSettings(() => {
        this.cache.clear();
        this.gate.cancel();
      }),
    );
    ctx.pushCleanup(sync.onDidForget((path) => this.cache.forget(path)));
    ctx.pushCleanup({ dispose: () => this.gate.cancel() });
  }

  async provideInlineCompletionItems(
    document: vscode.TextDocument,
    position: vscode.Position,
    context: vscode.InlineCompletionContext,
    token: vscode.CancellationToken,
  ): Promise<vscode.InlineCompletionItem[] | undefined> {
    const settings = this.ctx.settings;
    if (!settings.enable || this.sync.classify(document).kind !== 'eligible') return undefined;

    const path = document.uri.toString();
    const prefix = document.getText(new vscode.Range(new vscode.Position(0, 0), position));
    const suffixEnd = document.positionAt(document.offsetAt(position) + CACHE_SUFFIX_CHARS);
    const suffix = document.getText(new vscode.Range(position, suffixEnd));
    const explicit = context.triggerKind === vscode.InlineCompletionTriggerKind.Invoke;
    const cached = settings.completionCache ? this.cache.get(path, prefix, suffix) : undefined;
    if (cached && cacheAnswers(explicit, settings.drafts, cached.completions.length)) {
      // The model run still in flight was for an earlier keystroke of this same suggestion.
      this.gate.cancel();
      return cached.completions.map((text) => insertAt(text, position));
    }

    const cancel = abortOnCancel(token);
    const entering = this.gate.enter(explicit ? 0 : settings.debounceMs, cancel.signal);
    // The language server's members (optional monitor oracle) are asked for during the debounce.
    const hints = settings.monitors && settings.languageServerMembers ? languageServerMembers(document, position, settings.languageServerBudgetMs, cancel.signal, entering) : undefined;
    const ticket = await entering;
    if (!ticket) {
      cancel.dispose();
      return undefined;
    }
    const watchLoop = this.ctx.eventLoop.begin();
    try {
      const backend = await this.ctx.readyBackend();
      if (!backend || ticket.signal.aborted || !this.sync.isOpen(document)) return undefined;

      const memberHints = await hints;
      const result = await backend.complete({
        path,
        line: position.line,
        col: position.character,
        maxTokens: settings.maxTokens,
        options: { ...completionOptions(settings), drafts: draftsFor(explicit, settings.drafts), ...(memberHints ? { memberHints } : {}) },
        signal: ticket.signal,
      });
      if (ticket.signal.aborted || result.stopReason === 'cancelled') return undefined;
      if (result.stopReason === 'skipped') {
        this.sync.markSkipped(document, result.skippedReason ?? 'skipped by the completion service');
        return undefined;
      }

      this.ctx.recordCompletion(sampleFrom(result, vscode.workspace.asRelativePath(document.uri, false), Date.now(), watchLoop()));
      const texts = alternatives(result);
      if (texts.length === 0) return undefined;
      this.cache.put(path, prefix, suffix, texts);
      return texts.map((text) => insertAt(text, position));
    } catch (err) {
      this.ctx.reportError(err, ticket.signal);
      return undefined;
    } finally {
      watchLoop();
      ticket.release();
      cancel.dispose();
    }
  }
}

/** The completion providers' members at a member access under the cursor, within the budget (editor/memberOracle.ts). */
function languageServerMembers(document: vscode.TextDocument, position: vscode.Position, budgetMs: number, signal: AbortSignal, ready: Promise<unknown>): Promise<MemberHints | undefined> | undefined {
  const query = memberAccessAt(document.lineAt(position.line).text.slice(0, position.character), position.line, document.languageId);
  if (!query) return undefined;
  const execute = (trigger: string | undefined) => vscode.commands.executeCommand<vscode.CompletionList | undefined>('vscode.executeCompletionItemProvider', document.uri, position, trigger);
  return askMembers(query, execute, budgetMs, signal, ready);
}

/** Ghost text inserted at the cursor (an empty range: nothing after the cursor is replaced). */
function insertAt(text: string, position: vscode.Position): vscode.InlineCompletionItem {
  return new vscode.InlineCompletionItem(text, new vscode.Range(position, position));
}

/** A CancellationToken as an AbortSignal; dispose to detach from the token. */
function abortOnCancel(token: vscode.CancellationToken): { signal: AbortSignal; dispose(): void } {
  const ctl = new AbortController();
  if (token.isCancellationRequested) ctl.abort();
  const sub = token.onCancellationRequested(() => ctl.abort());
  return { signal: ctl.signal, dispose: () => sub.dispose() };
}
