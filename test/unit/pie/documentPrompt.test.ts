// Fuzz test of the PIE token invariant: after every random edit / cursor move / undo on
// real source files, the incrementally maintained prompt equals the from-scratch
// tokenization of the current text, and the Myers splices turn the old prompt into the new.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ByteLevelBpeTokenizer } from '../../../src/engine/tokenizer.js';
import { DocumentPrompt, markersOf, type WindowPolicy } from '../../../src/completion/pie/documentPrompt.js';
import type { TextEdit } from '../../../src/completion/pie/segmentTokens.js';
import { diffTokens } from '../../../src/completion/pie/tokenDiff.js';
import { applySplices } from '../../../src/completion/pie/splices.js';
import { tinyTokenizerJson, mulberry32 } from '../../fixtures/tinyModel.js';

const tokenizer = new ByteLevelBpeTokenizer(tinyTokenizerJson(600).json);
const markers = markersOf(tokenizer);

function sourceFiles(): string[] {
  const root = join(__dirname, '../../../src');
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const n of readdirSync(d, { withFileTypes: true })) {
      if (n.isDirectory()) walk(join(d, n.name));
      else if (n.name.endsWith('.ts')) out.push(readFileSync(join(d, n.name), 'utf8'));
    }
  };
  walk(root);
  out.push(PYTHON_SAMPLE, '', 'x', '\n\n\n', 'héllo wörld 🎉\r\nline2\r\n');
  return out;
}

const PYTHON_SAMPLE = `import os\n\nclass Store:\n    def __init__(self, root):\n        self.root = root\n        self.items = {}\n\n    def get(self, key, default=None):\n        \"\"\"Return the item.\"\"\"\n        return self.items.get(key, default)\n\n\n    def put(self, key, value):\n        self.items[key] = value  # 123 + 4.5e6\n`;

const rng = mulberry32;

const SNIPPETS = ['x', ' ', '\n', '    ', '\t', 'foo', '(', ')', '{\n', '}\n', '  return a + b;\n', '\n\n', 'é', '🎉', '123', ' = ', '.', "'s", '\r\n', '    def f(self):\n        pass\n', '// comment\n', '"str"'];

function randomText(r: () => number): string {
  let s = '';
  const n = 1 + Math.floor(r() * 3);
  for (let i = 0; i < n; i++) s += SNIPPETS[Math.floor(r() * SNIPPETS.length)];
  return s;
}

/** Offsets never split a surrogate pair (VS Code never does either). */
function offset(text: string, r: () => number): number {
  let o = Math.floor(r() * (text.length + 1));
  if (o > 0 && o < text.length && /[\uDC00-\uDFFF]/.test(text[o])) o--;
  return o;
}

function randomEdits(text: string, r: () => number): TextEdit[] {
  const k = r() < 0.2 ? 2 + Math.floor(r() * 3) : 1;
  const points = Array.from({ length: 2 * k }, () => offset(text, r)).sort((a, b) => a - b);
  const edits: TextEdit[] = [];
  for (let i = 0; i < k; i++) {
    const start = points[2 * i];
    let end = points[2 * i + 1];
    const kind = r();
    if (kind < 0.4 || end - start > 200) end = start; // insertion
    edits.push({ start, end, text: kind < 0.7 ? randomText(r) : '' });
  }
  return edits.filter((e) => e.start !== e.end || e.text !== '');
}

function applyText(text: string, edits: TextEdit[]): string {
  const sorted = [...edits].sort((a, b) => b.start - a.start);
  let t = text;
  for (const e of sorted) t = t.slice(0, e.start) + e.text + t.slice(e.end);
  return t;
}

function expectedTokens(p: DocumentPrompt, path: string): number[] {
  const [ws, we] = p.window;
  const header = markers.fileSep === undefined ? [] : [markers.fileSep, ...tokenizer.encode(`${path}\n`)];
  return [...header, markers.fimPrefix, ...tokenizer.encode(p.text.slice(ws, p.cursor)), markers.fimSuffix, ...tokenizer.encode(p.text.slice(p.cursor, we)), markers.fimMiddle];
}

