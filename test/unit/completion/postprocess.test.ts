import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  dropBlank,
  dropSuffixRepeat,
  keepFirstLine,
  postprocess,
  trimToBalancedBrackets,
  trimTrailingWhitespace,
  type PostprocessContext,
} from '../../../src/completion/postprocess';

const ctx = (suffix = '', mode: 'line' | 'block' = 'line', linePrefix = ''): PostprocessContext => ({ suffix, mode, linePrefix });

test('dropBlank: whitespace-only completions go', () => {
  assert.equal(dropBlank('  \n\t', ctx()), '');
  assert.equal(dropBlank(' x', ctx()), ' x');
});

test('dropSuffixRepeat: a completion that only repeats what follows the cursor goes', () => {
  assert.equal(dropSuffixRepeat('foo()', ctx('foo();\nbar')), '');
  assert.equal(dropSuffixRepeat('\n    return x', ctx('\n    return x\n}')), '');
  assert.equal(dropSuffixRepeat('return  x', ctx('\nreturn x')), '');
  assert.equal(dropSuffixRepeat('return y', ctx('\nreturn x')), 'return y');
  assert.equal(dropSuffixRepeat('x', ctx('')), 'x');
});

test('trimToBalancedBrackets: no closer the suffix already has', () => {
  assert.equal(trimToBalancedBrackets('a, b)', ctx(')')), 'a, b');
  assert.equal(trimToBalancedBrackets('a, b)', ctx(' )]')), 'a, b');
  assert.equal(trimToBalancedBrackets('x])', ctx('])')), 'x');
  // Without the closer in the suffix, closing is the completion's job.
  assert.equal(trimToBalancedBrackets('a, b)', ctx(';')), 'a, b)');
  // Brackets the completion opens are balanced by itself; strings do not count.
  assert.equal(trimToBalancedBrackets('f(x))', ctx(')')), 'f(x)');
  assert.equal(trimToBalancedBrackets('")" + y', ctx(')')), '")" + y');
  // A closer of the wrong kind ends the completion.
  assert.equal(trimToBalancedBrackets('f(x]', ctx('')), 'f(x');
});

test('trimTrailingWhitespace', () => {
  assert.equal(trimTrailingWhitespace('x = 1  \n\n', ctx()), 'x = 1');
  assert.equal(trimTrailingWhitespace('  x', ctx()), '  x');
});

test('keepFirstLine only in single-line mode', () => {
  assert.equal(keepFirstLine('a\nb', ctx()), 'a');
  assert.equal(keepFirstLine('\n    a\nb', ctx()), '\n    a');
  assert.equal(keepFirstLine('a\nb', ctx('', 'block')), 'a\nb');
});

test('the default pipeline composes the filters in order', () => {
  assert.equal(postprocess('a, b)  \nnext', ctx(')')), 'a, b');
  assert.equal(postprocess(')', ctx(')')), '');
  assert.equal(postprocess('   ', ctx()), '');
  assert.equal(postprocess('  return 1\n}\n', ctx('\n}', 'block')), '  return 1\n}');
  // A custom list replaces the default.
  assert.equal(postprocess('ab', ctx(), [(c) => c.toUpperCase()]), 'AB');
});
