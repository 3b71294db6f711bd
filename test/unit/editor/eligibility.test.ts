import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULTS } from '../../../src/config/settings';
import { classifyDocument, formatBytes, looksBinary, type DocumentShape } from '../../../src/editor/eligibility';

const doc = (over: Partial<DocumentShape> = {}): DocumentShape => ({
  uriScheme: 'file',
  languageId: 'python',
  lineCount: 10,
  length: 200,
  head: 'def f(x):\n    return x\n',
  ...over,
});

test('an ordinary file of an enabled language is eligible', () => {
  assert.deepEqual(classifyDocument(doc(), DEFAULTS), { kind: 'eligible' });
  assert.deepEqual(classifyDocument(doc({ uriScheme: 'untitled' }), DEFAULTS), { kind: 'eligible' });
});

test('other schemes and languages are ignored without a note', () => {
  for (const scheme of ['output', 'git', 'vscode-settings', 'slipstream', 'vscode-notebook-cell']) {
    assert.deepEqual(classifyDocument(doc({ uriScheme: scheme }), DEFAULTS), { kind: 'ignored' }, scheme);
  }
  assert.deepEqual(classifyDocument(doc({ languageId: 'markdown' }), DEFAULTS), { kind: 'ignored' });
});

test('huge documents are skipped with a reason naming the limit', () => {
  const big = classifyDocument(doc({ length: 2_500_000 }), DEFAULTS);
  assert.deepEqual(big, { kind: 'skipped', reason: 'file too large (2.5 MB > 1.0 MB)' });
  const long = classifyDocument(doc({ lineCount: 20_001 }), DEFAULTS);
  assert.deepEqual(long, { kind: 'skipped', reason: 'file too long (20001 lines > 20000)' });
  assert.deepEqual(classifyDocument(doc({ length: 1_000_000, lineCount: 20_000 }), DEFAULTS), { kind: 'eligible' }, 'limits are inclusive');
});

test('binary content is skipped', () => {
  assert.deepEqual(classifyDocument(doc({ head: 'ELF\u0000\u0001\u0002' }), DEFAULTS), { kind: 'skipped', reason: 'binary content' });
});

test('binary detection: NUL or many replacement characters; a stray one is fine', () => {
  assert.ok(looksBinary('abc\u0000def'));
  assert.ok(looksBinary('\ufffd\ufffd\ufffdab'));
  assert.ok(!looksBinary(`x = "\ufffd"\n${'y = 1\n'.repeat(50)}`));
  assert.ok(!looksBinary(''));
  // Only the head is looked at: a NUL far beyond the sample does not count.
  assert.ok(!looksBinary(`${'a'.repeat(9000)}\u0000`));
});

test('sizes print in decimal units', () => {
  assert.equal(formatBytes(999), '999 B');
  assert.equal(formatBytes(1500), '1.5 kB');
  assert.equal(formatBytes(250_000), '250 kB');
  assert.equal(formatBytes(1_000_000), '1.0 MB');
});
