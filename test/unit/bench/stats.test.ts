import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { bootstrap, bootstrapMean, bootstrapQuantile, editSimilarity, lcg, levenshtein, meanNormalCi, median, medianDifference, pairedDifference, pairedMeanDiff, pairedProportions, quantile, rankQuantile, wilson } from '../../../bench/stats';

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

  it('quantiles: interpolated and by rank', () => {
    assert.equal(quantile([1, 2, 3, 4], 0.5), 2.5);
    assert.equal(quantile([10, 0], 0.9), 9);
    assert.equal(rankQuantile([4, 1, 3, 2], 0.5), 3);
    assert.equal(rankQuantile([5, 1, 2, 3, 4, 6, 7, 8, 9, 10], 0.9), 10);
    assert.equal(rankQuantile([5, 1, 2, 3, 4, 6, 7, 8, 9, 10], 0.1), 2);
    assert.ok(Number.isNaN(quantile([], 0.5)) && Number.isNaN(rankQuantile([], 0.5)));
  });

  it('the generic bootstrap resamples rows like bootstrapMean and skips non-finite statistics', () => {
    const xs = Array.from({ length: 30 }, (_, i) => (i * 7) % 5);
    const mean = (rs: number[]) => rs.reduce((a, b) => a + b, 0) / rs.length;
    assert.deepEqual(bootstrap(xs, mean), bootstrapMean(xs));
    // A hand-rolled resampling loop over the same generator gives the same interval.
    const rand = lcg(12345);
    const vals: number[] = [];
    for (let r = 0; r < 500; r++) vals.push(mean(Array.from({ length: xs.length }, () => xs[Math.floor(rand() * xs.length)])));
    vals.sort((a, b) => a - b);
    assert.deepEqual(bootstrap(xs, mean, 500, lcg(12345)), [vals[12], vals[487]]);
    assert.deepEqual(bootstrap(xs, () => NaN), [NaN, NaN]);
    assert.deepEqual(bootstrap([], mean), [NaN, NaN]);
  });

  it('normal interval of a mean, and paired mean differences in points', () => {
    const { mean, ci } = meanNormalCi([1, 2, 3, 4]);
    const h = (1.96 * Math.sqrt(5 / 3)) / 2;
    assert.equal(mean, 2.5);
    assert.ok(Math.abs(ci[0] - (2.5 - h)) < 1e-12 && Math.abs(ci[1] - (2.5 + h)) < 1e-12);
    assert.deepEqual(pairedMeanDiff([0.5, 0.5], [0.25, 0.25]), { diff: 25, ci: [25, 25] });
  });

  it('paired proportions: discordant pairs, a difference in points and a Newcombe interval around it', () => {
    const a = [true, true, false, false, true, false, false, false, false, false];
    const b = [true, false, false, true, false, false, false, false, false, false];
    const p = pairedProportions(a, b);
    assert.deepEqual([p.n, p.onlyA, p.onlyB, p.both, p.diff], [10, 2, 1, 1, 10]);
    assert.ok(p.ci[0] < 10 && 10 < p.ci[1] && p.ci[0] >= -100 && p.ci[1] <= 100, `${p.ci}`);
    const same = pairedProportions(a, a);
    assert.equal(same.diff, 0);
    assert.ok(same.ci[0] < 0 && same.ci[1] > 0, 'no discordant pairs still leaves an interval');
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
