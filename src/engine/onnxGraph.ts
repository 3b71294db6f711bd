// Builds the decoder's ONNX graph (a serialized ModelProto) from a checkpoint, in TypeScript, so a
// user's machine needs no Python. One graph serves prefill, decode, tree verification and
// superposed steps: q new rows attend to P past slots plus themselves under a caller-given additive
// bias.
//
// Interface (batch is always 1):
//   inputs_embeds   float32 [1, q, H]
//   position_ids    int64   [1, q]            absolute RoPE positions, any integers
//   attention_bias  float32 [1, 1, q, P + q]  additive, 0 / -inf; columns [0, P) are the past slots
//   logit_rows      int64   [r]               which of the q rows get logits
//   past_key_i      float32 [1, kvH, P, d]    post-RoPE keys of layer i (P may exceed the real past:
//   past_value_i    float32 [1, kvH, P, d]    the JS cache passes its whole capacity, bias masks the rest)
// outputs:
//   logits          float32 [1, r, V]
//   new_key_i       float32 [1, kvH, q, d]    post-RoPE keys of the new rows only
//   new_value_i     float32 [1, kvH, q, d]
//
// Attention never concatenates past and new K/V (that would copy the whole past every step, and
// decode is memory-bound): scores against the past and against the new rows are two FusedMatMuls
// (transB, scale folded into alpha) that read the past buffers in place; the two small score blocks
// are concatenated, biased, softmaxed, split again and multiplied with V_past and V_new separately.
// Measured (30.9M-param model, hidden 512, 8 layers, GQA 8/2, vocab 16k; ORT 1.30, 2 threads pinned
// to 2 Xeon cores; decode at a 512-token past): split-past 3.23 ms/token with P = 512 (3.56 ms with
// P = 768, i.e. 256 masked slots) vs Concat 4.59 ms/token with an exact-length past — and Concat
// also needs the past copied out of the cache into exact-length tensors first. Prefill without a
// past is the same for both (139 ms for 512 tokens). On the shared 2-core AMD dev VM the two runs
// taken (14.8 vs 17.9 and 19.5 vs 18.3 ms/token) were within its noise from other work.
// `bench/run.ts engine --attention` repeats the comparison.
//
// GQA: Q [q, nH, d] is regrouped to [1, kvH, g·q, d] (row = group·q + t) so one batched matmul per kv
// head covers its g query heads; scores are viewed as [1, kvH, g, q, P+q] for the bias to broadcast.

import { onnx } from 'onnx-proto';
import type { Checkpoint, ModelConfig, WeightStore, WeightTensor } from './types';

/** Bumped whenever the graph's structure changes: part of the on-disk graph cache key. */
export const GRAPH_VERSION = 1;

export const INPUT_EMBEDS = 'inputs_embeds';
export const INPUT_POSITIONS = 'position_ids';
export const INPUT_BIAS = 'attention_bias';
export const INPUT_LOGIT_ROWS = 'logit_rows';
export const OUTPUT_LOGITS = 'logits';
export const pastKeyName = (layer: number): string => `past_key_${layer}`;
export const pastValueName = (layer: number): string => `past_value_${layer}`;
export const newKeyName = (layer: number): string => `new_key_${layer}`;
export const newValueName = (layer: number): string => `new_value_${layer}`;

const MS_DOMAIN = 'com.microsoft';
const ONNX_OPSET = 17;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;
const UINT8 = onnx.TensorProto.DataType.UINT8;

type Attr = { int: number } | { float: number } | { ints: number[] };

function attribute(name: string, a: Attr): onnx.IAttributeProto {
  if ('int' in a) return { name, type: onnx.AttributeProto.AttributeType.INT, i: a.int };
  if ('float' in a) return { name, type: onnx.AttributeProto.AttributeType.FLOAT, f: a.float };
  return { name, type: onnx.AttributeProto.AttributeType.INTS, ints: a.ints };
}

