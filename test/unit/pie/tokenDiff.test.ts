import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { diffTokens } from '../../../src/completion/pie/tokenDiff.js';
import { applySplices } from '../../../src/completion/pie/splices.js';

test('applying the splices to the old tokens gives the new tokens', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 80 }), fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 80 }), fc.integer({ min: 1, max: 6 }), (a, b, minKeptRun) => {
      const splices = diffTokens(a, b, { minKeptRun });
      assert.deepEqual(applySplices(a, splices), b);
      for (let i = 1; i < splices.length; i++) assert.ok(splices[i].start >= splices[i - 1].end, 'ascending, non-overlapping');
    }),
    { numRuns: 2000 },
  );
});

test('edits in two places give two splices that re-encode only the changed tokens', () => {
  const old = Array.from({ length: 200 }, (_, i) => i);
  const next = [...old];
  next.splice(150, 2, 900, 901, 902);
  next.splice(20, 1);
  const splices = diffTokens(old, next);
  assert.deepEqual(splices, [
    { start: 20, end: 21, tokens: [] },
    { start: 150, end: 152, tokens: [900, 901, 902] },
  ]);
});

test('past maxDistance the diff falls back to one splice between common prefix and suffix', () => {
  const old = Array.from({ length: 100 }, (_, i) => i);
  const next = old.map((t, i) => (i >= 10 && i < 90 && i % 2 === 0 ? t + 1000 : t));
  const splices = diffTokens(old, next, { maxDistance: 8 });
  assert.equal(splices.length, 1);
  assert.deepEqual(applySplices(old, splices), next);
});
