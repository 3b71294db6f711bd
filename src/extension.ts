// Activation only: build the context, wire the modules. The model is not loaded here; the
// first completion request loads it.

import * as vscode from 'vscode';
import { CompletionService } from './completion/service';
import { WorkerBackend } from './completion/worker/backend';
import { Ctx } from './ctx';
import { registerCommands } from './editor/commands';
import { DocumentSync } from './editor/documentSync';
import { InlineCompletionProvider } from './editor/provider';
import { WorkspaceIndexer } from './editor/workspaceIndex';

let ctx: Ctx | undefined;

export function activate(context: vscode.ExtensionContext): void {
  try {
    // The service runs on a worker thread (dist/worker.js): a forward there never stalls the
    // extension host's event loop, which every extension and the editor's UI requests share.
    // SLIPSTREAM_IN_PROCESS=1 runs it on that loop instead, only so that bench/editor can show
    // the difference side by side.
    const inProcess = process.env.SLIPSTREAM_IN_PROCESS === '1';
    ctx = new Ctx(context, (opts) => (inProcess ? new CompletionService(opts) : new WorkerBackend(opts)));
    const sync = ctx.pushCleanup(new DocumentSync(ctx));
    ctx.pushCleanup(new WorkspaceIndexer(ctx));
    registerCommands(ctx);
    // Every language is registered; per-language enablement is checked per request, so
    // changing `slipstream.enabledLanguages` needs no re-registration.
    ctx.pushCleanup(
      vscode.languages.registerInlineCompletionItemProvider(
        [{ scheme: 'file' }, { scheme: 'untitled' }],
        new InlineCompletionProvider(ctx, sync),
      ),
    );
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    void vscode.window.showErrorMessage(`Slipstream failed to start: ${message}`);
    ctx?.dispose();
    ctx = undefined;
    throw err;
  }
}

export function deactivate(): void {
  ctx?.dispose();
  ctx = undefined;
}
