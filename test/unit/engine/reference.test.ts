import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadCheckpoint } from '../../../src/engine/checkpoint';
import { referenceEmbed, referenceForward, referenceForwardEmbeds } from '../../../src/engine/reference';
import type { Checkpoint } from '../../../src/engine/types';
import { writeTinyCheckpoint, type TinyModelOptions } from '../../fixtures/tinyModel';

const tmp = mkdtempSync(join(tmpdir(), 'slip-ref-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
function load(opts: TinyModelOptions = {}): Promise<Checkpoint> {
  return loadCheckpoint(writeTinyCheckpoint(join(tmp, `m${n++}`), opts).dir);
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Rows [0, t) of a [T, n] matrix, or of every head of a [heads, T, d] tensor. */
function headRows(x: Float32Array, heads: number, T: number, d: number, t: number): Float32Array {
  const out = new Float32Array(heads * t * d);
  for (let h = 0; h < heads; h++) out.set(x.subarray(h * T * d, h * T * d + t * d), h * t * d);
  return out;
}

const SOURCE = 'function add(a, b) {\n  return a + b;\n}\n';

describe('referenceForward', () => {
  it('a prefix gives the first rows of the full run (logits, keys, values)', async () => {
    const ck = await load({ seed: 5 });
    const tokens = ck.tokenizer.encode(SOURCE);
    const T = tokens.length;
    const { numKvHeads: kv, headDim: d, vocabSize: V } = ck.config;
    const full = referenceForward(ck, tokens);
    assert.equal(full.logits.length, T * V);
    for (const t of [1, 5, T - 1]) {
      const part = referenceForward(ck, tokens.slice(0, t));
      assert.ok(maxAbsDiff(part.logits, full.logits.subarray(0, t * V)) < 1e-5, `logits t=${t}`);
      for (let l = 0; l < ck.config.numLayers; l++) {
        assert.ok(maxAbsDiff(part.keys[l], headRows(full.keys[l], kv, T, d, t)) < 1e-5, `keys l=${l} t=${t}`);
        assert.ok(maxAbsDiff(part.values[l], headRows(full.values[l], kv, T, d, t)) < 1e-5, `values l=${l} t=${t}`);
      }
    }
  });

  it('logits are finite and differ between tokens and positions', async () => {
    const ck = await load({ seed: 6 });
    const tokens = ck.tokenizer.encode(SOURCE);
    const { logits } = referenceForward(ck, tokens);
    const V = ck.config.vocabSize;
    assert.ok(logits.every(Number.isFinite));
    const row = logits.subarray(0, V);
    let min = Infinity;
    let max = -Infinity;
    for (const v of row) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    assert.ok(max - min > 5, `row 0 spread ${max - min}`);
    assert.ok(maxAbsDiff(logits.subarray(0, V), logits.subarray(V, 2 * V)) > 0.5);
  });

  it('an explicit causal bias equals the default mask', async () => {
    const ck = await load({ seed: 7 });
    const tokens = ck.tokenizer.encode(SOURCE).slice(0, 9);
    const T = tokens.length;
    const bias = new Float32Array(T * T);
    for (let t = 0; t < T; t++) for (let u = t + 1; u < T; u++) bias[t * T + u] = -Infinity;
    assert.equal(maxAbsDiff(referenceForward(ck, tokens, { bias }).logits, referenceForward(ck, tokens).logits), 0);
  });

  it('a bias that hides a token changes later rows only', async () => {
    const ck = await load({ seed: 7 });
    const tokens = ck.tokenizer.encode(SOURCE).slice(0, 8);
    const T = tokens.length;
    const V = ck.config.vocabSize;
    const bias = new Float32Array(T * T);
    for (let t = 0; t < T; t++) for (let u = 0; u < T; u++) if (u > t || (u === 2 && t > 2)) bias[t * T + u] = -Infinity;
    const masked = referenceForward(ck, tokens, { bias }).logits;
    const plain = referenceForward(ck, tokens).logits;
    assert.equal(maxAbsDiff(masked.subarray(0, 3 * V), plain.subarray(0, 3 * V)), 0);
    assert.ok(maxAbsDiff(masked.subarray(3 * V), plain.subarray(3 * V)) > 1e-3);
  });

  it('RoPE: shifting every position leaves logits unchanged but rotates keys', async () => {
    const ck = await load({ seed: 8 });
    const tokens = ck.tokenizer.encode(SOURCE).slice(0, 10);
    const base = referenceForward(ck, tokens);
    const shifted = referenceForward(ck, tokens, { positions: tokens.map((_, i) => i + 37) });
    assert.ok(maxAbsDiff(base.logits, shifted.logits) < 1e-4, `${maxAbsDiff(base.logits, shifted.logits)}`);
    assert.ok(maxAbsDiff(base.keys[0], shifted.keys[0]) > 1e-2);
    assert.equal(maxAbsDiff(base.values[0], shifted.values[0]), 0);
  });

  it('linear RoPE scaling divides positions by the factor', async () => {
    const scaled = await load({ seed: 10, ropeScalingFactor: 4 });
    const plain = await load({ seed: 10 });
    assert.equal(scaled.config.ropeScalingFactor, 4);
    const tokens = plain.tokenizer.encode(SOURCE).slice(0, 6);
    const a = referenceForward(scaled, tokens, { positions: [0, 4, 8, 12, 16, 20] });
    const b = referenceForward(plain, tokens, { positions: [0, 1, 2, 3, 4, 5] });
    assert.ok(maxAbsDiff(a.logits, b.logits) < 1e-5);
    assert.ok(maxAbsDiff(a.keys[1], b.keys[1]) < 1e-5);
  });

  for (const family of ['llama', 'qwen2'] as const) {
    it(`${family}: tied and untied checkpoints run; a stored tied lm_head changes nothing`, async () => {
      const tied = await load({ family, tied: true, seed: 11 });
      const tiedHead = await load({ family, tied: true, tiedWritesLmHead: true, seed: 11 });
      const untied = await load({ family, seed: 11, kvHeads: 4 });
      const tokens = tied.tokenizer.encode(SOURCE).slice(0, 7);
      const a = referenceForward(tied, tokens);
      assert.equal(maxAbsDiff(a.logits, referenceForward(tiedHead, tokens).logits), 0);
      const u = referenceForward(untied, tokens);
      assert.ok(u.logits.every(Number.isFinite));
      assert.equal(u.keys[0].length, 4 * tokens.length * untied.config.headDim);
      // Tied logits are hidden · embedding rows.
      const H = tied.config.hiddenSize;
      const emb = referenceEmbed(tied, [tokens[3]]);
      let dot = 0;
      for (let i = 0; i < H; i++) dot += a.hidden[H * 2 + i] * emb[i];
      assert.ok(Math.abs(dot - a.logits[2 * tied.config.vocabSize + tokens[3]]) < 1e-4);
    });
  }

  it('llama with attention_bias uses the o_proj bias', async () => {
    const ck = await load({ family: 'llama', qkvBias: true, seed: 12 });
    const tokens = ck.tokenizer.encode(SOURCE).slice(0, 5);
    const before = referenceForward(ck, tokens).logits;
    const bias = ck.weights.get('model.layers.0.self_attn.o_proj.bias');
    assert.ok(bias.data.some((v) => v !== 0));
    const noBias = { ...ck, config: { ...ck.config, oProjBias: false } };
    assert.ok(maxAbsDiff(before, referenceForward(noBias, tokens).logits) > 1e-3);
  });

  it('forward from embeddings equals forward from tokens; half precision runs', async () => {
    const ck = await load({ seed: 13, dtype: 'BF16', layers: 1 });
    const tokens = ck.tokenizer.encode(SOURCE).slice(0, 6);
    const a = referenceForward(ck, tokens);
    const b = referenceForwardEmbeds(ck, referenceEmbed(ck, tokens));
    assert.equal(maxAbsDiff(a.logits, b.logits), 0);
    assert.throws(() => referenceEmbed(ck, [ck.config.vocabSize]), RangeError);
  });
});
