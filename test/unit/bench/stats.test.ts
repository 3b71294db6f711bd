import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { bootstrapMean, bootstrapQuantile, editSimilarity, levenshtein, median, medianDifference, pairedDifference, quantile, wilson } from '../../../bench/stats';

/** Textbook recursive edit distance, for short strings only. */
function naiveDistance(a: string, b: string): number {
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  const sub = naiveDistance(a.slice(1), b.slice(1)) + (a[0] === b[0] ? 0 : 1);
  return Math.min(sub, naiveDistance(a.slice(1), b) + 1, naiveDistance(a, b.slice(1)) + 1);
}

describe('bench/stats', () => {
  it('levenshtein equals the textbook recursion on random short strings', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 7, unit: fc.constantFrom('a', 'b', 'c', ' ', '(') }), fc.string({ maxLength: 7, unit: fc.constantFrom('a', 'b', 'c', ' ', '(') }), (a, b) => {
        assert.equal(levenshtein(a, b), naiveDistance(a, b));
        assert.equal(levenshtein(a, b), levenshtein(b, a));
      }),
      { numRuns: 300 },
    );
    assert.equal(levenshtein('kitten', 'sitting'), 3);
  });

  it('edit similarity is 1 − distance / longer length, 1 for two empty strings', () => {
    assert.equal(editSimilarity('', ''), 1);
    assert.equal(editSimilarity('abc', ''), 0);
    assert.equal(editSimilarity('return x', 'return y'), 1 - 1 / 8);
    assert.equal(editSimilarity('foo(a)', 'foo(a, b)'), 1 - 3 / 9);
  });

  it('Wilson interval matches the closed form and brackets the proportion', () => {
    const [lo, hi] = wilson(5, 10);
    assert.ok(Math.abs(lo - 0.2366) < 1e-4 && Math.abs(hi - 0.7634) < 1e-4, `${lo} ${hi}`);
    const [lo0, hi0] = wilson(0, 20);
    assert.equal(lo0, 0);
    assert.ok(Math.abs(hi0 - 0.1611) < 1e-4, `${hi0}`);
    for (const [k, n] of [
      [1, 3],
      [7, 40],
      [99, 100],
    ]) {
      const [a, b] = wilson(k, n);
      assert.ok(a <= k / n && k / n <= b);
    }
  });

  it('bootstrap intervals are deterministic, contain the mean, and collapse for constant data', () => {
    const xs = Array.from({ length: 50 }, (_, i) => (i * 37) % 11);
    const a = bootstrapMean(xs);
    assert.deepEqual(bootstrapMean(xs), a);
    const m = xs.reduce((s, x) => s + x, 0) / xs.length;
    assert.ok(a[0] < m && m < a[1], `${a} vs ${m}`);
    assert.deepEqual(bootstrapMean([0.25, 0.25, 0.25]), [0.25, 0.25]);
    const d = pairedDifference([1, 1, 0, 1], [0, 1, 0, 0]);
    assert.equal(d.diff, 0.5);
    assert.ok(d.ci95[0] >= 0 && d.ci95[1] <= 1);
    assert.throws(() => pairedDifference([1], [1, 2]), /1 vs 2/);
  });

  it('median of odd and even counts', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.ok(Number.isNaN(median([])));
  });

  it('quantiles interpolate; their bootstrap intervals and the median difference are deterministic and sensible', () => {
    assert.equal(quantile([1, 2, 3, 4], 0.5), 2.5);
    assert.equal(quantile([5, 1, 3], 0), 1);
    assert.equal(quantile([5, 1, 3], 1), 5);
    assert.ok(Number.isNaN(quantile([], 0.5)));
    const xs = Array.from({ length: 60 }, (_, i) => 100 + ((i * 37) % 50));
    const ci = bootstrapQuantile(xs, 0.5);
    assert.deepEqual(bootstrapQuantile(xs, 0.5), ci);
    assert.ok(ci[0] <= median(xs) && median(xs) <= ci[1], `${ci} vs ${median(xs)}`);
    assert.deepEqual(bootstrapQuantile([7, 7, 7], 0.9), [7, 7]);
    const d = medianDifference(xs.map((x) => x + 40), xs);
    assert.equal(d.diff, 40);
    assert.ok(d.ci95[0] > 0 && d.ci95[0] <= 40 && d.ci95[1] >= 40, `${d.ci95}`);
    assert.ok(Number.isNaN(medianDifference([], xs).diff));
  });
});
