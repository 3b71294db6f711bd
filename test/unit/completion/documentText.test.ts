import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyChange, applyEdits, countLineBreaks, LineIndex } from '../../../src/completion/documentText';
import { mulberry32 } from '../../fixtures/tinyModel';
import type { DocumentEdit } from '../../../src/completion/types';

const edit = (sl: number, sc: number, el: number, ec: number, text: string): DocumentEdit => ({ start: [sl, sc], end: [el, ec], text });

test('line index: \\n, \\r\\n and lone \\r break lines; positions clamp like VS Code', () => {
  const ix = new LineIndex('ab\r\ncd\nef\rg');
  assert.deepEqual(ix.starts, [0, 4, 7, 10]);
  assert.equal(ix.lineEnd(0), 2);
  assert.equal(ix.lineEnd(1), 6);
  assert.equal(ix.lineEnd(3), 11);
  assert.equal(ix.offsetAt(0, 99), 2); // never inside the \r\n
  assert.equal(ix.offsetAt(9, 0), 11);
  assert.equal(ix.offsetAt(-1, 5), 0);
  assert.deepEqual(ix.positionAt(5), [1, 1]);
  assert.deepEqual(ix.positionAt(3), [0, 2]);
  assert.deepEqual(ix.positionAt(11), [3, 1]);
});

test('one edit: insert, replace, delete across lines', () => {
  assert.equal(applyEdits('hello\nworld', [edit(0, 5, 0, 5, '!')]), 'hello!\nworld');
  assert.equal(applyEdits('hello\nworld', [edit(0, 2, 1, 3, 'y')]), 'heyld');
  assert.equal(applyEdits('hello\nworld', [edit(1, 0, 1, 5, '')]), 'hello\n');
  // Reversed ranges are normalised.
  assert.equal(applyEdits('abc', [edit(0, 2, 0, 1, 'X')]), 'aXc');
});

test('several edits refer to the original document, in any order', () => {
  const text = 'a1\nb2\nc3';
  const edits = [edit(2, 0, 2, 1, 'CC'), edit(0, 0, 0, 1, 'AAA'), edit(1, 1, 1, 2, '')];
  const expected = 'AAA1\nb\nCC3';
  assert.equal(applyEdits(text, edits), expected);
  assert.equal(applyEdits(text, [...edits].reverse()), expected);
  // Multi-cursor typing: the same insertion on three lines (VS Code lists them bottom-up).
  assert.equal(applyEdits('x\nx\nx', [edit(2, 1, 2, 1, ';'), edit(1, 1, 1, 1, ';'), edit(0, 1, 0, 1, ';')]), 'x;\nx;\nx;');
  // Same-offset insertions land in the order given.
  assert.equal(applyEdits('ab', [edit(0, 1, 0, 1, 'X'), edit(0, 1, 0, 1, 'Y')]), 'aXYb');
  assert.throws(() => applyEdits('abcdef', [edit(0, 1, 0, 4, ''), edit(0, 3, 0, 5, '')]), RangeError);
});

test('CRLF documents: columns stop before \\r, inserted CRLF text counts one break per line', () => {
  const text = 'one\r\ntwo\r\nthree';
  assert.equal(applyEdits(text, [edit(1, 3, 1, 3, '!\r\nnew')]), 'one\r\ntwo!\r\nnew\r\nthree');
  assert.equal(applyEdits(text, [edit(0, 3, 1, 0, '')]), 'onetwo\r\nthree');
  assert.equal(countLineBreaks('a\r\nb\nc\rd'), 3);
});

test('unicode: columns are UTF-16 code units (a surrogate pair is two)', () => {
  const text = 'x = "😀é";\nz';
  // "😀" occupies columns 5..6, "é" column 7.
  assert.equal(applyEdits(text, [edit(0, 7, 0, 8, 'e')]), 'x = "😀e";\nz');
  assert.equal(applyEdits(text, [edit(0, 5, 0, 7, '🙂')]), 'x = "🙂é";\nz');
  assert.equal(applyEdits('日本\n語', [edit(1, 1, 1, 1, '!'), edit(0, 1, 0, 2, '')]), '日\n語!');
});

test('the line index follows a change (applyChange) = a fresh index of the new text: 3000 random multi-edit changes with \\n, \\r\\n and lone \\r', () => {
  // Edits create and split CRLF pairs, touch each other, insert at the same offset, hit offset 0 and the end.
  const r = mulberry32(8);
  const pieces = ['a', 'bc', ' ', '\n', '\r', '\r\n', '\n\n', 'x\r', '\ry'];
  const some = (n: number): string => Array.from({ length: n }, () => pieces[Math.floor(r() * pieces.length)]).join('');
  let index = new LineIndex(some(30));
  for (let step = 0; step < 3000; step++) {
    const text = index.text;
    const k = 1 + Math.floor(r() * 4);
    const cuts = Array.from({ length: 2 * k }, () => Math.floor(r() * (text.length + 1))).sort((a, b) => a - b);
    const edits: DocumentEdit[] = [];
    for (let i = 0; i < k; i++) {
      const a = cuts[2 * i];
      const b = r() < 0.4 ? a : cuts[2 * i + 1];
      const [sl, sc] = index.positionAt(a);
      const [el, ec] = index.positionAt(b);
      edits.push({ start: [sl, sc], end: [el, ec], text: r() < 0.3 ? '' : some(1 + Math.floor(r() * 4)) });
    }
    // Shuffled: one change lists its edits in any order.
    edits.sort(() => r() - 0.5);
    let next;
    try {
      next = applyChange(index, edits);
    } catch (e) {
      // Ranges clamped out of CRLF pairs can overlap; applyEdits refuses those the same way.
      assert.throws(() => applyEdits(text, edits), RangeError);
      assert.ok(e instanceof RangeError);
      continue;
    }
    assert.equal(next.text, applyEdits(text, edits), `step ${step}: text`);
    assert.deepEqual(next.index.starts, new LineIndex(next.text).starts, `step ${step}: line starts of ${JSON.stringify(next.text)}`);
    index = next.index.text.length > 400 ? new LineIndex(next.text.slice(0, 200)) : next.index;
  }
});
