// The extension's context: owns the two disposal scopes (extension lifetime, model lifetime),
// the settings, the status state and the error policy. Modules get what they need from here;
// nothing else creates or disposes the completion backend.

import * as path from 'node:path';
import * as vscode from 'vscode';
import type { CompletionBackend, EngineState, Logger } from './completion/types';
import { affectsSettings, classifyChange, modelDirFor, readSettings, weightBitsOf, type Settings } from './config';
import { classifyError, errorMessage, ShowOnce } from './editor/errors';
import { EventLoopWatch } from './editor/eventLoop';
import { LatencyLog, type LatencySample } from './editor/latency';
import { COMMANDS, composeStatus, type DocumentNote } from './editor/status';
import { StatusBar } from './editor/statusBar';

export interface BackendOptions {
  modelDir: string;
  /** undefined = the runtime's default. */
  threads?: number;
  /** Block-quantized linear weights; undefined = fp32. */
  weightBits?: 4 | 8;
  maxContextTokens: number;
  /** The editor decides which documents reach the backend; its own limits must never be stricter. */
  maxDocumentBytes: number;
  maxDocumentLines: number;
  graphCacheDir: string;
  /** Speculative decoding's per-workspace state (the token recycling matrix). */
  speculationStateDir?: string;
  log: Logger;
  onState: (state: EngineState) => void;
  /** A backend that keeps documents elsewhere (a worker) lost one: the editor sends it again. */
  onDocumentError?: (path: string, err: Error) => void;
  /** The backend stopped for good (its worker died); it is unloaded. */
  onCrash?: (err: Error) => void;
}

export type BackendFactory = (opts: BackendOptions) => CompletionBackend;

const SELECT_MODEL_FOLDER = 'Select Model Folder';
const SHOW_LOG = 'Show Log';

export class Ctx implements vscode.Disposable {
  readonly log: vscode.LogOutputChannel;
  readonly latency: LatencyLog;
  /** The extension host's event-loop delay while completions run (latency report, status tooltip). */
  readonly eventLoop = new EventLoopWatch();

  /** Disposed on deactivate. */
  private readonly extensionScope: vscode.Disposable[] = [];
  /** Disposed whenever the model is unloaded (reload, completions off, deactivate). */
  private modelScope: vscode.Disposable[] = [];

  private readonly statusBar: StatusBar;
  private settingsValue: Settings;
  private engine: EngineState = { kind: 'idle' };
  private note: DocumentNote | undefined;

  private backend: CompletionBackend | undefined;
  private loading: Promise<CompletionBackend | undefined> | undefined;
  /** A failed load is not retried on every keystroke; changing the model settings clears it. */
  private loadFailed = false;
  private readonly shown = new ShowOnce();

  private readonly backendEvents = new vscode.EventEmitter<CompletionBackend>();
  /** A new backend exists (its model may still be loading): sync documents into it. */
  readonly onDidCreateBackend = this.backendEvents.event;
  private readonly documentErrors = new vscode.EventEmitter<{ path: string; error: Error }>();
  /** The backend's copy of a document can no longer be trusted: open it again from the editor's text. */
  readonly onDidLoseDocument = this.documentErrors.event;
  private readonly settingsEvents = new vscode.EventEmitter<Settings>();
  /** Settings changed in a way that matters (see classifyChange). */
  readonly onDidChangeSettings = this.settingsEvents.event;

  constructor(
    readonly extension: vscode.ExtensionContext,
    private readonly createBackend: BackendFactory,
  ) {
    this.settingsValue = readSettings();
    this.log = this.pushCleanup(vscode.window.createOutputChannel('Slipstream', { log: true }));
    this.latency = new LatencyLog(this.settingsValue.latencyReportSize);
    this.statusBar = this.pushCleanup(new StatusBar());
    this.pushCleanup(this.eventLoop);
    this.pushCleanup(this.backendEvents);
    this.pushCleanup(this.settingsEvents);
    this.pushCleanup(this.documentErrors);
    this.pushCleanup(vscode.workspace.onDidChangeConfiguration((e) => affectsSettings(e) && this.reloadSettings()));
    this.refreshStatus();
  }

