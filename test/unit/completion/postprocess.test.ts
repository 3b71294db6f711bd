import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  dropBlank,
  dropSuffixRepeat,
  keepFirstLine,
  postprocess,
  trimLineSuffixOverlap,
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

test('trimLineSuffixOverlap: the end that repeats the rest of the line goes, names and brackets stay', () => {
  // `const x = |;` — the model writes the `;` that is already there
  assert.equal(trimLineSuffixOverlap('foo();', ctx(';\nnext')), 'foo()');
  // the whole rest of the line, even with letters in it
  assert.equal(trimLineSuffixOverlap('x = value', ctx(' value\r\n')), 'x =');
  // a string opened before the cursor: its closing quote is already there
  assert.equal(trimLineSuffixOverlap('hello"', ctx('";\n')), 'hello');
  // a quote the completion opens and closes itself stays
  assert.equal(trimLineSuffixOverlap('"a"', ctx('"')), '"a"');
  // a name that merely ends the way the suffix starts is kept (partial overlap with letters)
  assert.equal(trimLineSuffixOverlap('total', ctx('alpha)')), 'total');
  // brackets are trimToBalancedBrackets' job: `bar(|)` + `foo(a)` must keep its own `)`
  assert.equal(trimLineSuffixOverlap('foo(a)', ctx(')')), 'foo(a)');
  // nothing after the cursor on this line, or a multi-line completion: unchanged
  assert.equal(trimLineSuffixOverlap('foo();', ctx('\n;')), 'foo();');
  assert.equal(trimLineSuffixOverlap('a;\nb;', ctx(';', 'block')), 'a;\nb;');
  // in the pipeline: `x = |;` with a completion that ends in `;` inserts without doubling it
  assert.equal(postprocess('compute(1, 2);  ', ctx(';\n')), 'compute(1, 2)');
});
