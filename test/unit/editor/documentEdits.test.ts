import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toDocumentEdits, type ContentChangeLike } from '../../../src/editor/documentEdits';

const change = (sl: number, sc: number, el: number, ec: number, text: string): ContentChangeLike => ({
  range: { start: { line: sl, character: sc }, end: { line: el, character: ec } },
  text,
});

/** Applies edits front to back to a text, (line, UTF-16 column) coordinates. */
function apply(text: string, edits: ReturnType<typeof toDocumentEdits>): string {
  for (const e of edits) {
    const lines = text.split('\n');
    const offset = (l: number, c: number): number => lines.slice(0, l).reduce((n, s) => n + s.length + 1, 0) + c;
    text = text.slice(0, offset(...e.start)) + e.text + text.slice(offset(...e.end));
  }
  return text;
}

test('a typed character is an empty range with text', () => {
  assert.deepEqual(toDocumentEdits([change(3, 7, 3, 7, 'x')]), [{ start: [3, 7], end: [3, 7], text: 'x' }]);
});

test('deletions and multi-line replacements keep both ends', () => {
  assert.deepEqual(toDocumentEdits([change(1, 2, 4, 0, '')]), [{ start: [1, 2], end: [4, 0], text: '' }]);
  assert.deepEqual(toDocumentEdits([change(0, 0, 0, 3, 'a\nb')]), [{ start: [0, 0], end: [0, 3], text: 'a\nb' }]);
});

test('multi-cursor changes stay in one list, in VS Code order (bottom-up), and apply correctly', () => {
  const before = 'foo\nfoo\nfoo';
  // VS Code reports a three-cursor rename bottom-up, every range against the text before the event.
  const changes = [change(2, 0, 2, 3, 'barbaz'), change(1, 0, 1, 3, 'barbaz'), change(0, 0, 0, 3, 'barbaz')];
  const edits = toDocumentEdits(changes);
  assert.equal(edits.length, 3);
  assert.deepEqual(edits.map((e) => e.start[0]), [2, 1, 0]);
  assert.equal(apply(before, edits), 'barbaz\nbarbaz\nbarbaz');
});

test('columns are UTF-16 units, passed through unchanged', () => {
  // '😀' is two UTF-16 units: a cursor after it is at column 2.
  const edits = toDocumentEdits([change(0, 2, 0, 2, '!')]);
  assert.equal(apply('😀x', edits), '😀!x');
});

test('no changes, no edits', () => {
  assert.deepEqual(toDocumentEdits([]), []);
});
