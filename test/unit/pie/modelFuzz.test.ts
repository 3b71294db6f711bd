// Random edit sequences on the tiny ONNX fixture model (real engine, real KvCache), checking
// numbers, not just tokens, in the spm layout (the default model's) with cursor moves that hide a
// healing tail, and now and then a switch to psm and back. After every step:
//   full    logits and every layer's K/V equal a from-scratch pass over the new prompt (1e-4);
//   prefix  logits equal the from-scratch pass too.
// On every other step, PIE and conflict start from the exact pre-edit cache and:
//   pie     slots before the first changed token and the first edit's inserted tokens equal the
//           from-scratch K/V (they see exactly the same context); every kept slot after the edit
//           keeps its values bit for bit and its key equals R(new − old position)·(its pre-edit key)
//           — the key a full recompute would give if the token's hidden state were unchanged;
//   conflict the same kept slots keep their pre-edit keys unrotated.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCheckpoint } from '../../../src/engine/checkpoint';
import { Model } from '../../../src/engine/model';
import type { KvCache } from '../../../src/engine/kvCache';
import { RopeTable } from '../../../src/engine/rope';
import { DocumentPrompt, markersOf } from '../../../src/completion/pie/documentPrompt';
import { updateCache } from '../../../src/completion/pie/cacheUpdate';
import { diffTokens } from '../../../src/completion/pie/tokenDiff';
import type { TextEdit } from '../../../src/completion/pie/segmentTokens';
import { mulberry32, writeTinyCheckpoint } from '../../fixtures/tinyModel';

