// Statistics shared by the benchmarks: edit similarity, Wilson, Newcombe, normal and bootstrap
// intervals, medians and quantiles, rounding for reports.

import { mulberry32 } from '../test/fixtures/tinyModel';

/** Levenshtein distance over UTF-16 code units (insert, delete, substitute all cost 1). */
export function levenshtein(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  let prev = new Int32Array(b.length + 1);
  let cur = new Int32Array(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    const ca = a.charCodeAt(i - 1);
    for (let j = 1; j <= b.length; j++) {
      const sub = prev[j - 1] + (ca === b.charCodeAt(j - 1) ? 0 : 1);
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, sub);
    }
    [prev, cur] = [cur, prev];
  }
  return prev[b.length];
}

/** 1 − Levenshtein(a, b) / max(|a|, |b|), in [0, 1]; two empty strings are identical (1). */
export function editSimilarity(a: string, b: string): number {
  const n = Math.max(a.length, b.length);
  return n === 0 ? 1 : 1 - levenshtein(a, b) / n;
}

/** Wilson score interval of k successes in n trials, as proportions; z = 1.96 (95%). */
export function wilson(k: number, n: number, z = 1.96): [number, number] {
  if (n === 0) return [NaN, NaN];
  const p = k / n;
  const d = 1 + (z * z) / n;
  const c = (p + (z * z) / (2 * n)) / d;
  const h = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d;
  return [Math.max(0, c - h), Math.min(1, c + h)];
}

export function mean(xs: readonly number[]): number {
  return xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The 32-bit linear congruential generator bench/monitors draws its bootstrap resamples from. */
export function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1103515245 + 12345) >>> 0;
    return state / 2 ** 32;
  };
}

/**
 * Percentile bootstrap (95%) of a statistic over rows: `rounds` resamples with replacement drawn
 * from `rand` (seeded: the same data always gives the same interval). Resamples whose statistic
 * is not finite are skipped; [NaN, NaN] when none is.
 */
export function bootstrap<T>(rows: readonly T[], stat: (rs: T[]) => number, rounds = 2000, rand: () => number = mulberry32(12345)): [number, number] {
  if (rows.length === 0) return [NaN, NaN];
  const n = rows.length;
  const vals: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const rs = new Array<T>(n);
    for (let i = 0; i < n; i++) rs[i] = rows[Math.floor(rand() * n)];
    const v = stat(rs);
    if (Number.isFinite(v)) vals.push(v);
  }
  if (vals.length === 0) return [NaN, NaN];
  vals.sort((a, b) => a - b);
  return [vals[Math.floor(0.025 * vals.length)], vals[Math.min(vals.length - 1, Math.floor(0.975 * vals.length))]];
}

/** Percentile bootstrap (95%) of the mean of `xs` (seeded mulberry32, see bootstrap). */
export function bootstrapMean(xs: readonly number[], rounds = 2000, seed = 12345): [number, number] {
  return bootstrap(xs, mean, rounds, mulberry32(seed));
}

/** Mean of the paired differences a[i] − b[i] with its bootstrap 95% interval. */
export function pairedDifference(a: readonly number[], b: readonly number[], rounds = 2000, seed = 12345): { diff: number; ci95: [number, number] } {
  if (a.length !== b.length) throw new RangeError(`pairedDifference: ${a.length} vs ${b.length} values`);
  const d = a.map((x, i) => x - b[i]);
  return { diff: mean(d), ci95: bootstrapMean(d, rounds, seed) };
}

/** Mean of `xs` with its normal-approximation 95% interval (mean ± 1.96·sd/√n; n − 1 in the sd). */
export function meanNormalCi(xs: readonly number[], z = 1.96): { mean: number; ci: [number, number] } {
  const n = xs.length;
  if (n === 0) return { mean: NaN, ci: [NaN, NaN] };
  const m = xs.reduce((a, b) => a + b, 0) / n;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, n - 1));
  const h = (z * sd) / Math.sqrt(n);
  return { mean: m, ci: [m - h, m + h] };
}

/** Linear-interpolated quantile q ∈ [0, 1] (NaN for no data). */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/** The element of rank ⌊q·n⌋ of the sorted data (no interpolation; q = 0.5 is the upper median). NaN for no data. */
export function rankQuantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