/** Dimension: a fixed size or a symbolic name. */
type Dim = number | string;

function valueInfo(name: string, elemType: number, dims: Dim[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** Accumulates nodes and initializers with generated, unique value names. */
class GraphBuilder {
  readonly nodes: onnx.INodeProto[] = [];
  readonly initializers: onnx.ITensorProto[] = [];
  private counter = 0;
  private readonly int64Consts = new Map<string, string>();

  /** Add a node; returns its output names (`outputs` of them, or the given names). */
  op(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, opts: { domain?: string; outputs?: number | string[] } = {}): string[] {
    const id = this.counter++;
    const outs = Array.isArray(opts.outputs)
      ? opts.outputs
      : Array.from({ length: opts.outputs ?? 1 }, (_, i) => `${opType}_${id}_${i}`);
    this.nodes.push({
      name: `${opType}_${id}`,
      opType,
      domain: opts.domain ?? '',
      input: inputs,
      output: outs,
      attribute: Object.entries(attrs).map(([n, a]) => attribute(n, a)),
    });
    return outs;
  }

  /** Single-output node. */
  op1(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, opts: { domain?: string; output?: string } = {}): string {
    return this.op(opType, inputs, attrs, { domain: opts.domain, outputs: opts.output ? [opts.output] : 1 })[0];
  }

  /** A float32 initializer; the bytes are referenced, not copied, until encoding. */
  weight(name: string, dims: number[], data: Float32Array): string {
    if (data.length !== dims.reduce((a, b) => a * b, 1)) throw new RangeError(`initializer ${name}: ${data.length} values for [${dims}]`);
    this.initializers.push({
      name,
      dims,
      dataType: FLOAT,
      rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    });
    return name;
  }

  /** A uint8 initializer (quantized weight codes). */
  bytes(name: string, dims: number[], data: Uint8Array): string {
    if (data.length !== dims.reduce((a, b) => a * b, 1)) throw new RangeError(`initializer ${name}: ${data.length} bytes for [${dims}]`);
    this.initializers.push({ name, dims, dataType: UINT8, rawData: data });
    return name;
  }

  /** A 1-D int64 constant (shapes, axes, split sizes), deduplicated by value. */
  ints(values: number[]): string {
    const key = values.join(',');
    const known = this.int64Consts.get(key);
    if (known) return known;
    const name = `const_i64_${this.int64Consts.size}`;
    const raw = new BigInt64Array(values.map((v) => BigInt(v)));
    this.initializers.push({ name, dims: [values.length], dataType: INT64, rawData: new Uint8Array(raw.buffer) });
    this.int64Consts.set(key, name);
    return name;
  }
}

/** Row-major [rows, cols] → [cols, rows] into `dst` at column offset `colOff` of a [cols, dstCols] matrix. */
function transposeInto(src: Float32Array, rows: number, cols: number, dst: Float32Array, dstCols: number, colOff: number): void {
  // Blocked so both the reads and the strided writes stay in cache.
  const B = 32;
  for (let r0 = 0; r0 < rows; r0 += B) {
    const r1 = Math.min(rows, r0 + B);
    for (let c0 = 0; c0 < cols; c0 += B) {
      const c1 = Math.min(cols, c0 + B);
      for (let r = r0; r < r1; r++) {
        const srow = r * cols;
        for (let c = c0; c < c1; c++) dst[c * dstCols + colOff + r] = src[srow + c];
      }
    }
  }
}

/** The HF Linear weights `names`, each checked to be [out_i, inFeatures]. */
function linearTensors(w: WeightStore, names: string[], inFeatures: number): WeightTensor[] {
  return names.map((n) => {
    const t = w.get(n);
    if (t.shape.length !== 2 || t.shape[1] !== inFeatures) throw new RangeError(`${n}: expected [*, ${inFeatures}], got [${t.shape}]`);
    return t;
  });
}

/**
 * HF Linear weights [out, in] → one MatMul B matrix [in, Σout] (several projections side by side,
 * so q/k/v and gate/up each run as one GEMM).
 */
function linearWeights(w: WeightStore, names: string[], inFeatures: number): { data: Float32Array; outFeatures: number } {
  const parts = linearTensors(w, names, inFeatures);
  const outFeatures = parts.reduce((a, t) => a + t.shape[0], 0);
  const data = new Float32Array(inFeatures * outFeatures);
  let off = 0;
  for (const t of parts) {
    transposeInto(t.data, t.shape[0], inFeatures, data, outFeatures, off);
    off += t.shape[0];
  }
  return { data, outFeatures };
}

function vector(w: WeightStore, name: string, n: number): Float32Array {
  const t = w.get(name);
  if (t.data.length !== n) throw new RangeError(`${name}: expected ${n} values, got [${t.shape}]`);
  return t.data;
}

function concatVectors(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Float32 inverse frequencies [d/2] as the graph multiplies them with positions. */
function graphInverseFrequencies(cfg: ModelConfig): Float32Array {
  const half = cfg.headDim / 2;
  const out = new Float32Array(half);
  for (let i = 0; i < half; i++) out[i] = Math.pow(cfg.ropeTheta, -(2 * i) / cfg.headDim) / cfg.ropeScalingFactor;
  return out;
}

/**
 * Per-forward RoPE tables shared by every layer: cos/sin [q, d/2] of the actual positions, float32
 * as HF computes them. They feed com.microsoft RotaryEmbedding as its "cache" with position_ids = 0,
 * i.e. row t of the table is row t of the input: one fused kernel per q/k while positions stay
 * arbitrary and unbounded (no max-position table).
 */
interface RopeNodes {
  cos: string;
  sin: string;
  /** int64 [1] = 0: the kernel's position offset. */
  offset: string;
}

function buildRopeTables(g: GraphBuilder, cfg: ModelConfig): RopeNodes {
  const half = cfg.headDim / 2;
  const pos = g.op1('Cast', [g.op1('Reshape', [INPUT_POSITIONS, g.ints([-1, 1])])], { to: { int: FLOAT } }); // [q, 1]
  const invFreq = g.weight('rope_inv_freq', [1, half], graphInverseFrequencies(cfg));
  const angles = g.op1('Mul', [pos, invFreq]); // [q, d/2] radians
  return { cos: g.op1('Cos', [angles]), sin: g.op1('Sin', [angles]), offset: g.ints([0]) };
}

/** RoPE on x [1, q, heads·d] (rotate-half pairs (i, i+d/2), or interleaved pairs (2i, 2i+1)). */
function applyRopeNodes(g: GraphBuilder, cfg: ModelConfig, rope: RopeNodes, x: string): string {
  const interleaved = cfg.ropeLayout === 'interleaved' ? 1 : 0;
  return g.op1('RotaryEmbedding', [x, rope.offset, rope.cos, rope.sin], { interleaved: { int: interleaved } }, { domain: MS_DOMAIN });
}

export interface GraphOptions {
  /**
   * 'split-past' (default): scores over past and new rows separately, the past read in place.
   * 'concat': the textbook Concat(past, new) K/V, kept only so benchmarks can compare the two.
   */
  attention?: 'split-past' | 'concat';
  /**
   * Block-quantized weights for every linear layer and the vocabulary projection (com.microsoft
   * MatMulNBits: blocks of WEIGHT_BLOCK input features, one fp32 scale each, symmetric; inputs,
   * outputs, norms, attention and the KV cache stay fp32). Undefined (default): fp32 weights,
   * exactly the checkpoint's values.
   */
  weightBits?: 4 | 8;
}

/** Input features per quantization block (MatMulNBits block_size). */
export const WEIGHT_BLOCK = 32;

export interface QuantizedLinear {
  /** [N, kBlocks, blockSize·bits/8] codes, offset by 2^(bits−1) (MatMulNBits' default zero point). */
  codes: Uint8Array;
  /** [N·kBlocks] fp32 scales: weight ≈ (code − 2^(bits−1)) · scale. */
  scales: Float32Array;
  N: number;
  K: number;
  kBlocks: number;
}

/**
 * Symmetric block-wise quantization of HF Linear weights (parts [out_i, K] stacked along out):
 * per block of `block` input features, scale = max|w| / (2^(bits−1) − 1), code = round(w / scale)
 * + 2^(bits−1). A K that is not a multiple of the block is padded with zeros.
 */
export function quantizeLinear(parts: readonly { data: Float32Array; rows: number }[], K: number, bits: 4 | 8, block = WEIGHT_BLOCK): QuantizedLinear {
  const N = parts.reduce((a, p) => a + p.rows, 0);
  const kBlocks = Math.ceil(K / block);
  const blob = (block * bits) / 8;
  const codes = new Uint8Array(N * kBlocks * blob);
  const scales = new Float32Array(N * kBlocks);
  const zero = 1 << (bits - 1);
  const qmax = zero - 1;
  const q = new Int32Array(block);
  let n = 0;
  for (const part of parts) {
    for (let r = 0; r < part.rows; r++, n++) {
      const row = part.data.subarray(r * K, (r + 1) * K);
      for (let b = 0; b < kBlocks; b++) {
        const k0 = b * block;
        const k1 = Math.min(K, k0 + block);
        let amax = 0;
        for (let k = k0; k < k1; k++) amax = Math.max(amax, Math.abs(row[k]));
        const scale = amax / qmax;
        scales[n * kBlocks + b] = scale;
        for (let i = 0; i < block; i++) {
          const k = k0 + i;
          const v = k < k1 && scale > 0 ? Math.round(row[k] / scale) : 0;
          q[i] = Math.max(-zero, Math.min(qmax, v)) + zero;
        }
        const base = (n * kBlocks + b) * blob;
        if (bits === 8) for (let i = 0; i < block; i++) codes[base + i] = q[i];
        else for (let i = 0; i < block; i += 2) codes[base + i / 2] = q[i] | (q[i + 1] << 4);
      }
    }
  }
  return { codes, scales, N, K, kBlocks };
}

/** The graph as an in-memory ModelProto. Weights are referenced from the checkpoint or fresh transposed copies. */
export function buildModelProto(ckpt: Checkpoint, opts: GraphOptions = {}): onnx.IModelProto {
  const cfg = ckpt.config;
  const w = ckpt.weights;
  const { hiddenSize: H, numHeads: nH, numKvHeads: kvH, headDim: d, intermediateSize: I, numLayers: L, vocabSize: V } = cfg;
  if (nH % kvH !== 0) throw new RangeError(`numHeads ${nH} is not a multiple of numKvHeads ${kvH}`);
  if (d % 2 !== 0) throw new RangeError(`RoPE needs an even head size, got ${d}`);
  const groups = nH / kvH;
  const eps = { float: cfg.rmsNormEps };
  const g = new GraphBuilder();

  const x0 = g.op1('Reshape', [INPUT_EMBEDS, g.ints([1, -1, H])]); // [1, q, H]
  const rope = buildRopeTables(g, cfg);

  // Per-forward attention helpers shared by all layers.
  const splitPastNew = (): string => {
    const pastLen = g.op1('Slice', [g.op1('Shape', [pastKeyName(0)]), g.ints([2]), g.ints([3])]); // [1] = P
    const qLen = g.op1('Slice', [g.op1('Shape', [INPUT_POSITIONS]), g.ints([1]), g.ints([2])]); // [1] = q
    return g.op1('Concat', [pastLen, qLen], { axis: { int: 0 } }); // [2] = [P, q]
  };
  const pastNewSizes = opts.attention === 'concat' ? '' : splitPastNew();
  // Scores [1, kvH, g·q, P+q] are viewed as [1, kvH, g, q, P+q] (free reshapes) so the bias
  // [1, 1, 1, q, P+q] broadcasts over heads and groups instead of being tiled g times.
  const width = g.op1('Slice', [g.op1('Shape', [INPUT_BIAS]), g.ints([3]), g.ints([4])]); // [1] = P+q
  const groupedShape = g.op1('Concat', [g.ints([1, kvH, groups, -1]), width], { axis: { int: 0 } }); // [5]
  const flatShape = g.op1('Concat', [g.ints([1, kvH, -1]), width], { axis: { int: 0 } }); // [4]
  const bias5 = g.op1('Unsqueeze', [INPUT_BIAS, g.ints([2])]); // [1, 1, 1, q, P+q]
  /** softmax(scores + bias) over the last axis; scores and result [1, kvH, g·q, P+q]. */
  const maskedSoftmax = (scores: string): string =>
    g.op1('Reshape', [
      g.op1('Softmax', [g.op1('Add', [g.op1('Reshape', [scores, groupedShape]), bias5])], { axis: { int: -1 } }),
      flatShape,
    ]);

  /** input [1, q, K] · the HF Linear weights `names` (stacked along out) → [1, q, Σout]. */
  const linear = (input: string, name: string, names: string[], K: number, output?: string): { out: string; outFeatures: number } => {
    if (!opts.weightBits) {
      const lw = linearWeights(w, names, K);
      return { out: g.op1('MatMul', [input, g.weight(name, [K, lw.outFeatures], lw.data)], {}, { output }), outFeatures: lw.outFeatures };
    }
    const parts = linearTensors(w, names, K).map((t) => ({ data: t.data, rows: t.shape[0] }));
    const qw = quantizeLinear(parts, K, opts.weightBits);
    const blob = (WEIGHT_BLOCK * opts.weightBits) / 8;
    const out = g.op1(
      'MatMulNBits',
      [input, g.bytes(`${name}_q`, [qw.N, qw.kBlocks, blob], qw.codes), g.weight(`${name}_scales`, [qw.N * qw.kBlocks], qw.scales)],
      // accuracy_level 4: activations quantized to int8 per block and int8 dot products (MLAS);
      // without it ORT 1.30 runs 8-bit weights through a slow fp32 fallback (bench/results/quantization.md).
      { K: { int: K }, N: { int: qw.N }, bits: { int: opts.weightBits }, block_size: { int: WEIGHT_BLOCK }, accuracy_level: { int: 4 } },
      { domain: MS_DOMAIN, output },
    );
    return { out, outFeatures: qw.N };
  };

  let hidden = x0; // residual stream [1, q, H]
  let normed = g.op1('SimplifiedLayerNormalization', [hidden, g.weight('layer0_input_norm', [H], vector(w, 'model.layers.0.input_layernorm.weight', H))], {
    axis: { int: -1 },
    epsilon: eps,
  });

  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}`;
    // --- attention ---
    const qkvW = linear(normed, `l${l}_qkv_w`, [`${p}.self_attn.q_proj.weight`, `${p}.self_attn.k_proj.weight`, `${p}.self_attn.v_proj.weight`], H);
    if (qkvW.outFeatures !== (nH + 2 * kvH) * d) throw new RangeError(`layer ${l}: q/k/v projections give ${qkvW.outFeatures} features, expected ${(nH + 2 * kvH) * d}`);
    let qkv = qkvW.out; // [1, q, (nH + 2kvH)·d]
    if (cfg.qkvBias) {
      const bias = concatVectors([
        vector(w, `${p}.self_attn.q_proj.bias`, nH * d),
        vector(w, `${p}.self_attn.k_proj.bias`, kvH * d),
        vector(w, `${p}.self_attn.v_proj.bias`, kvH * d),
      ]);
      qkv = g.op1('Add', [qkv, g.weight(`l${l}_qkv_b`, [qkvW.outFeatures], bias)]);
    }
    const [qf, kf, vf] = g.op('Split', [qkv, g.ints([nH * d, kvH * d, kvH * d])], { axis: { int: -1 } }, { outputs: 3 });

    const qRot = applyRopeNodes(g, cfg, rope, qf); // [1, q, nH·d]
    const kRot = applyRopeNodes(g, cfg, rope, kf); // [1, q, kvH·d]
    const qGrouped = g.op1('Reshape', [
      g.op1('Transpose', [g.op1('Reshape', [qRot, g.ints([-1, kvH, groups, d])])], { perm: { ints: [1, 2, 0, 3] } }), // [kvH, g, q, d]
      g.ints([1, kvH, -1, d]),
    ]); // [1, kvH, g·q, d]
    const headsFirst = { perm: { ints: [0, 2, 1, 3] } }; // [1, q, kvH, d] → [1, kvH, q, d]
    const newKey = g.op1('Transpose', [g.op1('Reshape', [kRot, g.ints([1, -1, kvH, d])])], headsFirst, { output: newKeyName(l) });
    const newValue = g.op1('Transpose', [g.op1('Reshape', [vf, g.ints([1, -1, kvH, d])])], headsFirst, { output: newValueName(l) });

    const scale = { float: 1 / Math.sqrt(d) };
    let ctx: string; // [1, kvH, g·q, d]
    if (opts.attention === 'concat') {
      const kAll = g.op1('Concat', [pastKeyName(l), newKey], { axis: { int: 2 } }); // [1, kvH, P+q, d]
      const vAll = g.op1('Concat', [pastValueName(l), newValue], { axis: { int: 2 } });
      const scores = g.op1('FusedMatMul', [qGrouped, kAll], { transB: { int: 1 }, alpha: scale }, { domain: MS_DOMAIN });
      ctx = g.op1('MatMul', [maskedSoftmax(scores), vAll]);
    } else {
      const sPast = g.op1('FusedMatMul', [qGrouped, pastKeyName(l)], { transB: { int: 1 }, alpha: scale }, { domain: MS_DOMAIN }); // [1, kvH, g·q, P]
      const sNew = g.op1('FusedMatMul', [qGrouped, newKey], { transB: { int: 1 }, alpha: scale }, { domain: MS_DOMAIN }); // [1, kvH, g·q, q]
      const probs = maskedSoftmax(g.op1('Concat', [sPast, sNew], { axis: { int: -1 } })); // [1, kvH, g·q, P+q]
      const [pPast, pNew] = g.op('Split', [probs, pastNewSizes], { axis: { int: -1 } }, { outputs: 2 });
      ctx = g.op1('Add', [g.op1('MatMul', [pPast, pastValueName(l)]), g.op1('MatMul', [pNew, newValue])]);
    }
    const ctxRows = g.op1('Reshape', [
      g.op1('Transpose', [g.op1('Reshape', [ctx, g.ints([kvH, groups, -1, d])])], { perm: { ints: [2, 0, 1, 3] } }), // [q, kvH, g, d]
      g.ints([1, -1, nH * d]),
    ]); // [1, q, nH·d], head order = kvH-major then group, as HF's repeat_kv
    let attnOut = linear(ctxRows, `l${l}_o_w`, [`${p}.self_attn.o_proj.weight`], nH * d).out; // [1, q, H]
    if (cfg.oProjBias) attnOut = g.op1('Add', [attnOut, g.weight(`l${l}_o_b`, [H], vector(w, `${p}.self_attn.o_proj.bias`, H))]);

    // --- residual + post-attention norm in one kernel ---
    const [postNormed, , , afterAttn] = g.op(
      'SkipSimplifiedLayerNormalization',
      [hidden, attnOut, g.weight(`l${l}_post_norm`, [H], vector(w, `${p}.post_attention_layernorm.weight`, H))],
      { epsilon: eps },
      { domain: MS_DOMAIN, outputs: 4 },
    );

    // --- SwiGLU MLP ---
    const guW = linear(postNormed, `l${l}_gate_up_w`, [`${p}.mlp.gate_proj.weight`, `${p}.mlp.up_proj.weight`], H);
    if (guW.outFeatures !== 2 * I) throw new RangeError(`layer ${l}: gate/up give ${guW.outFeatures} features, expected ${2 * I}`);
    const gu = guW.out; // [1, q, 2I]
    const [gate, up] = g.op('Split', [gu, g.ints([I, I])], { axis: { int: -1 } }, { outputs: 2 });
    const act = g.op1('Mul', [g.op1('Mul', [gate, g.op1('Sigmoid', [gate])]), up]); // silu(gate)·up [1, q, I]
    const mlpOut = linear(act, `l${l}_down_w`, [`${p}.mlp.down_proj.weight`], I).out; // [1, q, H]

    if (l + 1 < L) {
      const [nextNormed, , , afterMlp] = g.op(
        'SkipSimplifiedLayerNormalization',
        [afterAttn, mlpOut, g.weight(`l${l + 1}_input_norm`, [H], vector(w, `model.layers.${l + 1}.input_layernorm.weight`, H))],
        { epsilon: eps },
        { domain: MS_DOMAIN, outputs: 4 },
      );
      normed = nextNormed;
      hidden = afterMlp;
    } else {
      hidden = g.op1('Add', [afterAttn, mlpOut]);
    }
  }

  // Only the requested rows go through the final norm and the vocabulary projection.
  const rows = g.op1('Gather', [hidden, INPUT_LOGIT_ROWS], { axis: { int: 1 } }); // [1, r, H]
  const finalNormed = g.op1('SimplifiedLayerNormalization', [rows, g.weight('final_norm', [H], vector(w, 'model.norm.weight', H))], {
    axis: { int: -1 },
    epsilon: eps,
  });
  const lmName = cfg.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
  const lm = linear(finalNormed, 'lm_head_w', [lmName], H, OUTPUT_LOGITS); // [1, r, V]
  if (lm.outFeatures !== V) throw new RangeError(`${lmName}: ${lm.outFeatures} rows, expected vocabSize ${V}`);

  const inputs = [
    valueInfo(INPUT_EMBEDS, FLOAT, [1, 'q', H]),
    valueInfo(INPUT_POSITIONS, INT64, [1, 'q']),
    valueInfo(INPUT_BIAS, FLOAT, [1, 1, 'q', 'past_plus_q']),
    valueInfo(INPUT_LOGIT_ROWS, INT64, ['r']),
  ];
  const outputs = [valueInfo(OUTPUT_LOGITS, FLOAT, [1, 'r', V])];
  for (let l = 0; l < L; l++) {
    inputs.push(valueInfo(pastKeyName(l), FLOAT, [1, kvH, 'past', d]), valueInfo(pastValueName(l), FLOAT, [1, kvH, 'past', d]));
    outputs.push(valueInfo(newKeyName(l), FLOAT, [1, kvH, 'q', d]), valueInfo(newValueName(l), FLOAT, [1, kvH, 'q', d]));
  }

  return {
    irVersion: 8,
    producerName: 'slipstream',
    producerVersion: String(GRAPH_VERSION),
    opsetImport: [
      { domain: '', version: ONNX_OPSET },
      { domain: MS_DOMAIN, version: 1 },
    ],
    graph: { name: `slipstream_${cfg.family}`, node: g.nodes, initializer: g.initializers, input: inputs, output: outputs },
  };
}

/** The graph serialized, ready for InferenceSession.create. */
export function buildGraph(ckpt: Checkpoint, opts: GraphOptions = {}): Uint8Array {
  return onnx.ModelProto.encode(onnx.ModelProto.create(buildModelProto(ckpt, opts))).finish();
}
