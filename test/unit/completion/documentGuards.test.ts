import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkDocument,
  DEFAULT_GUARD_LIMITS,
  skipControlCharacters,
  skipHugeDocument,
  skipInvalidUtf16,
  skipNulBytes,
  skipTooManyLines,
} from '../../../src/completion/documentGuards';

const limits = { ...DEFAULT_GUARD_LIMITS, maxDocumentBytes: 100, maxDocumentLines: 3 };

test('huge documents: UTF-8 bytes, not UTF-16 units', () => {
  assert.equal(skipHugeDocument('x'.repeat(100), limits), null);
  assert.match(skipHugeDocument('x'.repeat(101), limits) ?? '', /too large \(101 bytes > 100\)/);
  // 40 × "é" is 40 units but 80 bytes; 60 × "é" is 120 bytes.
  assert.equal(skipHugeDocument('é'.repeat(40), limits), null);
  assert.match(skipHugeDocument('é'.repeat(60), limits) ?? '', /120 bytes/);
});

test('too many lines', () => {
  assert.equal(skipTooManyLines('a\nb\nc', limits), null);
  assert.match(skipTooManyLines('a\nb\nc\nd', limits) ?? '', /too many lines/);
});

test('binary: NUL bytes, unpaired surrogates, many control characters', () => {
  assert.match(skipNulBytes('ab\0c', limits) ?? '', /NUL/);
  assert.equal(skipNulBytes('abc', limits), null);
  assert.match(skipInvalidUtf16('a\uD800b', limits) ?? '', /surrogate/);
  assert.match(skipInvalidUtf16('a\uDC00', limits) ?? '', /surrogate/);
  assert.match(skipInvalidUtf16('a\uD83D', limits) ?? '', /surrogate/);
  assert.equal(skipInvalidUtf16('a😀b', limits), null);
  assert.match(skipControlCharacters('\x01\x02\x03abcdefg', limits) ?? '', /30% control/);
  assert.equal(skipControlCharacters('a\tb\r\nc\fd', limits), null);
  assert.equal(skipControlCharacters('', limits), null);
});

test('checkDocument: first reason wins, undefined limits keep defaults', () => {
  assert.equal(checkDocument('def f():\n    return 1\n'), null);
  assert.match(checkDocument('a\0'.repeat(200), { maxDocumentBytes: 100 }) ?? '', /too large/);
  assert.match(checkDocument('a\0', { maxDocumentBytes: undefined }) ?? '', /NUL/);
});