function fuzz(seed: number, steps: number, policy?: WindowPolicy): void {
  const r = rng(seed);
  const files = sourceFiles();
  const path = 'src/demo.ts';
  let text = files[seed % files.length];
  if (text.length > 6000) {
    const s = Math.floor(r() * (text.length - 6000));
    text = text.slice(s, s + 6000);
  }
  const p = new DocumentPrompt(tokenizer, markers, path, text, offset(text, r), policy);
  const history: string[] = [];
  let prev = p.tokens();
  assert.deepEqual(prev, expectedTokens(p, path));
  for (let step = 0; step < steps; step++) {
    const what = r();
    if (what < 0.6) {
      const edits = randomEdits(text, r);
      history.push(text);
      text = applyText(text, edits);
      p.applyEdits(edits);
    } else if (what < 0.75 && history.length > 0) {
      // Undo: one edit restoring the previous text (common prefix/suffix), as VS Code reports it.
      const back = history.pop() as string;
      let a = 0;
      while (a < text.length && a < back.length && text[a] === back[a]) a++;
      let b = 0;
      while (b < text.length - a && b < back.length - a && text[text.length - 1 - b] === back[back.length - 1 - b]) b++;
      p.applyEdits([{ start: a, end: text.length - b, text: back.slice(a, back.length - b) }]);
      text = back;
    } else {
      p.setCursor(offset(text, r));
    }
    assert.equal(p.text, text, `seed ${seed} step ${step}: text`);
    const [ws, we] = p.window;
    assert.ok(ws <= p.cursor && p.cursor <= we, 'cursor inside the window');
    const now = p.tokens();
    assert.deepEqual(now, expectedTokens(p, path), `seed ${seed} step ${step}: tokens`);
    assert.deepEqual(applySplices(prev, diffTokens(prev, now)), now);
    prev = now;
  }
}

test('incremental prompt tokens equal from-scratch tokenization over random edit sequences', () => {
  for (let seed = 1; seed <= 4; seed++) fuzz(seed, 30);
});

test('sliding window on documents larger than the budget keeps the invariant and the budget', () => {
  const policy: WindowPolicy = { maxTokens: 300, beforeShare: 0.7, edgeShare: 0.1 };
  for (let seed = 100; seed < 103; seed++) fuzz(seed, 30, policy);
});

test('a far cursor jump into text of a different density keeps the window within the budget and fills it', () => {
  // Dense part: short single-byte tokens; sparse part: long whitespace runs (many chars per token).
  const dense = Array.from({ length: 3000 }, (_, i) => `q${i % 7} ~ ^ | ! ${i % 3}\n`).join('');
  const sparse = Array.from({ length: 3000 }, (_, i) => `${' '.repeat(40)}value${i % 5}\n`).join('');
  const text = sparse + dense + sparse;
  const policy: WindowPolicy = { maxTokens: 600, beforeShare: 0.75, edgeShare: 0.1 };
  const p = new DocumentPrompt(tokenizer, markers, 'a.py', text, 10, policy);
  const size = (): number => p.tokens().length - 3 - (markers.fileSep === undefined ? 0 : tokenizer.encode('a.py\n').length + 1);
  for (const at of [sparse.length + dense.length / 2, sparse.length / 2, text.length - 100, sparse.length + 50]) {
    p.setCursor(Math.floor(at));
    assert.ok(size() <= policy.maxTokens, `window of ${size()} tokens after a jump to ${at}`);
    assert.ok(size() >= 0.8 * policy.maxTokens, `window of ${size()} tokens fills the budget after a jump to ${at}`);
    assert.deepEqual(p.tokens(), expectedTokens(p, 'a.py'));
  }
});

