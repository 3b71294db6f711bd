// Feeds the workspace's source files to the backend's symbol index (monitor-guided decoding
// needs the classes and exports of files that are not open) and to its n-gram counts (drafts). It runs in the background and
// never holds the editor up: after the model is ready, files are read one at a time with the
// event loop free in between, bounded in count and size, and everything stops when the model
// goes (reload, completions off) or the monitors are switched off. Saved, created and deleted
// files keep the index current through a file watcher.

import * as vscode from 'vscode';
import type { CompletionBackend } from '../completion/types';
import type { Ctx } from '../ctx';

/** Languages the symbol index understands (python, ecmascript, c). */
const GLOB = '**/*.{py,pyi,ts,tsx,mts,cts,js,jsx,mjs,cjs,c,h}';
const EXCLUDE = '{**/node_modules/**,**/.git/**,**/dist/**,**/build/**,**/out/**,**/.venv/**,**/venv/**,**/__pycache__/**,**/site-packages/**}';
const MAX_FILES = 2000;
const MAX_FILE_BYTES = 500_000;
/** Pause between files, ms: the scan takes the CPU only in short bursts. */
const PAUSE_MS = 2;

type IndexingBackend = CompletionBackend & Required<Pick<CompletionBackend, 'addWorkspaceFile' | 'removeWorkspaceFile' | 'indexWorkspace'>>;

function canIndex(b: CompletionBackend): b is IndexingBackend {
  return typeof b.addWorkspaceFile === 'function' && typeof b.removeWorkspaceFile === 'function' && typeof b.indexWorkspace === 'function';
}

export class WorkspaceIndexer implements vscode.Disposable {
  private readonly subscriptions: vscode.Disposable[] = [];
  private backend: CompletionBackend | undefined;
  private running: vscode.Disposable | undefined;

  constructor(private readonly ctx: Ctx) {
    this.subscriptions.push(
      ctx.onDidCreateBackend((backend) => {
        this.backend = backend;
        ctx.pushModelCleanup({
          dispose: () => {
            this.stop();
            if (this.backend === backend) this.backend = undefined;
          },
        });
        this.sync();
      }),
      ctx.onDidChangeSettings(() => this.sync()),
    );
  }

  dispose(): void {
    this.stop();
    for (const d of this.subscriptions) d.dispose();
    this.subscriptions.length = 0;
  }

  /** Starts indexing for the current backend when the monitors or the drafts (n-grams) want it; stops it when neither does. */
  private sync(): void {
    const backend = this.backend;
    const wanted = this.ctx.settings.monitors || this.ctx.settings.drafts > 1;
    if (!wanted || !backend || !canIndex(backend)) {
      this.stop();
      return;
    }
    if (!this.running) this.running = this.start(backend);
  }

  private stop(): void {
    this.running?.dispose();
    this.running = undefined;
  }

  private start(backend: IndexingBackend): vscode.Disposable {
    const abort = new AbortController();
    const watcher = vscode.workspace.createFileSystemWatcher(GLOB);
    const reread = (uri: vscode.Uri): void => {
      void this.read(uri, abort.signal).then(async (text) => {
        if (text === undefined || abort.signal.aborted) return;
        await backend.addWorkspaceFile(uri.toString(), text);
        await backend.indexWorkspace(abort.signal);
      }, (err: unknown) => this.ctx.log.warn(`workspace index: ${uri.toString()}: ${String(err)}`));
    };
    const subs = [
      watcher,
      watcher.onDidChange(reread),
      watcher.onDidCreate(reread),
      watcher.onDidDelete((uri) => backend.removeWorkspaceFile(uri.toString())),
    ];
    void this.scan(backend, abort.signal).catch((err: unknown) => {
      if (!abort.signal.aborted) this.ctx.log.warn(`workspace index stopped: ${String(err)}`);
    });
    return {
      dispose: () => {
        abort.abort();
        for (const d of subs) d.dispose();
      },
    };
  }

  private async scan(backend: IndexingBackend, signal: AbortSignal): Promise<void> {
    // The model load comes first: it is what the user waits for.
    if (!(await this.ctx.readyBackend()) || signal.aborted) return;
    const t0 = performance.now();
    const uris = await vscode.workspace.findFiles(GLOB, EXCLUDE, MAX_FILES);
    let taken = 0;
    for (const uri of uris) {
      if (signal.aborted) return;
      const text = await this.read(uri, signal);
      if (text !== undefined && (await backend.addWorkspaceFile(uri.toString(), text))) taken++;
      await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
    }
    const parsed = await backend.indexWorkspace(signal);
    if (!signal.aborted) this.ctx.log.info(`workspace index: ${taken} of ${uris.length} files taken, ${parsed} parsed in ${Math.round(performance.now() - t0)} ms`);
  }

  private async read(uri: vscode.Uri, signal: AbortSignal): Promise<string | undefined> {
    const stat = await vscode.workspace.fs.stat(uri);
    if (signal.aborted || stat.size > MAX_FILE_BYTES) return undefined;
    const bytes = await vscode.workspace.fs.readFile(uri);
    return new TextDecoder('utf-8').decode(bytes);
  }
}