  get settings(): Settings {
    return this.settingsValue;
  }

  get modelDir(): string {
    return modelDirFor(this.settingsValue, this.extension.extensionPath);
  }

  /** Registers something to dispose on deactivate. */
  pushCleanup<T extends vscode.Disposable>(d: T): T {
    this.extensionScope.push(d);
    return d;
  }

  /** Registers something to dispose with the current model. */
  pushModelCleanup<T extends vscode.Disposable>(d: T): T {
    this.modelScope.push(d);
    return d;
  }

  /**
   * The backend with its model loaded, or undefined when completions are off or the model
   * failed to load. The first call creates the backend and loads the model (lazily: nothing
   * is loaded at activation); concurrent callers share that load.
   */
  readyBackend(): Promise<CompletionBackend | undefined> {
    if (!this.settingsValue.enable || this.loadFailed) return Promise.resolve(undefined);
    if (!this.loading) {
      const backend = this.newBackend();
      // Assigned before anyone hears of the backend: onDidCreateBackend's listeners call
      // readyBackend() themselves (the workspace indexer waits for the model), and must join
      // this load instead of starting another one (which would recurse without end).
      this.loading = this.load(backend);
      this.backendEvents.fire(backend);
    }
    return this.loading;
  }

  /** Disposes the model scope; the next completion request loads the model again. */
  unloadModel(): void {
    const scope = this.modelScope;
    this.modelScope = [];
    this.backend = undefined;
    this.loading = undefined;
    this.loadFailed = false;
    // Reverse order: what was attached to the backend lets go before the backend goes.
    for (const d of scope.reverse()) {
      try {
        d.dispose();
      } catch (err) {
        this.log.error(`unloading the model: ${errorMessage(err)}`);
      }
    }
    this.setEngineState({ kind: 'idle' });
  }

  /** The user asked for the model again (e.g. picked the same folder after fixing it). */
  retryModel(): void {
    this.shown.reset();
    this.unloadModel();
  }

  recordCompletion(sample: LatencySample): void {
    this.latency.add(sample);
    this.refreshStatus();
  }

  /** What the status bar says about the active document; undefined for nothing special. */
  setDocumentNote(note: DocumentNote | undefined): void {
    if (JSON.stringify(note) === JSON.stringify(this.note)) return;
    this.note = note;
    this.refreshStatus();
  }

  /**
   * Cancellations are silent. Other errors are logged and shown once per distinct message;
   * `loading` names the model folder of a failed load, and the notification then offers to
   * pick another folder.
   */
  reportError(err: unknown, signal?: AbortSignal, loading?: { modelDir: string }): void {
    const kind = classifyError(err, signal);
    if (kind === 'cancelled') return;
    const message = errorMessage(err);
    // The service logs its own load failures; a stack helps only for real faults.
    if (!loading) this.log.error(kind === 'other' && err instanceof Error && err.stack ? err.stack : message);
    if (!this.shown.claim(message)) return;
    const aboutModel = loading !== undefined || kind === 'checkpoint';
    const where = loading && !message.includes(loading.modelDir) ? ` in ${loading.modelDir}` : '';
    const text = aboutModel ? `Slipstream could not load the model${where}: ${message}` : `Slipstream: ${message}`;
    const actions = aboutModel ? [SELECT_MODEL_FOLDER, SHOW_LOG] : [SHOW_LOG];
    void vscode.window.showErrorMessage(text, ...actions).then((choice) => {
      if (choice === SELECT_MODEL_FOLDER) void vscode.commands.executeCommand(COMMANDS.selectModelFolder);
      else if (choice === SHOW_LOG) this.log.show();
    });
  }

  dispose(): void {
    this.unloadModel();
    for (const d of this.extensionScope.reverse()) d.dispose();
    this.extensionScope.length = 0;
  }

