// Drafts through the completion service (tiny real model, and the default model when present):
// drafts = 1 is the plain greedy answer byte for byte; more drafts give distinct alternatives,
// each a fixed point of the post-processing (a valid completion under its rules), the greedy
// one first for chains; token healing applies to every draft; cancelling mid-draft returns
// cleanly and leaves the session as a fresh one.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CompletionService, type LoadedModel } from '../../../src/completion/service';
import { postprocess } from '../../../src/completion/postprocess';
import type { CompletionOptions, CompletionRequest, CompletionResult } from '../../../src/completion/types';
import { disposeTiny, loadTiny, tinyDir } from '../decoding/tinyModel';

const ROOT = join(__dirname, '../../..');
after(disposeTiny);

const DOC = 'class Box:\n    def __init__(self, items):\n        self.items = items\n\n    def size(self):\n        return len(self.\n\n    def first(self):\n        \n';

/** The answer's texts, checked: distinct, non-empty, post-processing leaves each unchanged. */
function checkDrafts(svc: CompletionService, req: CompletionRequest, r: CompletionResult, k: number, text: string): void {
  assert.ok(r.completions.length <= k, `at most ${k} drafts`);
  assert.equal(new Set(r.completions).size, r.completions.length, `distinct: ${JSON.stringify(r.completions)}`);
  if (r.completions.length > 0) assert.equal(r.completion, r.completions[0]);
  else assert.equal(r.completion, '');
  const offset = text.split('\n').slice(0, req.line).reduce((n, l) => n + l.length + 1, 0) + req.col;
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
  const mode = req.options?.mode === 'line' ? 'line' : 'block';
  for (const c of r.completions) {
    assert.notEqual(c.trim(), '');
    if (req.options?.mode !== 'auto') assert.equal(postprocess(c, { linePrefix: text.slice(lineStart, offset), suffix: text.slice(offset, offset + 2000), mode }), c, `post-processing keeps ${JSON.stringify(c)}`);
  }
  void svc;
}

async function checkService(svc: CompletionService, path: string, text: string, places: [number, number][], maxTokens: number): Promise<number> {
  svc.open(path, text, 'python');
  let multi = 0;
  for (const [line, col] of places) {
    for (const mode of ['line', 'block'] as const) {
      const base: CompletionOptions = { mode, completionCache: false };
      const req = (o: CompletionOptions): CompletionRequest => ({ path, line, col, maxTokens, options: { ...base, ...o } });
      const greedy = await svc.complete(req({}));
      const one = await svc.complete(req({ drafts: 1 }));
      assert.deepEqual([one.completion, one.completions, one.stopReason, one.timings.tokens], [greedy.completion, greedy.completions, greedy.stopReason, greedy.timings.tokens], `drafts=1 is greedy at ${line}:${col} ${mode}`);
      const off = await svc.complete(req({ drafts: 1, speculation: 'off' }));
      assert.equal(off.completion, greedy.completion);
      for (const draftMethod of ['chains', 'superposed'] as const) {
        for (const k of [2, 3]) {
          const r = await svc.complete(req({ drafts: k, draftMethod }));
          checkDrafts(svc, req({ mode }), r, k, text);
          if (draftMethod === 'chains' && greedy.completion !== '') assert.equal(r.completion, greedy.completion, `chains: the greedy draft first at ${line}:${col} ${mode}`);
          if (r.completions.length > 1) multi++;
        }
      }
    }
  }
  return multi;
}

test('drafts through the service on the fixture model', async () => {
  const svc = new CompletionService({ modelDir: tinyDir() });
  const multi = await checkService(svc, '/ws/box.py', DOC, [[5, 24], [8, 8], [2, 8]], 16);
  assert.ok(multi > 0, 'some requests gave several drafts');
  await assert.rejects(svc.complete({ path: '/ws/box.py', line: 0, col: 0, options: { drafts: 0 } }), /drafts must be an integer from 1 to 8/);
  await assert.rejects(svc.complete({ path: '/ws/box.py', line: 0, col: 0, options: { drafts: 9 } }), /drafts/);
  await svc.shutdown();
});

test('cancelling mid-draft returns cleanly; the next answer equals a fresh service', async () => {
  const tiny = await loadTiny();
  const req: CompletionRequest = { path: 'm.py', line: 8, col: 8, maxTokens: 16, options: { mode: 'block', drafts: 3 } };
  const fresh = new CompletionService({ modelDir: tinyDir() });
  fresh.open('m.py', DOC);
  const reference = await fresh.complete(req);
  await fresh.shutdown();
  for (const draftMethod of ['chains', 'superposed'] as const) {
    let n = 0;
    let abortAt = -1;
    const controller = new AbortController();
    const wrapped: LoadedModel = {
      tokenizer: tiny.ckpt.tokenizer,
      model: {
        createCache: () => tiny.model.createCache(),
        embed: (t) => tiny.model.embed(t),
        forward: (cache, r) => {
          if (++n === abortAt) controller.abort();
          return tiny.model.forward(cache, r);
        },
        dispose: () => {},
      },
    };
    const svc = new CompletionService({ modelDir: 'tiny', loader: async () => wrapped });
    svc.open('m.py', DOC);
    await svc.ensureLoaded();
    const o = { ...req, options: { ...req.options, draftMethod } };
    await svc.complete(o);
    n = 0;
    abortAt = 3;
    const cancelled = await svc.complete({ ...o, signal: controller.signal });
    assert.equal(cancelled.stopReason, 'cancelled');
    assert.deepEqual(cancelled.completions, []);
    const next = await svc.complete(o);
    if (draftMethod === 'chains') assert.deepEqual(next.completions, reference.completions);
    assert.equal(svc.stats().cachedTokens, next.reusedTokens + next.encodedTokens);
    await svc.shutdown();
  }
});

const MODEL = join(ROOT, 'models/default');
test('drafts on the default model: drafts=1 is greedy, drafts are distinct and valid, healing per draft', { skip: !existsSync(join(MODEL, 'config.json')) && 'no models/default' }, async () => {
  const svc = new CompletionService({ modelDir: MODEL });
  const text = readFileSync(join(ROOT, 'test/fixtures/demo/store.py'), 'utf8');
  const lines = text.split('\n');
  // A line start inside a body, mid-line after a dot (token healing backs off the "."), and after indentation.
  const dot = lines.findIndex((l) => l.includes('self.'));
  const places: [number, number][] = [[dot, lines[dot].indexOf('self.') + 5], [Math.min(lines.length - 2, 28), 8], [10, 0]];
  const multi = await checkService(svc, '/ws/store.py', text, places, 24);
  assert.ok(multi > 0, 'some requests gave several drafts');
  await svc.shutdown();
});
