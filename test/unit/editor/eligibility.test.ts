import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkDocument } from '../../../src/completion/documentGuards';
import { DEFAULTS } from '../../../src/config/settings';
import { classifyDocument, formatBytes, type DocumentShape } from '../../../src/editor/eligibility';

const doc = (over: Partial<DocumentShape> = {}): DocumentShape => ({
  uriScheme: 'file',
  languageId: 'python',
  lineCount: 10,
  length: 200,
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
  assert.deepEqual(big, { kind: 'skipped', reason: 'file too large (2.5 MB > 1.0 MB)', cause: 'size' });
  const long = classifyDocument(doc({ lineCount: 20_001 }), DEFAULTS);
  assert.deepEqual(long, { kind: 'skipped', reason: 'file too long (20001 lines > 20000)', cause: 'size' });
  assert.deepEqual(classifyDocument(doc({ length: 1_000_000, lineCount: 20_000 }), DEFAULTS), { kind: 'eligible' }, 'limits are inclusive');
});

test('the content check (binary, exact bytes) runs only when given, after the cheap checks', () => {
  const binary = 'ELF\u0000\u0001\u0002';
  const check = (): string | null => checkDocument(binary);
  const r = classifyDocument(doc(), DEFAULTS, check);
  assert.ok(r.kind === 'skipped' && r.cause === 'content');
  assert.match(r.reason, /binary/);
  assert.deepEqual(classifyDocument(doc(), DEFAULTS), { kind: 'eligible' }, 'keystroke path: no scan');
  let ran = false;
  classifyDocument(doc({ languageId: 'markdown' }), DEFAULTS, () => ((ran = true), null));
  assert.equal(ran, false, 'ignored documents are never scanned');
  assert.deepEqual(classifyDocument(doc(), DEFAULTS, () => null), { kind: 'eligible' });
});

test('sizes print in decimal units', () => {
  assert.equal(formatBytes(999), '999 B');
  assert.equal(formatBytes(1500), '1.5 kB');
  assert.equal(formatBytes(250_000), '250 kB');
  assert.equal(formatBytes(1_000_000), '1.0 MB');
});