export const r1 = (x: number): number => Math.round(x * 10) / 10;
export const r3 = (x: number): number => Math.round(x * 1000) / 1000;

export interface PairedProportions {
  n: number;
  /** Right in A only / in B only (the discordant pairs); both right. */
  onlyA: number;
  onlyB: number;
  both: number;
  /** pA − pB in points, and its 95% interval (Newcombe 1998, method 10: Wilson score based). */
  diff: number;
  ci: [number, number];
}

/**
 * Paired difference of two success rates measured on the same samples. The interval combines the
 * two Wilson intervals with the pairs' correlation, which stays sensible when the discordant
 * pairs are few (the normal approximation then gives a zero-width interval).
 */
export function pairedProportions(a: readonly boolean[], b: readonly boolean[]): PairedProportions {
  const n = a.length;
  let both = 0;
  let onlyA = 0;
  let onlyB = 0;
  for (let i = 0; i < n; i++) {
    if (a[i] && b[i]) both++;
    else if (a[i]) onlyA++;
    else if (b[i]) onlyB++;
  }
  const neither = n - both - onlyA - onlyB;
  if (n === 0) return { n, onlyA, onlyB, both, diff: NaN, ci: [NaN, NaN] };
  const pA = (both + onlyA) / n;
  const pB = (both + onlyB) / n;
  const [lA, uA] = wilson(both + onlyA, n);
  const [lB, uB] = wilson(both + onlyB, n);
  const den = (both + onlyA) * (onlyB + neither) * (both + onlyB) * (onlyA + neither);
  const phi = den > 0 ? (both * neither - onlyA * onlyB) / Math.sqrt(den) : 0;
  const d = pA - pB;
  const lo = d - Math.sqrt(Math.max(0, (pA - lA) ** 2 - 2 * phi * (pA - lA) * (uB - pB) + (uB - pB) ** 2));
  const hi = d + Math.sqrt(Math.max(0, (uA - pA) ** 2 - 2 * phi * (uA - pA) * (pB - lB) + (pB - lB) ** 2));
  return { n, onlyA, onlyB, both, diff: r1(100 * d), ci: [r1(100 * lo), r1(100 * hi)] };
}

/** Mean of paired differences a − b (×100: points) with a normal 95% interval, rounded to 0.1. */
export function pairedMeanDiff(a: readonly number[], b: readonly number[]): { diff: number; ci: [number, number] } {
  if (a.length === 0) return { diff: NaN, ci: [NaN, NaN] };
  const { mean: m, ci } = meanNormalCi(a.map((x, i) => x - b[i]));
  return { diff: r1(100 * m), ci: [r1(100 * ci[0]), r1(100 * ci[1])] };
}

/** Percentile bootstrap (95%) of the q-quantile of `xs` (seeded, like bootstrapMean). */
export function bootstrapQuantile(xs: readonly number[], q: number, rounds = 2000, seed = 12345): [number, number] {
  if (xs.length === 0) return [NaN, NaN];
  const rand = mulberry32(seed);
  const n = xs.length;
  const qs = new Float64Array(rounds);
  const resample = new Array<number>(n);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < n; i++) resample[i] = xs[Math.floor(rand() * n)];
    qs[r] = quantile(resample, q);
  }
  qs.sort();
  return [qs[Math.floor(0.025 * rounds)], qs[Math.min(rounds - 1, Math.floor(0.975 * rounds))]];
}

/** Difference of medians median(a) − median(b) of two independent samples, with a bootstrap 95% interval. */
export function medianDifference(a: readonly number[], b: readonly number[], rounds = 2000, seed = 12345): { diff: number; ci95: [number, number] } {
  if (a.length === 0 || b.length === 0) return { diff: NaN, ci95: [NaN, NaN] };
  const rand = mulberry32(seed);
  const diffs = new Float64Array(rounds);
  const ra = new Array<number>(a.length);
  const rb = new Array<number>(b.length);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < a.length; i++) ra[i] = a[Math.floor(rand() * a.length)];
    for (let i = 0; i < b.length; i++) rb[i] = b[Math.floor(rand() * b.length)];
    diffs[r] = median(ra) - median(rb);
  }
  diffs.sort();
  return { diff: median(a) - median(b), ci95: [diffs[Math.floor(0.025 * rounds)], diffs[Math.min(rounds - 1, Math.floor(0.975 * rounds))]] };
}
