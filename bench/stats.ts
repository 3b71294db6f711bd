// Statistics shared by the benchmarks: edit similarity, Wilson and bootstrap intervals, medians.
// (bench/pie and bench/monitors still carry private copies of some of these.)

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

/**
 * Percentile bootstrap (95%) of the mean of `xs`: `rounds` resamples with replacement from a
 * seeded generator, so the same data always gives the same interval.
 */
export function bootstrapMean(xs: readonly number[], rounds = 2000, seed = 12345): [number, number] {
  if (xs.length === 0) return [NaN, NaN];
  const rand = mulberry32(seed);
  const n = xs.length;
  const means = new Float64Array(rounds);
  for (let r = 0; r < rounds; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += xs[Math.floor(rand() * n)];
    means[r] = s / n;
  }
  means.sort();
  return [means[Math.floor(0.025 * rounds)], means[Math.min(rounds - 1, Math.floor(0.975 * rounds))]];
}

/** Mean of the paired differences a[i] − b[i] with its bootstrap 95% interval. */
export function pairedDifference(a: readonly number[], b: readonly number[], rounds = 2000, seed = 12345): { diff: number; ci95: [number, number] } {
  if (a.length !== b.length) throw new RangeError(`pairedDifference: ${a.length} vs ${b.length} values`);
  const d = a.map((x, i) => x - b[i]);
  return { diff: mean(d), ci95: bootstrapMean(d, rounds, seed) };
}

/** Linear-interpolation quantile of `xs` (q in [0, 1]); NaN for no data. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
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
