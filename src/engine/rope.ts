// Rotary position embedding on the JS side: re-rotating cached keys when their positions change
// (PIE edits, tree compaction). The graph applies RoPE itself in float32 (onnxGraph.ts); here the
// angles are float64 so that one rotation from the encoded key is as exact as float32 storage allows.

import { ropeInverseFrequencies, type ModelConfig, type RopeLayout } from './types';

/** What a rotation needs to know about one head. */
export interface RopeSpec {
  headDim: number;
  layout: RopeLayout;
  /** [headDim/2] float64 inverse frequencies (radians per position). */
  invFreq: Float64Array;
}

export function ropeSpec(cfg: Pick<ModelConfig, 'headDim' | 'ropeTheta' | 'ropeScalingFactor' | 'ropeLayout'>): RopeSpec {
  if (cfg.headDim % 2 !== 0) throw new RangeError(`RoPE needs an even head size, got ${cfg.headDim}`);
  return { headDim: cfg.headDim, layout: cfg.ropeLayout, invFreq: ropeInverseFrequencies(cfg) };
}

/**
 * cos/sin of `delta` positions for every frequency: both [headDim/2], float64.
 * One table serves every head and layer of a slot, so callers compute it once per slot.
 */
export class RopeTable {
  readonly cos: Float64Array;
  readonly sin: Float64Array;

  constructor(readonly spec: RopeSpec) {
    this.cos = new Float64Array(spec.headDim / 2);
    this.sin = new Float64Array(spec.headDim / 2);
  }

  /** Fill the table for a rotation by `delta` positions (may be negative or fractional). */
  set(delta: number): this {
    const f = this.spec.invFreq;
    for (let i = 0; i < f.length; i++) {
      const a = delta * f[i];
      this.cos[i] = Math.cos(a);
      this.sin[i] = Math.sin(a);
    }
    return this;
  }

  /**
   * dst[dstOff .. +headDim) = R(delta) · src[srcOff .. +headDim), one head vector.
   * src and dst may be the same array at the same offset (each pair is read before it is written).
   */
  rotate(src: Float32Array, srcOff: number, dst: Float32Array, dstOff: number): void {
    const half = this.cos.length;
    const c = this.cos;
    const s = this.sin;
    if (this.spec.layout === 'rotate-half') {
      // Pairs (i, i + d/2), as HF llama/qwen2 `rotate_half`.
      for (let i = 0; i < half; i++) {
        const x1 = src[srcOff + i];
        const x2 = src[srcOff + half + i];
        dst[dstOff + i] = x1 * c[i] - x2 * s[i];
        dst[dstOff + half + i] = x2 * c[i] + x1 * s[i];
      }
    } else {
      // Pairs (2i, 2i + 1), GPT-J style.
      for (let i = 0; i < half; i++) {
        const x1 = src[srcOff + 2 * i];
        const x2 = src[srcOff + 2 * i + 1];
        dst[dstOff + 2 * i] = x1 * c[i] - x2 * s[i];
        dst[dstOff + 2 * i + 1] = x2 * c[i] + x1 * s[i];
      }
    }
  }
}

/**
 * Apply RoPE at absolute positions to pre-RoPE vectors, float64 angles.
 * x: [rows, heads, headDim] (row r at position positions[r]); returns a new array of the same shape.
 * Used by tests to encode keys directly at a position, and by callers that hold pre-RoPE keys.
 */
export function applyRope(spec: RopeSpec, x: Float32Array, heads: number, positions: ArrayLike<number>): Float32Array {
  const d = spec.headDim;
  const rows = positions.length;
  if (x.length !== rows * heads * d) throw new RangeError(`applyRope: expected ${rows}×${heads}×${d} values, got ${x.length}`);
  const out = new Float32Array(x.length);
  const table = new RopeTable(spec);
  for (let r = 0; r < rows; r++) {
    table.set(positions[r]);
    for (let h = 0; h < heads; h++) table.rotate(x, (r * heads + h) * d, out, (r * heads + h) * d);
  }
  return out;
}
