// Just enough of the `vscode` module to construct the extension's context and its document
// wiring in a unit test (Ctx, DocumentSync, WorkspaceIndexer), with everything it shows recorded.
// installFakeVscode() must run before any module that imports `vscode` is required.
import Module from 'node:module';

type Listener<T> = (e: T) => unknown;

export class EventEmitter<T> {
  private listeners: Array<Listener<T>> = [];
  readonly event = (listener: Listener<T>): { dispose(): void } => {
    this.listeners.push(listener);
    return { dispose: () => (this.listeners = this.listeners.filter((l) => l !== listener)) };
  };
  fire(e: T): void {
    // Like VS Code's emitter: a throwing listener is reported, the others still run.
    for (const l of [...this.listeners]) {
      try {
        l(e);
      } catch (err) {
        fake.listenerErrors.push(err);
      }
    }
  }
  dispose(): void {
    this.listeners = [];
  }
}

const noop = { dispose(): void {} };
const event = () => () => noop;

export interface FakeRecord {
  settings: Record<string, unknown>;
  errors: string[];
  listenerErrors: unknown[];
  progress: string[];
}

export const fake: FakeRecord = { settings: {}, errors: [], listenerErrors: [], progress: [] };

const logChannel = { info() {}, warn() {}, error() {}, debug() {}, trace() {}, show() {}, dispose() {} };

export const vscodeFake = {
  EventEmitter,
  MarkdownString: class {
    isTrusted = false;
    constructor(readonly value = '') {}
  },
  ThemeColor: class {
    constructor(readonly id: string) {}
  },
  StatusBarAlignment: { Left: 1, Right: 2 },
  ProgressLocation: { SourceControl: 1, Window: 10, Notification: 15 },
  ConfigurationTarget: { Global: 1, Workspace: 2, WorkspaceFolder: 3 },
  window: {
    createOutputChannel: () => logChannel,
    createStatusBarItem: () => ({ show() {}, hide() {}, dispose() {} }),
    withProgress: async <R>(o: { title?: string }, task: (p: { report(v: { message?: string }): void }) => Promise<R>): Promise<R> => {
      fake.progress.push(o.title ?? '');
      return task({ report() {} });
    },
    showErrorMessage: async (message: string) => {
      fake.errors.push(message);
      return undefined;
    },
    setStatusBarMessage: () => noop,
    onDidChangeActiveTextEditor: event(),
    activeTextEditor: undefined,
  },
  workspace: {
    getConfiguration: () => ({ get: (key: string) => fake.settings[key], inspect: () => undefined, update: async () => undefined }),
    onDidChangeConfiguration: event(),
    onDidOpenTextDocument: event(),
    onDidChangeTextDocument: event(),
    onDidCloseTextDocument: event(),
    textDocuments: [] as unknown[],
    workspaceFolders: undefined,
    findFiles: async () => [],
    createFileSystemWatcher: () => ({ onDidChange: event(), onDidCreate: event(), onDidDelete: event(), dispose() {} }),
  },
  commands: { executeCommand: async () => undefined, registerCommand: () => noop },
};

let installed = false;
export function installFakeVscode(): void {
  if (installed) return;
  installed = true;
  const mod = Module as unknown as { _load(request: string, parent: unknown, isMain: boolean): unknown };
  const load = mod._load;
  mod._load = function (request: string, parent: unknown, isMain: boolean) {
    if (request === 'vscode') return vscodeFake;
    return load.call(this, request, parent, isMain);
  };
}

export function resetFake(): void {
  fake.settings = {};
  fake.errors = [];
  fake.listenerErrors = [];
  fake.progress = [];
}