/** The prompt from scratch for a layout, with `hidden` characters left out before the cursor. */
function expectedHealed(p: DocumentPrompt, path: string): number[] {
  const [ws, we] = p.window;
  const header = markers.fileSep === undefined ? [] : [markers.fileSep, ...tokenizer.encode(`${path}\n`)];
  const before = tokenizer.encode(p.text.slice(ws, p.cursor));
  const after = tokenizer.encode(p.text.slice(p.cursor + p.hidden, we));
  return p.fimLayout === 'spm'
    ? [...header, markers.fimPrefix, markers.fimSuffix, ...after, markers.fimMiddle, ...before]
    : [...header, markers.fimPrefix, ...before, markers.fimSuffix, ...after, markers.fimMiddle];
}

test('token healing and both layouts: hidden characters before the cursor, cursor moves back and forth, edits, layout switches keep the prompt exact', () => {
  const path = 'src/demo.ts';
  for (let seed = 200; seed < 204; seed++) {
    const r = rng(seed);
    const files = sourceFiles();
    let text = files[seed % files.length].slice(0, 5000);
    const policy: WindowPolicy | undefined = seed % 2 === 0 ? { maxTokens: 300, beforeShare: 0.7, edgeShare: 0.1 } : undefined;
    const p = new DocumentPrompt(tokenizer, markers, path, text, offset(text, r), policy);
    let cursor = p.cursor;
    let prev = p.tokens();
    for (let step = 0; step < 40; step++) {
      const what = r();
      if (what < 0.35) {
        // One edit at a time: two insertions at one offset have no agreed order.
        const edits = randomEdits(text, r).slice(0, 1);
        text = applyText(text, edits);
        p.applyEdits(edits);
        cursor = p.afterStart;
        if (edits.length > 0) assert.equal(p.hidden, 0, 'an edit reveals the hidden characters');
      } else if (what < 0.45) {
        p.setLayout(r() < 0.5 ? 'spm' : 'psm');
      } else {
        // Back and forth: the same cursor with and without healing, or a nearby one.
        if (r() < 0.5) cursor = offset(text, r);
        let hide = Math.floor(r() * 6);
        // Healing hides whole tokens, so never half of a surrogate pair.
        while (hide > 0 && /[\uDC00-\uDFFF]/.test(text[cursor - hide] ?? '')) hide--;
        p.setCursor(cursor, hide);
        const [ws] = p.window;
        assert.equal(p.afterStart, cursor, 'after starts at the editor cursor');
        assert.equal(p.hidden, Math.min(hide, cursor - ws), 'hides what was asked, within the window');
      }
      assert.equal(p.text, text);
      const now = p.tokens();
      assert.deepEqual(now, expectedHealed(p, path), `seed ${seed} step ${step}: tokens`);
      const layout = p.layout();
      assert.equal(now.length, layout.length);
      assert.equal(now[layout.markers.prefix], markers.fimPrefix);
      assert.equal(now[layout.markers.suffix], markers.fimSuffix);
      assert.equal(now[layout.markers.middle], markers.fimMiddle);
      assert.deepEqual(now.slice(layout.beforeStart, layout.beforeEnd), tokenizer.encode(p.text.slice(p.window[0], p.cursor)));
      assert.deepEqual(applySplices(prev, diffTokens(prev, now)), now);
      prev = now;
    }
  }
});

test('healing the last token is a one-token change at the end of the text before the cursor', () => {
  const text = 'class A:\n    def f(self):\n        return self.items\n';
  const at = text.indexOf('.items') + 1;
  for (const layout of ['psm', 'spm'] as const) {
    const p = new DocumentPrompt(tokenizer, markers, 'a.py', text, at);
    p.setLayout(layout);
    const plain = p.tokens();
    p.setCursor(at, 1);
    const healed = p.tokens();
    assert.equal(healed.length, plain.length - 1, `${layout}: one token fewer`);
    const splices = diffTokens(plain, healed);
    assert.equal(splices.length, 1);
    assert.deepEqual(splices[0].tokens, [], `${layout}: a pure deletion`);
    // Moving on to the same cursor without healing restores the prompt exactly.
    p.setCursor(at, 0);
    assert.deepEqual(p.tokens(), plain);
  }
});
