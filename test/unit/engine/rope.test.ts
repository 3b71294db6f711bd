import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { applyRope, ropeSpec, RopeTable, type RopeSpec } from '../../../src/engine/rope';
import type { RopeLayout } from '../../../src/engine/types';

function spec(layout: RopeLayout, headDim = 8, ropeTheta = 10000, ropeScalingFactor = 1): RopeSpec {
  return ropeSpec({ headDim, ropeTheta, ropeScalingFactor, ropeLayout: layout });
}
function randomVec(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}
function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('rope', () => {
  it('rotate-half pairs (i, i+d/2) exactly as HF: x·cos + rotate_half(x)·sin', () => {
    const s = spec('rotate-half', 4, 100);
    const x = Float32Array.of(1, 2, 3, 4);
    const p = 3;
    const f = [1, Math.pow(100, -0.5)];
    const c = f.map((v) => Math.cos(p * v));
    const sn = f.map((v) => Math.sin(p * v));
    const want = [1 * c[0] - 3 * sn[0], 2 * c[1] - 4 * sn[1], 3 * c[0] + 1 * sn[0], 4 * c[1] + 2 * sn[1]];
    assert.ok(maxAbsDiff(applyRope(s, x, 1, [p]), want) < 1e-6);
  });

  it('interleaved pairs (2i, 2i+1)', () => {
    const s = spec('interleaved', 4, 100);
    const x = Float32Array.of(1, 2, 3, 4);
    const p = 3;
    const f = [1, Math.pow(100, -0.5)];
    const c = f.map((v) => Math.cos(p * v));
    const sn = f.map((v) => Math.sin(p * v));
    const want = [1 * c[0] - 2 * sn[0], 2 * c[0] + 1 * sn[0], 3 * c[1] - 4 * sn[1], 4 * c[1] + 3 * sn[1]];
    assert.ok(maxAbsDiff(applyRope(s, x, 1, [p]), want) < 1e-6);
  });

  it('linear scaling divides the angle: position p with factor 4 = position p/4 without', () => {
    const x = randomVec(16, 1);
    const scaled = applyRope(spec('rotate-half', 16, 10000, 4), x, 1, [12]);
    const plain = applyRope(spec('rotate-half', 16, 10000, 1), x, 1, [3]);
    assert.ok(maxAbsDiff(scaled, plain) < 1e-6);
  });

  for (const layout of ['rotate-half', 'interleaved'] as const) {
    it(`${layout}: R(a)·R(b) = R(a+b), R(d)·R(−d) = I, norms kept`, () => {
      const s = spec(layout, 64);
      const x = randomVec(64 * 3, 2); // 3 heads
      const t = new RopeTable(s);
      const y = new Float32Array(x.length);
      const z = new Float32Array(x.length);
      for (let h = 0; h < 3; h++) t.set(37).rotate(x, h * 64, y, h * 64);
      for (let h = 0; h < 3; h++) t.set(-37).rotate(y, h * 64, z, h * 64);
      assert.ok(maxAbsDiff(z, x) < 1e-6, 'inverse');
      const direct = applyRope(s, x, 3, [37 + 1000]);
      for (let h = 0; h < 3; h++) t.set(1000).rotate(y, h * 64, z, h * 64);
      assert.ok(maxAbsDiff(z, direct) < 1e-5, 'composition');
      const norm = (v: Float32Array): number => Math.hypot(...v);
      assert.ok(Math.abs(norm(direct) - norm(x)) < 1e-5, 'norm');
    });

    it(`${layout}: rotating in place equals rotating into another array`, () => {
      const s = spec(layout, 16);
      const x = randomVec(16, 3);
      const t = new RopeTable(s).set(5);
      const out = new Float32Array(16);
      t.rotate(x, 0, out, 0);
      const inPlace = x.slice();
      t.rotate(inPlace, 0, inPlace, 0);
      assert.deepEqual(inPlace, out);
    });
  }

  it('rejects odd head sizes and mismatched lengths', () => {
    assert.throws(() => spec('rotate-half', 7), RangeError);
    assert.throws(() => applyRope(spec('rotate-half', 8), new Float32Array(10), 1, [0]), RangeError);
  });
});
