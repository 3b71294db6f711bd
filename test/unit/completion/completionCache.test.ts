import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CompletionCache } from '../../../src/completion/completionCache';

test('typing through a shown completion returns the rest', () => {
  const c = new CompletionCache();
  c.put('a.py', 'x = ', '\n', 'foo(1)');
  assert.deepEqual(c.get('a.py', 'x = ', '\n'), { completion: 'foo(1)', completions: ['foo(1)'], typed: 0 });
  assert.deepEqual(c.get('a.py', 'x = fo', '\n'), { completion: 'o(1)', completions: ['o(1)'], typed: 2 });
  // Typed something else, typed it all, other document, changed suffix: no hit.
  assert.equal(c.get('a.py', 'x = fa', '\n'), undefined);
  assert.equal(c.get('a.py', 'x = foo(1)', '\n'), undefined);
  assert.equal(c.get('b.py', 'x = ', '\n'), undefined);
  assert.equal(c.get('a.py', 'x = f', '\ny'), undefined);
});

test('the most specific entry wins; LRU evicts the oldest; forget drops a document', () => {
  const c = new CompletionCache({ capacity: 2 });
  c.put('a', 'p', '', 'abc');
  c.put('a', 'pa', '', 'bXY');
  assert.equal(c.get('a', 'pab', '')?.completion, 'XY');
  c.put('a', 'q', '', 'zz');
  assert.equal(c.size, 2);
  assert.equal(c.get('a', 'p', ''), undefined, 'oldest entry evicted');
  c.put('b', 'q', '', 'yy');
  c.forget('a');
  assert.equal(c.size, 1);
  assert.equal(c.get('b', 'qy', '')?.completion, 'y');
  c.put('b', 'r', '', '');
  assert.equal(c.size, 1, 'empty completions are not stored');
});

test('every alternative is kept; typing keeps those it agrees with, best first', () => {
  const c = new CompletionCache();
  c.put('a.py', 'x = ', '\n', ['foo(1)', 'bar()', 'foo_bar', '', 'fo']);
  assert.deepEqual(c.get('a.py', 'x = ', '\n'), { completion: 'foo(1)', completions: ['foo(1)', 'bar()', 'foo_bar', 'fo'], typed: 0 });
  // 'fo' is typed in full: it is gone; 'bar()' disagrees.
  assert.deepEqual(c.get('a.py', 'x = fo', '\n'), { completion: 'o(1)', completions: ['o(1)', 'o_bar'], typed: 2 });
  // Only a lesser alternative agrees: it becomes the answer.
  assert.deepEqual(c.get('a.py', 'x = b', '\n'), { completion: 'ar()', completions: ['ar()'], typed: 1 });
  assert.equal(c.get('a.py', 'x = q', '\n'), undefined);
  c.put('a.py', 'y = ', '\n', ['', '']);
  assert.equal(c.get('a.py', 'y = ', '\n'), undefined, 'nothing but empty alternatives is not stored');
});

test('alternatives survive typing: those the typed text agrees with stay, in order', () => {
  const c = new CompletionCache();
  c.put('a.py', 'x = ', '\n', ['foo(1)', 'foo(2)', 'bar()', 'foo(1)', '']);
  assert.deepEqual(c.get('a.py', 'x = ', '\n')?.completions, ['foo(1)', 'foo(2)', 'bar()']);
  // Typing "fo" keeps both foo alternatives for cycling, the one typed through first.
  assert.deepEqual(c.get('a.py', 'x = fo', '\n'), { completion: 'o(1)', completions: ['o(1)', 'o(2)'], typed: 2 });
  // "b" only agrees with the third: it becomes the one shown.
  assert.deepEqual(c.get('a.py', 'x = b', '\n'), { completion: 'ar()', completions: ['ar()'], typed: 1 });
  // An alternative typed to its end drops out; the others remain.
  c.put('a.py', 'y = ', '\n', ['ab', 'abc']);
  assert.deepEqual(c.get('a.py', 'y = ab', '\n')?.completions, ['c']);
  assert.equal(c.get('a.py', 'x = q', '\n'), undefined);
});
