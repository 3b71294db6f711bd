import assert from 'node:assert/strict';
import { test } from 'node:test';
import { alternatives, cacheAnswers, draftsFor } from '../../../src/editor/alternatives';

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

test('typing asks for one draft; an explicit trigger (cycling, Trigger Completion) for every configured one', () => {
  assert.equal(draftsFor(false, 3), 1);
  assert.equal(draftsFor(true, 3), 3);
  assert.equal(draftsFor(true, 1), 1);
  assert.equal(draftsFor(true, 0), 1);
});

test('a cached one-draft answer does not answer a request for alternatives; one with alternatives does', () => {
  assert.equal(cacheAnswers(false, 3, 1), true, 'typing through a shown completion stays on the cache');
  assert.equal(cacheAnswers(true, 3, 1), false, 'cycling after a typing request asks the service for the drafts');
  assert.equal(cacheAnswers(true, 3, 3), true);
  assert.equal(cacheAnswers(true, 3, 2), true, 'typing pruned some alternatives: the rest still cycle');
  assert.equal(cacheAnswers(true, 1, 1), true, 'drafts off: the cache answers as before');
});
