// Small statistics for bench/pie: quantiles, a binomial interval, paired differences.

export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

export const r1 = (x: number): number => Math.round(x * 10) / 10;
export const r3 = (x: number): number => Math.round(x * 1000) / 1000;

const Z = 1.96;

/** Wilson 95% interval of k successes in n, as proportions. */
export function wilson(k: number, n: number): [number, number] {
  if (n === 0) return [NaN, NaN];
  const p = k / n;
  const d = 1 + (Z * Z) / n;
  const c = (p + (Z * Z) / (2 * n)) / d;
  const h = (Z * Math.sqrt((p * (1 - p)) / n + (Z * Z) / (4 * n * n))) / d;
  return [Math.max(0, c - h), Math.min(1, c + h)];
}

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

/** Mean of paired differences a − b (×100: points) with a normal 95% interval. */
export function pairedMeanDiff(a: readonly number[], b: readonly number[]): { diff: number; ci: [number, number] } {
  const n = a.length;
  if (n === 0) return { diff: NaN, ci: [NaN, NaN] };
  const d = a.map((x, i) => x - b[i]);
  const mean = d.reduce((s, x) => s + x, 0) / n;
  const sd = Math.sqrt(d.reduce((s, x) => s + (x - mean) ** 2, 0) / Math.max(1, n - 1));
  const h = (Z * sd) / Math.sqrt(n);
  return { diff: r1(100 * mean), ci: [r1(100 * (mean - h)), r1(100 * (mean + h))] };
}
