// Incremental reparsing (tree.edit + parse with the old tree) gives the same tree as a fresh
// parse, across random edits; oversized documents are skipped; sliced parsing can be aborted.
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DocumentAnalysis, offsetAt, pointAt } from '../../../src/analysis/document';
import { mulberry32 } from '../../fixtures/tinyModel';

const FIXTURES = join(__dirname, '../../fixtures/monitors');

const rng = mulberry32;

/**
 * Incremental and fresh trees must match exactly whenever the text parses cleanly. With syntax
 * errors, tree-sitter's error recovery may legitimately differ with parse history, so there
 * only the extent and the presence of errors are compared.
 */
async function sameAsFresh(doc: DocumentAnalysis, lang: string, label: string): Promise<void> {
  const incremental = await doc.getTree({ sliceMs: 1 });
  const fresh = await DocumentAnalysis.open('fresh', doc.text, lang);
  assert.ok(fresh && incremental);
  try {
    const tree = fresh.parseNow();
    assert.ok(tree);
    assert.equal(incremental.rootNode.endIndex, doc.text.length, label);
    assert.equal(incremental.rootNode.hasError, tree.rootNode.hasError, label);
    if (!tree.rootNode.hasError) assert.equal(incremental.rootNode.toString(), tree.rootNode.toString(), label);
  } finally {
    fresh.dispose();
  }
}

const SNIPPETS = ['x', 'self.', ' = 1', '\n    ', '(', ')', '"é"', 'def f():\n  pass\n', '{', '}', '😀', '// c\n', '#'];

for (const [file, lang] of [['inventory.py', 'python'], ['shapes.ts.txt', 'typescript'], ['list.c', 'c'], ['view.tsx.txt', 'typescriptreact']] as const) {
  test(`${file}: incremental reparse equals a fresh parse after random edits`, async () => {
    const text = readFileSync(join(FIXTURES, file), 'utf8');
    const doc = await DocumentAnalysis.open(file, text, lang);
    assert.ok(doc);
    const rand = rng(file.length * 7919);
    try {
      assert.ok(await doc.getTree());
      for (let round = 0; round < 30; round++) {
        const start = Math.floor(rand() * doc.text.length);
        const end = Math.min(doc.text.length, start + Math.floor(rand() * 12));
        const insert = SNIPPETS[Math.floor(rand() * SNIPPETS.length)];
        const removed = doc.text.slice(start, end);
        if (round % 2 === 0) {
          doc.editOffsets([{ start, end, text: insert }]);
        } else {
          // The editor's (line, column) form.
          const s = pointAt(doc.text, start);
          const e = pointAt(doc.text, end);
          doc.edit([{ start: [s.row, s.column], end: [e.row, e.column], text: insert }]);
        }
        await sameAsFresh(doc, lang, `round ${round} (edited)`);
        // Undo: the file is valid again, and its incremental tree must be exactly the fresh one.
        doc.editOffsets([{ start, end: start + insert.length, text: removed }]);
        assert.equal(doc.text, text);
        await sameAsFresh(doc, lang, `round ${round} (undone)`);
      }
    } finally {
      doc.dispose();
    }
  });
}

test('offsetAt and pointAt agree', () => {
  const t = 'ab\ncdé😀\n\nx';
  for (let o = 0; o <= t.length; o++) {
    const p = pointAt(t, o);
    assert.equal(offsetAt(t, p.row, p.column), o);
  }
});

test('documents over the size limit are skipped', async () => {
  const doc = await DocumentAnalysis.open('big.py', 'x = 1\n'.repeat(100), 'python', 100);
  assert.ok(doc);
  try {
    assert.match(doc.skippedReason ?? '', /limit 100/);
    assert.equal(await doc.getTree(), null);
  } finally {
    doc.dispose();
  }
});

test('a sliced parse yields to the event loop and can be aborted', async () => {
  const doc = await DocumentAnalysis.open('long.py', 'value = compute(1, 2)\n'.repeat(40000), 'python');
  assert.ok(doc);
  try {
    const ac = new AbortController();
    let ticks = 0;
    const timer = setInterval(() => {
      ticks++;
      if (ticks === 2) ac.abort();
    }, 1);
    const tree = await doc.getTree({ sliceMs: 2, signal: ac.signal });
    clearInterval(timer);
    assert.equal(tree, null);
    assert.ok(ticks >= 2, 'timers ran while parsing');
    assert.ok(await doc.getTree(), 'a later parse completes');
  } finally {
    doc.dispose();
  }
});

test('unsupported languages get no analysis', async () => {
  assert.equal(await DocumentAnalysis.open('a.txt', 'hello', 'plaintext'), null);
});
