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

/** Tokens the splices insert (what PIE encodes, before the forced last token). */
const inserted = (splices: { tokens: number[] }[]): number => splices.reduce((n, s) => n + s.tokens.length, 0);

test('an spm cursor move (a block from the front of the middle to the end) past maxDistance keeps what did not move', () => {
  const seq = (n: number, base: number): number[] => Array.from({ length: n }, (_, i) => base + i);
  const header = [1, 2, 3];
  const moved = seq(400, 1000); // the lines between the old and the new cursor
  const restAfter = seq(600, 2000);
  const before = seq(800, 3000);
  // Moving down: `after` loses its first lines, `before` gains them (its last token re-tokenized).
  const old = [...header, ...moved, ...restAfter, 7, ...before];
  const down = [...header, ...restAfter, 7, ...before.slice(0, -1), 9999, ...moved];
  const sd = diffTokens(old, down);
  assert.deepEqual(applySplices(old, sd), down);
  assert.equal(inserted(sd), moved.length + 1, 'only the moved tokens and the re-tokenized one are encoded');
  // Moving up: the end of `before` goes to the front of `after`.
  const up = [...header, ...before.slice(600), ...moved, ...restAfter, 7, ...before.slice(0, 599), 8888];
  const upFrom = [...header, ...moved, ...restAfter, 7, ...before];
  const su = diffTokens(upFrom, up);
  assert.deepEqual(applySplices(upFrom, su), up);
  assert.equal(inserted(su), 200 + 1);
});

test('past maxDistance, with or without a moved block, the splices still give the new tokens', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 40, maxLength: 300 }),
      fc.integer({ min: 0, max: 299 }),
      fc.integer({ min: 0, max: 299 }),
      fc.array(fc.tuple(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 0, max: 3 }), fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 4 })), { maxLength: 4 }),
      fc.boolean(),
      (a, i, j, edits, down) => {
        const [lo, hi] = [Math.min(i, j) % a.length, Math.max(i, j) % a.length];
        const block = a.slice(lo, hi);
        let b = down ? [...a.slice(0, lo), ...a.slice(hi), ...block] : [...block, ...a.slice(0, lo), ...a.slice(hi)];
        for (const [at, del, ins] of edits) {
          const k = at % (b.length + 1);
          b = [...b.slice(0, k), ...ins, ...b.slice(k + del)];
        }
        for (const maxDistance of [0, 4, 64]) {
          const splices = diffTokens(a, b, { maxDistance });
          assert.deepEqual(applySplices(a, splices), b);
          for (let s = 1; s < splices.length; s++) assert.ok(splices[s].start >= splices[s - 1].end, 'ascending, non-overlapping');
        }
      },
    ),
    { numRuns: 1500 },
  );
});

test('the moved block is found when the first tokens at its edge were re-tokenized', () => {
  const seq = (n: number, base: number): number[] => Array.from({ length: n }, (_, i) => base + i);
  const moved = seq(400, 1000);
  const rest = seq(600, 2000);
  const before = seq(800, 3000);
  // Old `after` held moved + rest as one text: rest's first token was merged with the end of moved.
  const old = [1, 2, 3, ...moved.slice(0, -1), 4242, ...rest.slice(1), 7, ...before];
  const next = [1, 2, 3, ...rest, 7, ...before, ...moved];
  const splices = diffTokens(old, next);
  assert.deepEqual(applySplices(old, splices), next);
  assert.ok(inserted(splices) <= moved.length + 2, `encodes the moved tokens and the re-tokenized edge only (${inserted(splices)})`);
});
