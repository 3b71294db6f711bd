// The correctness reference: a plain, slow forward pass of a llama/qwen2 checkpoint in
// TypeScript, float64 arithmetic throughout (outputs rounded to float32). It follows HF's
// LlamaModel / Qwen2Model step by step so that the ONNX graph, the KV-cache edits (PIE) and
// tree verification can be checked against it. Never used for generation.

import { lmHeadName } from './checkpoint';
import { ropeInverseFrequencies, type Checkpoint, type ModelConfig, type WeightStore } from './types';

export interface ReferenceOptions {
  /** [T] absolute RoPE positions (default 0..T-1). */
  positions?: ArrayLike<number>;
  /**
   * [T, T] additive attention bias, row-major (row = query, column = key; 0 attend, -Infinity
   * masked). When given it replaces the causal mask entirely.
   */
  bias?: Float32Array;
}

export interface ReferenceOutput {
  /** [T, vocab] */
  logits: Float32Array;
  /** Per layer, [numKvHeads, T, headDim] keys after RoPE. */
  keys: Float32Array[];
  /** Per layer, [numKvHeads, T, headDim] values. */
  values: Float32Array[];
  /** [T, hidden] final hidden states after the last RMSNorm (before lm_head). */
  hidden: Float32Array;
}

/** float32 weights per store, converted once (the store itself reads from disk on every get). */
const weightCache = new WeakMap<WeightStore, Map<string, Float32Array>>();

function weight(store: WeightStore, name: string): Float32Array {
  let m = weightCache.get(store);
  if (!m) {
    m = new Map();
    weightCache.set(store, m);
  }
  let w = m.get(name);
  if (!w) {
    w = store.get(name).data;
    m.set(name, w);
  }
  return w;
}

/** [T, H] embedding rows of `tokens`. */
export function referenceEmbed(ckpt: Checkpoint, tokens: ArrayLike<number>): Float32Array {
  const { hiddenSize: H, vocabSize: V } = ckpt.config;
  const table = weight(ckpt.weights, 'model.embed_tokens.weight');
  const out = new Float32Array(tokens.length * H);
  for (let t = 0; t < tokens.length; t++) {
    const id = tokens[t];
    if (!Number.isInteger(id) || id < 0 || id >= V) throw new RangeError(`token ${id} at ${t} is outside vocab_size ${V}`);
    out.set(table.subarray(id * H, (id + 1) * H), t * H);
  }
  return out;
}

/** out[t] = RMSNorm(x[t]) * w: x * 1/sqrt(mean(x²) + eps) * w.   x: [T, H] */
function rmsNorm(x: Float64Array, w: Float32Array, T: number, H: number, eps: number): Float64Array {
  const out = new Float64Array(T * H);
  for (let t = 0; t < T; t++) {
    let ss = 0;
    for (let i = 0; i < H; i++) ss += x[t * H + i] * x[t * H + i];
    const r = 1 / Math.sqrt(ss / H + eps);
    for (let i = 0; i < H; i++) out[t * H + i] = x[t * H + i] * r * w[i];
  }
  return out;
}

/** y = x Wᵀ + b.  x: [T, inp], W: [out, inp] (HF Linear layout), b: [out] or none → y: [T, out] */
function linear(x: Float64Array, W: Float32Array, b: Float32Array | null, T: number, inp: number, out: number): Float64Array {
  const y = new Float64Array(T * out);
  for (let t = 0; t < T; t++) {
    const xo = t * inp;
    for (let o = 0; o < out; o++) {
      const wo = o * inp;
      let s = b ? b[o] : 0;
      for (let i = 0; i < inp; i++) s += x[xo + i] * W[wo + i];
      y[t * out + o] = s;
    }
  }
  return y;
}

/**
 * Rotate-half RoPE in place on x: [T, nHeads, d]. For i < d/2, with a = pos · invFreq[i]:
 * (x_i, x_{i+d/2}) → (x_i cos a − x_{i+d/2} sin a, x_{i+d/2} cos a + x_i sin a).
 */
function applyRope(x: Float64Array, positions: ArrayLike<number>, invFreq: Float64Array, T: number, nHeads: number, d: number): void {
  const half = d / 2;
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      const a = positions[t] * invFreq[i];
      const c = Math.cos(a);
      const s = Math.sin(a);
      for (let h = 0; h < nHeads; h++) {
        const base = (t * nHeads + h) * d;
        const x1 = x[base + i];
        const x2 = x[base + i + half];
        x[base + i] = x1 * c - x2 * s;
        x[base + i + half] = x2 * c + x1 * s;
      }
    }
  }
}

/** [T, n, d] → [n, T, d] as float32 (the KV-cache layout). */
function toHeadMajor(x: Float64Array, T: number, n: number, d: number): Float32Array {
  const out = new Float32Array(n * T * d);
  for (let t = 0; t < T; t++) for (let h = 0; h < n; h++) for (let i = 0; i < d; i++) out[(h * T + t) * d + i] = x[(t * n + h) * d + i];
  return out;
}

