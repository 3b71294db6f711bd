// CPython's `random.Random(str)` (MT19937, seeded as `random.seed(a, version=2)`): just enough of
// it (getrandbits ≤ 32 bits, random, randrange, randint, shuffle) to replay the recipe's Python-side sampling on
// the CPU, so that the plain-document loss here is computed on exactly the rows the GPU scored
// (models/recipe/prep.py `evalsets`: `random.Random(f"{SEED}/eval/{group}").shuffle(docs)`).

import { createHash } from 'node:crypto';

const N = 624;
const M = 397;

export class PyRandom {
  private readonly mt = new Uint32Array(N);
  private mti = N + 1;

  /** `random.Random(seed)` for a str seed: the int is utf8(seed) ‖ sha512(utf8(seed)), big-endian. */
  constructor(seed: string) {
    const text = Buffer.from(seed, 'utf8');
    const be = Buffer.concat([text, createHash('sha512').update(text).digest()]);
    // CPython hands init_by_array the integer's 32-bit words, least significant first.
    let top = 0;
    while (top < be.length && be[top] === 0) top++;
    const le = Uint8Array.from(be.subarray(top)).reverse();
    const words = new Uint32Array(Math.max(1, Math.ceil(le.length / 4)));
    for (let i = 0; i < le.length; i++) words[i >> 2] |= le[i] << (8 * (i & 3));
    this.initByArray(words);
  }

  private initGenrand(s: number): void {
    const mt = this.mt;
    mt[0] = s >>> 0;
    for (let i = 1; i < N; i++) mt[i] = (Math.imul(1812433253, mt[i - 1] ^ (mt[i - 1] >>> 30)) + i) >>> 0;
    this.mti = N;
  }

  private initByArray(key: Uint32Array): void {
    const mt = this.mt;
    this.initGenrand(19650218);
    let i = 1;
    let j = 0;
    for (let k = Math.max(N, key.length); k > 0; k--) {
      mt[i] = ((mt[i] ^ Math.imul(mt[i - 1] ^ (mt[i - 1] >>> 30), 1664525)) + key[j] + j) >>> 0;
      i++;
      j++;
      if (i >= N) {
        mt[0] = mt[N - 1];
        i = 1;
      }
      if (j >= key.length) j = 0;
    }
    for (let k = N - 1; k > 0; k--) {
      mt[i] = ((mt[i] ^ Math.imul(mt[i - 1] ^ (mt[i - 1] >>> 30), 1566083941)) - i) >>> 0;
      i++;
      if (i >= N) {
        mt[0] = mt[N - 1];
        i = 1;
      }
    }
    mt[0] = 0x80000000;
  }

  /** genrand_uint32. */
  uint32(): number {
    const mt = this.mt;
    if (this.mti >= N) {
      let kk = 0;
      const mag = (y: number): number => (y & 1 ? 0x9908b0df : 0);
      for (; kk < N - M; kk++) {
        const y = (mt[kk] & 0x80000000) | (mt[kk + 1] & 0x7fffffff);
        mt[kk] = mt[kk + M] ^ (y >>> 1) ^ mag(y);
      }
      for (; kk < N - 1; kk++) {
        const y = (mt[kk] & 0x80000000) | (mt[kk + 1] & 0x7fffffff);
        mt[kk] = mt[kk + (M - N)] ^ (y >>> 1) ^ mag(y);
      }
      const y = (mt[N - 1] & 0x80000000) | (mt[0] & 0x7fffffff);
      mt[N - 1] = mt[M - 1] ^ (y >>> 1) ^ mag(y);
      this.mti = 0;
    }
    let y = mt[this.mti++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** `getrandbits(k)`, 1 ≤ k ≤ 32. */
  getrandbits(k: number): number {
    if (!Number.isInteger(k) || k < 1 || k > 32) throw new RangeError(`getrandbits: k = ${k} outside [1, 32]`);
    return this.uint32() >>> (32 - k);
  }

  /** `_randbelow(n)` (rejection sampling on n.bit_length() bits), 0 < n < 2^32. */
  randbelow(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n >= 2 ** 32) throw new RangeError(`randbelow: n = ${n} outside [1, 2^32)`);
    const k = 32 - Math.clz32(n);
    let r = this.getrandbits(k);
    while (r >= n) r = this.getrandbits(k);
    return r;
  }

  /** `random()`: 53 random bits as a float in [0, 1) (genrand_res53). */
  random(): number {
    const a = this.uint32() >>> 5;
    const b = this.uint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** `randrange(n)`: an integer in [0, n). */
  randrange(n: number): number {
    return this.randbelow(n);
  }

  /** `randint(a, b)`: an integer in [a, b]. */
  randint(a: number, b: number): number {
    return a + this.randbelow(b - a + 1);
  }

  /** `shuffle(x)` in place. */
  shuffle<T>(x: T[]): T[] {
    for (let i = x.length - 1; i > 0; i--) {
      const j = this.randbelow(i + 1);
      const t = x[i];
      x[i] = x[j];
      x[j] = t;
    }
    return x;
  }
}
