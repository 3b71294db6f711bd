import assert from 'node:assert/strict';
import { test } from 'node:test';
import { alternatives } from '../../../src/editor/alternatives';

test('every distinct non-empty draft becomes an item, best first', () => {
  assert.deepEqual(alternatives({ completion: 'a', completions: ['a', 'b', 'a', '', 'c'] }), ['a', 'b', 'c']);
});

test('a result with only `completion` still gives one item; nothing useful gives none', () => {
  assert.deepEqual(alternatives({ completion: 'x', completions: [] }), ['x']);
  assert.deepEqual(alternatives({ completion: '', completions: [] }), []);
  assert.deepEqual(alternatives({ completion: '', completions: [''] }), []);
});

test('texts that differ only in trailing whitespace are one item (the first kept)', () => {
  assert.deepEqual(alternatives({ completion: 'a', completions: ['a', 'a  ', 'b\n', 'b'] }), ['a', 'b\n']);
});