function silu(v: number): number {
  return v / (1 + Math.exp(-v));
}

/** Forward pass from input embeddings ([T, hidden]); see referenceForward. */
export function referenceForwardEmbeds(ckpt: Checkpoint, embeds: Float32Array, opts: ReferenceOptions = {}): ReferenceOutput {
  const cfg: ModelConfig = ckpt.config;
  const { hiddenSize: H, numHeads: nh, numKvHeads: nkv, headDim: d, intermediateSize: I, vocabSize: V, rmsNormEps: eps } = cfg;
  const T = embeds.length / H;
  if (!Number.isInteger(T)) throw new RangeError(`embeds length ${embeds.length} is not a multiple of hidden ${H}`);
  const positions = opts.positions ?? Array.from({ length: T }, (_, i) => i);
  if (positions.length !== T) throw new RangeError(`positions has ${positions.length} entries for ${T} tokens`);
  if (opts.bias && opts.bias.length !== T * T) throw new RangeError(`bias has ${opts.bias.length} entries, expected ${T}×${T}`);
  const w = (name: string) => weight(ckpt.weights, name);
  const invFreq = ropeInverseFrequencies(cfg);
  const group = nh / nkv;
  const scale = 1 / Math.sqrt(d);

  const x = Float64Array.from(embeds);
  const keys: Float32Array[] = [];
  const values: Float32Array[] = [];
  const scores = new Float64Array(T);

  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `model.layers.${l}`;
    const a = `${p}.self_attn`;
    const hIn = rmsNorm(x, w(`${p}.input_layernorm.weight`), T, H, eps);
    const q = linear(hIn, w(`${a}.q_proj.weight`), cfg.qkvBias ? w(`${a}.q_proj.bias`) : null, T, H, nh * d); // [T, nh, d]
    const k = linear(hIn, w(`${a}.k_proj.weight`), cfg.qkvBias ? w(`${a}.k_proj.bias`) : null, T, H, nkv * d); // [T, nkv, d]
    const v = linear(hIn, w(`${a}.v_proj.weight`), cfg.qkvBias ? w(`${a}.v_proj.bias`) : null, T, H, nkv * d); // [T, nkv, d]
    applyRope(q, positions, invFreq, T, nh, d);
    applyRope(k, positions, invFreq, T, nkv, d);
    keys.push(toHeadMajor(k, T, nkv, d));
    values.push(toHeadMajor(v, T, nkv, d));

    const attn = new Float64Array(T * nh * d); // [T, nh, d]
    for (let h = 0; h < nh; h++) {
      const kh = Math.floor(h / group);
      for (let t = 0; t < T; t++) {
        let max = -Infinity;
        for (let u = 0; u < T; u++) {
          let s = 0;
          for (let i = 0; i < d; i++) s += q[(t * nh + h) * d + i] * k[(u * nkv + kh) * d + i];
          s = s * scale + (opts.bias ? opts.bias[t * T + u] : u <= t ? 0 : -Infinity);
          scores[u] = s;
          if (s > max) max = s;
        }
        let sum = 0;
        for (let u = 0; u < T; u++) {
          scores[u] = Math.exp(scores[u] - max);
          sum += scores[u];
        }
        const o = (t * nh + h) * d;
        for (let u = 0; u < T; u++) {
          const pr = scores[u] / sum;
          if (pr === 0) continue;
          for (let i = 0; i < d; i++) attn[o + i] += pr * v[(u * nkv + kh) * d + i];
        }
      }
    }
    const o = linear(attn, w(`${a}.o_proj.weight`), cfg.oProjBias ? w(`${a}.o_proj.bias`) : null, T, nh * d, H);
    for (let i = 0; i < x.length; i++) x[i] += o[i];

    const hPost = rmsNorm(x, w(`${p}.post_attention_layernorm.weight`), T, H, eps);
    const gate = linear(hPost, w(`${p}.mlp.gate_proj.weight`), null, T, H, I);
    const up = linear(hPost, w(`${p}.mlp.up_proj.weight`), null, T, H, I);
    for (let i = 0; i < gate.length; i++) gate[i] = silu(gate[i]) * up[i];
    const down = linear(gate, w(`${p}.mlp.down_proj.weight`), null, T, I, H);
    for (let i = 0; i < x.length; i++) x[i] += down[i];
  }

  const final = rmsNorm(x, w('model.norm.weight'), T, H, eps);
  const logits = Float32Array.from(linear(final, w(lmHeadName(cfg)), null, T, H, V));
  return { logits, keys, values, hidden: Float32Array.from(final) };
}

/** Forward pass over `tokens` (no cache): logits for every position plus every layer's K/V. */
export function referenceForward(ckpt: Checkpoint, tokens: ArrayLike<number>, opts: ReferenceOptions = {}): ReferenceOutput {
  return referenceForwardEmbeds(ckpt, referenceEmbed(ckpt, tokens), opts);
}