  /** Creates the backend and ties it to the model scope (no model is loaded yet). */
  private newBackend(): CompletionBackend {
    const settings = this.settingsValue;
    // Declared first: the backend may report a state while it is being constructed.
    let backend: CompletionBackend | undefined;
    backend = this.createBackend({
      modelDir: this.modelDir,
      threads: settings.threads > 0 ? settings.threads : undefined,
      weightBits: weightBitsOf(settings.weights),
      maxContextTokens: settings.maxContextTokens,
      maxDocumentBytes: Number.MAX_SAFE_INTEGER,
      maxDocumentLines: Number.MAX_SAFE_INTEGER,
      graphCacheDir: path.join(this.extension.globalStorageUri.fsPath, 'graphs'),
      // Per workspace (what it learns is the workspace's code); without a folder open, per user.
      speculationStateDir: path.join((this.extension.storageUri ?? this.extension.globalStorageUri).fsPath, 'speculation'),
      log: this.log,
      // A disposed backend may still report while its last forward winds down.
      onState: (state) => {
        if (backend !== undefined && this.backend === backend) this.setEngineState(state);
      },
      onDocumentError: (docPath, err) => {
        if (backend !== undefined && this.backend === backend) this.documentErrors.fire({ path: docPath, error: err });
      },
      onCrash: (err) => {
        if (backend === undefined || this.backend !== backend) return;
        // A dead backend cannot complete: let it go, say why once, and wait for the user to
        // change the model settings (as after a failed load) instead of restarting per keystroke.
        this.unloadModel();
        this.loadFailed = true;
        this.setEngineState({ kind: 'error', message: errorMessage(err) });
        this.reportError(err);
      },
    });
    const created = backend;
    this.backend = created;
    this.pushModelCleanup({ dispose: () => created.dispose() });
    return created;
  }

  /** Loads the backend's model; resolves to the backend, or undefined when it failed or was unloaded. */
  private async load(backend: CompletionBackend): Promise<CompletionBackend | undefined> {
    const modelDir = this.modelDir;
    // Aborted when the model scope goes: stops waiting for a load nobody wants any more.
    const abort = new AbortController();
    this.pushModelCleanup({ dispose: () => abort.abort() });
    this.setEngineState({ kind: 'loading', modelDir });

    const t0 = performance.now();
    try {
      await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: 'Slipstream', cancellable: false },
        async (progress) => {
          progress.report({ message: `Loading model from ${modelDir}` });
          await backend.ensureLoaded(abort.signal);
        },
      );
    } catch (err) {
      if (abort.signal.aborted) return undefined;
      // A backend that cannot load would still take every keystroke's edit: let it go now.
      this.unloadModel();
      this.loadFailed = true;
      this.setEngineState({ kind: 'error', message: errorMessage(err) });
      this.reportError(err, undefined, { modelDir });
      return undefined;
    }
    if (abort.signal.aborted) return undefined;
    this.log.info(`model ready in ${Math.round(performance.now() - t0)} ms: ${modelDir}`);
    return backend;
  }

  private reloadSettings(): void {
    const before = this.settingsValue;
    const after = readSettings();
    this.settingsValue = after;
    const effect = classifyChange(before, after);
    if (effect === 'none') return;
    this.latency.resize(after.latencyReportSize);
    if (effect === 'reload' || (before.enable && !after.enable)) {
      // Completions off also unloads: the point of switching off is to get the CPU and memory back.
      this.log.info(effect === 'reload' ? 'model settings changed: unloading the model' : 'completions off: unloading the model');
      this.retryModel();
    }
    this.settingsEvents.fire(after);
    this.refreshStatus();
  }

  private setEngineState(state: EngineState): void {
    this.engine = state;
    this.refreshStatus();
  }

  private refreshStatus(): void {
    this.statusBar.setState(
      composeStatus({ enabled: this.settingsValue.enable, engine: this.engine, note: this.note, last: this.latency.last }),
    );
  }
}