const tmp = mkdtempSync(join(tmpdir(), 'slip-piefuzz-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const SOURCE = `import os\nfrom typing import Any\n\nclass Store:\n    """Keys to values, with a root folder."""\n\n    def __init__(self, root: str) -> None:\n        self.root = root\n        self.items: dict[str, Any] = {}\n\n    def get(self, key, default=None):\n        return self.items.get(key, default)\n\n    def put(self, key, value):\n        self.items[key] = value  # naïve 🎉\n        return len(self.items)\n`;
const SNIPPETS = ['x', ' ', '\n', '    ', 'self.', 'items', '(', ')', ': ', ' = 1\n', 'é', '# note\n', 'return ', '[key]'];

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function randomEdits(text: string, r: () => number): TextEdit[] {
  const pick = (): number => {
    let o = Math.floor(r() * (text.length + 1));
    if (/[\uDC00-\uDFFF]/.test(text[o] ?? '')) o--;
    return o;
  };
  const k = r() < 0.25 ? 2 + Math.floor(r() * 2) : 1;
  const pts = Array.from({ length: 2 * k }, pick).sort((a, b) => a - b);
  const edits: TextEdit[] = [];
  for (let i = 0; i < k; i++) {
    let end = pts[2 * i + 1];
    const u = r();
    if (u < 0.45 || end - pts[2 * i] > 30) end = pts[2 * i];
    const t = u < 0.75 ? SNIPPETS[Math.floor(r() * SNIPPETS.length)] : '';
    if (end > pts[2 * i] || t) edits.push({ start: pts[2 * i], end, text: t });
  }
  return edits;
}

/** Target index → old index of the slot PIE keeps there (-1 = encoded), from the same diff updateCache uses. */
function alignment(old: readonly number[], next: readonly number[]): Int32Array {
  const kept = new Int32Array(next.length).fill(-1);
  let o = 0;
  let t = 0;
  for (const s of diffTokens(old, next)) {
    while (o < s.start) kept[t++] = o++;
    o = s.end;
    t += s.tokens.length;
  }
  while (o < old.length) kept[t++] = o++;
  kept[next.length - 1] = -1; // <|fim_middle|> is always re-encoded
  return kept;
}

/** One slot's key of one layer as [kvHeads, headDim]. */
function slotKey(c: KvCache, layer: number, slot: number): Float32Array {
  return c.keys(layer, slot, slot + 1);
}

test('random edits on the tiny model: full = from scratch; pie exact up to the edit and exactly rotated after it', async () => {
  const ckpt = await loadCheckpoint(writeTinyCheckpoint(join(tmp, 'm'), { family: 'qwen2', layers: 2, seed: 5 }).dir);
  const model = await Model.load(ckpt, { threads: 1 });
  const { numLayers, numKvHeads, headDim } = ckpt.config;
  const r = mulberry32(77);
  try {
    const prompt = new DocumentPrompt(ckpt.tokenizer, markersOf(ckpt.tokenizer), 'store.py', SOURCE, SOURCE.indexOf('return self.items'));
    prompt.setLayout('spm');
    const full = model.createCache();
    const prefix = model.createCache();
    await updateCache(model, full, prompt.tokens(), { mode: 'full' });
    await updateCache(model, prefix, prompt.tokens(), { mode: 'full' });
    const history: string[] = [];
    let pieChecks = 0;
    let keptChecked = 0;
    for (let step = 0; step < 240; step++) {
      const where = `step ${step}`;
      const oldTokens = [...full.tokens()];
      const u = r();
      if (u < 0.65) {
        history.push(prompt.text);
        prompt.applyEdits(randomEdits(prompt.text, r));
      } else if (u < 0.8 && history.length > 0) {
        const back = history.pop() as string;
        prompt.applyEdits([{ start: 0, end: prompt.text.length, text: back }]);
      } else if (u < 0.85) prompt.setLayout(prompt.fimLayout === 'spm' ? 'psm' : 'spm');
      else {
        let c = Math.floor(r() * (prompt.text.length + 1));
        if (/[\uDC00-\uDFFF]/.test(prompt.text[c] ?? '')) c--;
        let hide = Math.floor(r() * 4);
        while (hide > 0 && /[\uDC00-\uDFFF]/.test(prompt.text[c - hide] ?? '')) hide--;
        prompt.setCursor(c, hide);
      }
      if (prompt.text.length > 900) prompt.applyEdits([{ start: 600, end: prompt.text.length, text: '' }]);
      const target = prompt.tokens();

      const scratch = model.createCache();
      const ref = await updateCache(model, scratch, target, { mode: 'full' });
      const pre = step % 2 === 0 ? full.fork() : undefined;
      const f = await updateCache(model, full, target, { mode: 'full' });
      assert.ok(maxAbsDiff(f.logits, ref.logits) <= 1e-4, `${where}: full logits = from scratch`);
      for (let l = 0; l < numLayers; l++) {
        assert.ok(maxAbsDiff(full.keys(l), scratch.keys(l)) <= 1e-4, `${where}: full keys ${l}`);
        assert.ok(maxAbsDiff(full.values(l), scratch.values(l)) <= 1e-4, `${where}: full values ${l}`);
      }
      const p = await updateCache(model, prefix, target, { mode: 'prefix' });
      assert.ok(maxAbsDiff(p.logits, ref.logits) <= 1e-4, `${where}: prefix logits = from scratch`);

      if (!pre) continue;
      pieChecks++;
      const pie = pre.fork();
      const conflict = pre.fork();
      await updateCache(model, pie, target, { mode: 'pie' });
      await updateCache(model, conflict, target, { mode: 'conflict' });
      assert.deepEqual([...pie.tokens()], target, `${where}: pie tokens`);
      assert.deepEqual([...pie.positions()], target.map((_, i) => i), `${where}: pie positions`);
      assert.deepEqual([...conflict.tokens()], target, `${where}: conflict tokens`);
      const kept = alignment(oldTokens, target);
      // Exact region: everything before the first kept slot that moved or changed context, i.e. up to
      // the end of the first run of encoded tokens.
      let firstEncoded = 0;
      while (firstEncoded < target.length && kept[firstEncoded] === firstEncoded) firstEncoded++;
      let exactEnd = firstEncoded;
      while (exactEnd < target.length && kept[exactEnd] < 0) exactEnd++;
      if (exactEnd === target.length) exactEnd = target.length - 1; // the last token sees stale slots before it
      for (let l = 0; l < numLayers; l++) {
        assert.ok(maxAbsDiff(pie.keys(l, 0, exactEnd), scratch.keys(l, 0, exactEnd)) <= 1e-4, `${where}: pie keys before/at the first edit, layer ${l}`);
        assert.ok(maxAbsDiff(pie.values(l, 0, exactEnd), scratch.values(l, 0, exactEnd)) <= 1e-4, `${where}: pie values before/at the first edit, layer ${l}`);
      }
      const table = new RopeTable(model.rope);
      for (let t = exactEnd; t < target.length; t++) {
        const o = kept[t];
        if (o < 0) continue;
        keptChecked++;
        table.set(t - o);
        for (let l = 0; l < numLayers; l++) {
          const old = slotKey(pre, l, o);
          const want = new Float32Array(old.length);
          for (let h = 0; h < numKvHeads; h++) table.rotate(old, h * headDim, want, h * headDim);
          assert.ok(maxAbsDiff(slotKey(pie, l, t), want) <= 1e-5, `${where}: kept slot ${o}→${t} key = R(Δ)·old key, layer ${l}`);
          assert.deepEqual(pie.values(l, t, t + 1), pre.values(l, o, o + 1), `${where}: kept slot ${o}→${t} values untouched`);
          assert.deepEqual(slotKey(conflict, l, t), old, `${where}: conflict keeps the old key`);
        }
      }
    }
    assert.ok(pieChecks >= 100 && keptChecked > 5000, `pie checked on ${pieChecks} steps, ${keptChecked} kept slots`);
  } finally {
    await model.dispose();
  }
});
