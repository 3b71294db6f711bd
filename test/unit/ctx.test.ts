// The extension's context wired as activate() wires it, against a fake `vscode` (fakeVscode.ts):
// the first completion request creates ONE backend and loads it, even though the document sync
// and the workspace indexer hear of the new backend synchronously and ask for it themselves
// (a listener that asked before the load was recorded used to start another backend, whose
// listeners started another: unbounded recursion, and no completion ever showed in the editor).
import assert from 'node:assert/strict';
import { beforeEach, test } from 'node:test';
import type { CompletionBackend, CompletionResult, ServiceStats } from '../../src/completion/types';
import { fake, installFakeVscode, resetFake } from './fakeVscode';

installFakeVscode();
// After the fake is installed: these import `vscode`.
const { Ctx } = require('../../src/ctx') as typeof import('../../src/ctx');
const { DocumentSync } = require('../../src/editor/documentSync') as typeof import('../../src/editor/documentSync');
const { WorkspaceIndexer } = require('../../src/editor/workspaceIndex') as typeof import('../../src/editor/workspaceIndex');
type BackendOptions = import('../../src/ctx').BackendOptions;

class FakeBackend implements CompletionBackend {
  loads = 0;
  disposed = false;
  constructor(readonly opts: BackendOptions, private readonly fail?: Error) {}
  async ensureLoaded(): Promise<void> {
    this.loads++;
    await new Promise((r) => setTimeout(r, 5));
    if (this.fail) throw this.fail;
  }
  open(): void {}
  edit(): void {}
  close(): void {}
  async complete(): Promise<CompletionResult> {
    throw new Error('not used');
  }
  addWorkspaceFile(): boolean {
    return true;
  }
  removeWorkspaceFile(): void {}
  async indexWorkspace(): Promise<number> {
    return 0;
  }
  stats(): ServiceStats {
    return { modelDir: this.opts.modelDir, loaded: this.loads > 0, documents: 0, cachedTokens: 0, cacheBytes: 0, residentBytes: 0 };
  }
  dispose(): void {
    this.disposed = true;
  }
}

const extension = { extensionPath: '/ext', globalStorageUri: { fsPath: '/tmp/g' }, storageUri: undefined, subscriptions: [] };

function activate(fail?: Error) {
  const created: FakeBackend[] = [];
  const ctx = new Ctx(extension as never, (opts) => {
    const b = new FakeBackend(opts, fail);
    created.push(b);
    return b;
  });
  ctx.pushCleanup(new DocumentSync(ctx));
  ctx.pushCleanup(new WorkspaceIndexer(ctx));
  return { ctx, created };
}

beforeEach(resetFake);

test('the first request creates one backend and loads it once, although its listeners ask for it too', async () => {
  const { ctx, created } = activate();
  try {
    const [a, b] = await Promise.all([ctx.readyBackend(), ctx.readyBackend()]);
    assert.deepEqual(fake.listenerErrors, [], 'no listener of onDidCreateBackend threw');
    assert.equal(created.length, 1, `backends created: ${created.length}`);
    assert.equal(created[0].loads, 1);
    assert.equal(a, created[0]);
    assert.equal(b, created[0]);
    assert.equal(await ctx.readyBackend(), created[0], 'later requests get the loaded backend');
    assert.deepEqual(fake.errors, []);
  } finally {
    ctx.dispose();
  }
  assert.equal(created[0].disposed, true, 'deactivate disposes the backend');
});

test('a model that cannot load: one error, no new backend per request, a retry tries again', async () => {
  const err = new Error('config.json: not valid JSON');
  err.name = 'CheckpointError';
  const { ctx, created } = activate(err);
  try {
    assert.equal(await ctx.readyBackend(), undefined);
    assert.equal(await ctx.readyBackend(), undefined);
    assert.equal(created.length, 1);
    assert.equal(created[0].disposed, true, 'the failed backend is let go');
    assert.equal(fake.errors.length, 1, JSON.stringify(fake.errors));
    assert.match(fake.errors[0], /could not load the model in \/ext\/models\/default: config\.json: not valid JSON/);
    ctx.retryModel();
    assert.equal(await ctx.readyBackend(), undefined);
    assert.equal(created.length, 2, 'after a retry the model is loaded again');
  } finally {
    ctx.dispose();
  }
});

test('a backend that crashes is unloaded and reported once; the next request does not restart it', async () => {
  const { ctx, created } = activate();
  try {
    await ctx.readyBackend();
    created[0].opts.onCrash?.(new Error('the completion worker exited unexpectedly (exit code 134)'));
    created[0].opts.onCrash?.(new Error('the completion worker exited unexpectedly (exit code 134)'));
    assert.equal(created[0].disposed, true);
    assert.equal(fake.errors.length, 1, JSON.stringify(fake.errors));
    assert.equal(await ctx.readyBackend(), undefined);
    assert.equal(created.length, 1);
  } finally {
    ctx.dispose();
  }
});
