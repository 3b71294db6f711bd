// PIE against the real ONNX engine on a tiny fixture model: after every edit the cache holds
// exactly the from-scratch prompt tokens at natural positions; 'full' gives the from-scratch
// logits; PIE re-encodes only the changed tokens; 'conflict' skips the rotation.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCheckpoint } from '../../../src/engine/checkpoint';
import { Model } from '../../../src/engine/model';
import { DocumentPrompt, markersOf } from '../../../src/completion/pie/documentPrompt';
import { updateCache } from '../../../src/completion/pie/cacheUpdate';
import { writeTinyCheckpoint } from '../../fixtures/tinyModel';

const tmp = mkdtempSync(join(tmpdir(), 'slip-pie-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const SOURCE = `import os\n\nclass Store:\n    def __init__(self, root):\n        self.root = root\n        self.items = {}\n\n    def get(self, key, default=None):\n        return self.items.get(key, default)\n\n    def put(self, key, value):\n        self.items[key] = value\n`;

async function setup() {
  const ckpt = await loadCheckpoint(writeTinyCheckpoint(join(tmp, 'm'), { family: 'qwen2', layers: 2 }).dir);
  const model = await Model.load(ckpt, { threads: 1 });
  return { model, tokenizer: ckpt.tokenizer };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test('pie / full / prefix / conflict over a sequence of edits', async () => {
  const { model, tokenizer } = await setup();
  try {
    const prompt = new DocumentPrompt(tokenizer, markersOf(tokenizer), 'store.py', SOURCE, SOURCE.indexOf('return self.items'));
    const caches = { pie: model.createCache(), full: model.createCache(), prefix: model.createCache(), conflict: model.createCache() };
    for (const [mode, cache] of Object.entries(caches)) {
      await updateCache(model, cache, prompt.tokens(), { mode: mode as 'pie' });
    }
    const edits = [
      { start: SOURCE.indexOf('self.root = root'), end: SOURCE.indexOf('self.root = root'), text: '# root folder\n        ' }, // insertion far above the cursor
      { start: SOURCE.indexOf('import os'), end: SOURCE.indexOf('import os') + 'import os'.length, text: 'import sys' }, // replacement at the top
      { start: SOURCE.indexOf('    def put'), end: SOURCE.length, text: '' }, // deletion after the cursor
    ];
    for (const [k, e] of edits.entries()) {
      const at = prompt.text.indexOf(SOURCE.slice(e.start, Math.max(e.end, e.start + 8)));
      const shifted = { start: at, end: at + (e.end - e.start), text: e.text };
      prompt.applyEdits([shifted]);
      const target = prompt.tokens();
      const fresh = model.createCache();
      const scratch = await updateCache(model, fresh, target, { mode: 'full' });

      const full = await updateCache(model, caches.full, target, { mode: 'full' });
      assert.ok(maxAbsDiff(full.logits, scratch.logits) <= 1e-4, 'full equals a from-scratch pass');

      const prefix = await updateCache(model, caches.prefix, target, { mode: 'prefix' });
      assert.ok(maxAbsDiff(prefix.logits, scratch.logits) <= 1e-4, 'prefix reuse is exact');

      const pie = await updateCache(model, caches.pie, target, { mode: 'pie' });
      assert.deepEqual([...caches.pie.tokens()], target, 'pie: cached tokens equal the prompt');
      assert.deepEqual([...caches.pie.positions()], target.map((_, i) => i), 'pie: natural positions');
      assert.ok(pie.encoded < target.length / 2, `pie re-encodes only the edit (${pie.encoded} of ${target.length})`);
      assert.equal(pie.reused + pie.encoded, target.length);
      // Above the cursor prefix reuse re-encodes everything after the edit; PIE only the edit.
      if (k < 2) assert.ok(pie.encoded * 4 < prefix.encoded, `pie ${pie.encoded} vs prefix ${prefix.encoded}`);
      else assert.ok(pie.encoded <= prefix.encoded);

      await updateCache(model, caches.conflict, target, { mode: 'conflict' });
      assert.deepEqual([...caches.conflict.tokens()], target);
    }
    // Conflict keeps the old positions after the first growth: some suffix position disagrees.
    const cpos = caches.conflict.positions();
    assert.ok([...cpos].some((p, i) => p !== i), 'conflict mode does not shift positions');
  } finally {
    await model.dispose();
  }
});

test('pie with no edit re-encodes only the last prompt token (and the refresh window when asked)', async () => {
  const { model, tokenizer } = await setup();
  try {
    const prompt = new DocumentPrompt(tokenizer, markersOf(tokenizer), 'store.py', SOURCE, 40);
    const cache = model.createCache();
    const first = await updateCache(model, cache, prompt.tokens(), { mode: 'pie' });
    assert.equal(first.encoded, prompt.tokens().length);
    const again = await updateCache(model, cache, prompt.tokens(), { mode: 'pie' });
    assert.deepEqual([again.encoded, again.reused], [1, prompt.tokens().length - 1]);
    assert.ok(maxAbsDiff(again.logits, first.logits) <= 1e-4, 'no edit: same logits');
    const layout = prompt.layout();
    const refreshed = await updateCache(model, cache, prompt.tokens(), { mode: 'pie', refreshWindow: 5, refreshEnd: layout.beforeEnd });
    assert.equal(refreshed.encoded, 6);
    // Typing at the cursor: PIE encodes the typed tokens and the last token only.
    prompt.applyEdits([{ start: prompt.cursor, end: prompt.cursor, text: 'x' }]);
    const typed = await updateCache(model, cache, prompt.tokens(), { mode: 'pie' });
    assert.ok(typed.encoded <= 4, `typing one char encodes ${typed.encoded} tokens`);
    assert.deepEqual([...cache.positions()], prompt.tokens().map((_, i) => i));
  } finally {
    await model.dispose();
  }
});

test('a pure deletion (no inserted token) is applied and shifts the suffix back', async () => {
  const { model, tokenizer } = await setup();
  try {
    const text = 'ZZx = 1\n';
    const prompt = new DocumentPrompt(tokenizer, markersOf(tokenizer), 'a.py', text, text.length);
    const cache = model.createCache();
    await updateCache(model, cache, prompt.tokens(), { mode: 'pie' });
    prompt.applyEdits([{ start: 0, end: 2, text: '' }]);
    await updateCache(model, cache, prompt.tokens(), { mode: 'pie' });
    assert.deepEqual([...cache.tokens()], prompt.tokens());
    assert.deepEqual([...cache.positions()], prompt.tokens().map((_, i) => i));
  } finally {
    await model.dispose();
  }
});

test('an update aborted after its relayout leaves no gap slots: the cache holds the kept tokens in order, and the next update reaches the prompt', async () => {
  const { model, tokenizer } = await setup();
  try {
    const prompt = new DocumentPrompt(tokenizer, markersOf(tokenizer), 'store.py', SOURCE, SOURCE.indexOf('return self.items'));
    const cache = model.createCache();
    await updateCache(model, cache, prompt.tokens(), { mode: 'pie' });
    const old = [...cache.tokens()];
    // Two places at once: an insertion at the top and a replacement further down.
    const at = SOURCE.indexOf('def put');
    prompt.applyEdits([
      { start: 0, end: 0, text: '# header\n' },
      { start: at, end: at + 'def put'.length, text: 'def store_value' },
    ]);
    const target = prompt.tokens();
    const controller = new AbortController();
    const aborting = {
      embed: (t: ArrayLike<number>) => model.embed(t),
      forward: async (c: typeof cache, req: Parameters<typeof model.forward>[1]) => {
        const out = await model.forward(c, req);
        controller.abort();
        return out;
      },
    };
    await assert.rejects(updateCache(aborting, cache, target, { mode: 'pie', signal: controller.signal }), { name: 'AbortError' });
    const left = [...cache.tokens()];
    assert.ok(!left.includes(-1), 'no gap slot is left behind');
    // What is left is the old prompt minus the replaced tokens: a subsequence of it, in order.
    let k = 0;
    for (const t of left) {
      while (k < old.length && old[k] !== t) k++;
      assert.ok(k < old.length, 'the kept slots are old tokens in their old order');
      k++;
    }
    assert.ok(left.length < old.length && left.length > old.length / 2);
    await updateCache(model, cache, target, { mode: 'pie' });
    assert.deepEqual([...cache.tokens()], target);
    assert.deepEqual([...cache.positions()], target.map((_, i) => i));
  } finally {
    await model.dispose();
  }
});
