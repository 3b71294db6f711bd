import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadCheckpoint } from '../../../src/engine/checkpoint';
import { Model } from '../../../src/engine/model';
import { referenceForward } from '../../../src/engine/reference';
import type { Checkpoint, WeightStore, WeightTensor } from '../../../src/engine/types';
import { writeTinyCheckpoint, type TinyModelOptions } from '../../fixtures/tinyModel';

const TOL = 1e-4;
const tmp = mkdtempSync(join(tmpdir(), 'slip-onnx-'));
const models: Model[] = [];
after(async () => {
  for (const m of models) await m.dispose();
  rmSync(tmp, { recursive: true, force: true });
});
let n = 0;
function checkpoint(opts: TinyModelOptions = {}): Promise<Checkpoint> {
  return loadCheckpoint(writeTinyCheckpoint(join(tmp, `m${n++}`), opts).dir);
}
async function load(ck: Checkpoint, cacheDir?: string, prefillChunk?: number): Promise<Model> {
  const m = await Model.load(ck, { threads: 1, cacheDir, prefillChunk });
  models.push(m);
  return m;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
function closeTo(a: ArrayLike<number>, b: ArrayLike<number>, what: string, tol = TOL): void {
  const d = maxAbsDiff(a, b);
  assert.ok(d <= tol, `${what}: max abs diff ${d} > ${tol}`);
}
/** Rows of a [T, V] matrix. */
function rows(x: Float32Array, V: number, idx: number[]): Float32Array {
  const out = new Float32Array(idx.length * V);
  idx.forEach((r, i) => out.set(x.subarray(r * V, (r + 1) * V), i * V));
  return out;
}
/** Slots [a, b) of every head of a [heads, T, d] tensor. */
function headSlice(x: Float32Array, heads: number, T: number, d: number, a: number, b: number): Float32Array {
  const out = new Float32Array(heads * (b - a) * d);
  for (let h = 0; h < heads; h++) out.set(x.subarray((h * T + a) * d, (h * T + b) * d), h * (b - a) * d);
  return out;
}
const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i);

const SOURCE = 'export function add(a: number, b: number): number {\n  return a + b;\n}\n';

const VARIANTS: Array<[string, TinyModelOptions]> = [
  ['llama, untied, GQA 4/2', { family: 'llama', seed: 2 }],
  ['llama, tied, qkv+o bias, linear rope scaling ×2', { family: 'llama', tied: true, qkvBias: true, ropeScalingFactor: 2, seed: 3 }],
  ['qwen2, tied, GQA 4/1', { family: 'qwen2', tied: true, kvHeads: 1, seed: 4 }],
  ['qwen2, untied, MHA 4/4, head_dim 8 ≠ hidden/heads, theta 1e6', { family: 'qwen2', kvHeads: 4, headDim: 8, ropeTheta: 1e6, seed: 5 }],
];

describe('ONNX graph vs reference', () => {
  for (const [name, opts] of VARIANTS) {
    it(`${name}: one pass, all rows, keys and values`, async () => {
      const ck = await checkpoint(opts);
      const m = await load(ck);
      const tokens = ck.tokenizer.encode(SOURCE);
      const { numLayers, vocabSize: V } = ck.config;
      const ref = referenceForward(ck, tokens);
      const out = await m.forward(m.createCache(), { embeds: m.embed(tokens), positions: range(0, tokens.length), logitRows: 'all' });
      assert.equal(out.rows, tokens.length);
      assert.equal(out.logits.length, tokens.length * V);
      closeTo(out.logits, ref.logits, 'logits');
      for (let l = 0; l < numLayers; l++) {
        closeTo(out.newKeys[l], ref.keys[l], `keys ${l}`);
        closeTo(out.newValues[l], ref.values[l], `values ${l}`);
      }
    });

    it(`${name}: prefill then token-by-token with the cache = one pass`, async () => {
      const ck = await checkpoint(opts);
      const m = await load(ck);
      const tokens = ck.tokenizer.encode(SOURCE);
      const T = tokens.length;
      const V = ck.config.vocabSize;
      const ref = referenceForward(ck, tokens);
      // chunk 4: the past handed to the graph is padded capacity, masked by the bias.
      const cache = m.createCache({ chunk: 4 });
      const k = 5;
      const first = await m.forward(cache, { embeds: m.embed(tokens.slice(0, k)), positions: range(0, k), logitRows: 'all' });
      closeTo(first.logits, rows(ref.logits, V, range(0, k)), 'prefill logits');
      cache.append(first.newKeys, first.newValues, tokens.slice(0, k), range(0, k));
      for (let t = k; t < T; t++) {
        assert.ok(cache.capacity >= cache.length);
        const step = await m.forward(cache, { embeds: m.embed([tokens[t]]), positions: [t] });
        closeTo(step.logits, rows(ref.logits, V, [t]), `step ${t} logits`);
        cache.append(step.newKeys, step.newValues, [tokens[t]], [t]);
      }
      for (let l = 0; l < ck.config.numLayers; l++) closeTo(cache.keys(l), ref.keys[l], `cached keys ${l}`);
    });
  }

  it('a batch of q rows against a past = q single steps', async () => {
    const ck = await checkpoint({ family: 'qwen2', seed: 7 });
    const m = await load(ck);
    const tokens = ck.tokenizer.encode(SOURCE).slice(0, 14);
    const past = 6;
    const prefix = m.createCache({ chunk: 8 });
    const pre = await m.forward(prefix, { embeds: m.embed(tokens.slice(0, past)), positions: range(0, past) });
    prefix.append(pre.newKeys, pre.newValues, tokens.slice(0, past), range(0, past));

    const rest = tokens.slice(past);
    const batch = await m.forward(prefix, { embeds: m.embed(rest), positions: range(past, tokens.length), logitRows: 'all' });
    const single = prefix.fork();
    const V = ck.config.vocabSize;
    for (let i = 0; i < rest.length; i++) {
      const s = await m.forward(single, { embeds: m.embed([rest[i]]), positions: [past + i] });
      closeTo(s.logits, rows(batch.logits, V, [i]), `row ${i}`);
      single.append(s.newKeys, s.newValues, [rest[i]], [past + i]);
    }
    for (let l = 0; l < ck.config.numLayers; l++) closeTo(single.keys(l, past), batch.newKeys[l], `new keys ${l}`);
  });

  it('a tree mask over the past and the new rows matches the reference with the same mask', async () => {
    const ck = await checkpoint({ family: 'llama', seed: 8 });
    const m = await load(ck);
    const all = ck.tokenizer.encode(SOURCE);
    const past = 5;
    // Draft tree below the last past token: parent index per node (-1 = attached to the past).
    const parents = [-1, -1, 0, 0, 1, 2, 5];
    const depth = parents.map(function d(this: void, p: number): number {
      return p < 0 ? 0 : 1 + d(parents[p]);
    });
    const treeTokens = parents.map((_, i) => all[past + i]);
    const q = parents.length;
    const treePos = depth.map((dd) => past + dd);

    // Graph: bias [q, past + q]; every node sees the whole past, its ancestors and itself.
    const bias = new Float32Array(q * (past + q)).fill(-Infinity);
    for (let i = 0; i < q; i++) {
      bias.fill(0, i * (past + q), i * (past + q) + past);
      for (let a = i; a >= 0; a = parents[a]) bias[i * (past + q) + past + a] = 0;
    }
    const cache = m.createCache({ chunk: 16 });
    const pre = await m.forward(cache, { embeds: m.embed(all.slice(0, past)), positions: range(0, past) });
    cache.append(pre.newKeys, pre.newValues, all.slice(0, past), range(0, past));
    const out = await m.forward(cache, { embeds: m.embed(treeTokens), positions: treePos, bias, logitRows: 'all' });

    // Reference: the whole sequence with a [T, T] bias (causal over the past, the tree mask after).
    const T = past + q;
    const refBias = new Float32Array(T * T).fill(-Infinity);
    for (let i = 0; i < past; i++) refBias.fill(0, i * T, i * T + i + 1);
    for (let i = 0; i < q; i++) refBias.set(bias.subarray(i * (past + q), (i + 1) * (past + q)), (past + i) * T);
    const ref = referenceForward(ck, [...all.slice(0, past), ...treeTokens], { positions: [...range(0, past), ...treePos], bias: refBias });
    closeTo(out.logits, rows(ref.logits, ck.config.vocabSize, range(past, T)), 'tree logits');
    const { numKvHeads: kv, headDim: d } = ck.config;
    for (let l = 0; l < ck.config.numLayers; l++) closeTo(out.newKeys[l], headSlice(ref.keys[l], kv, T, d, past, T), `tree keys ${l}`);
  });

  it('logitRows selects rows in the order asked (repeats allowed); default is the last row', async () => {
    const ck = await checkpoint({ seed: 9 });
    const m = await load(ck);
    const tokens = ck.tokenizer.encode(SOURCE).slice(0, 9);
    const V = ck.config.vocabSize;
    const ref = referenceForward(ck, tokens);
    const req = { embeds: m.embed(tokens), positions: range(0, tokens.length) };
    const picked = await m.forward(m.createCache(), { ...req, logitRows: [7, 0, 7, 3] });
    assert.equal(picked.rows, 4);
    closeTo(picked.logits, rows(ref.logits, V, [7, 0, 7, 3]), 'picked rows');
    const last = await m.forward(m.createCache(), req);
    assert.equal(last.rows, 1);
    closeTo(last.logits, rows(ref.logits, V, [tokens.length - 1]), 'last row');
    await assert.rejects(m.forward(m.createCache(), { ...req, logitRows: [9] }), RangeError);
  });

  it('arbitrary, non-contiguous and large positions follow the reference', async () => {
    const ck = await checkpoint({ family: 'qwen2', seed: 10 });
    const m = await load(ck);
    const tokens = ck.tokenizer.encode(SOURCE).slice(0, 6);
    const positions = [3, 4, 40, 41, 1000, 5000];
    const ref = referenceForward(ck, tokens, { positions });
    const out = await m.forward(m.createCache(), { embeds: m.embed(tokens), positions, logitRows: 'all' });
    // float32 angles in the graph (as HF computes them) vs float64 in the reference: pos·invFreq at
    // 5000 rad is rounded by up to 2.4e-4 rad (measured: 1.2e-4 max logit diff; 6.7e-6 below position 200).
    closeTo(out.logits, ref.logits, 'logits', 5e-4);
  });

  it('interleaved RoPE = rotate-half on q/k weights with each head permuted (i, i+d/2) → (2i, 2i+1)', async () => {
    const ck = await checkpoint({ family: 'llama', qkvBias: true, seed: 11 });
    const { headDim: d, numKvHeads: kv, numLayers } = ck.config;
    const m = await load(interleavedTwin(ck));
    const tokens = ck.tokenizer.encode(SOURCE).slice(0, 10);
    const ref = referenceForward(ck, tokens);
    const out = await m.forward(m.createCache(), { embeds: m.embed(tokens), positions: range(0, tokens.length), logitRows: 'all' });
    closeTo(out.logits, ref.logits, 'logits');
    for (let l = 0; l < numLayers; l++) closeTo(out.newKeys[l], permuteHeadDims(ref.keys[l], kv * tokens.length, d), `keys ${l}`);
  });

  it('long forwards run in chunks with the same result, the cache restored; non-causal biases run in one pass', async () => {
    const ck = await checkpoint({ family: 'llama', seed: 14 });
    const chunked = await load(ck, undefined, 4);
    const whole = await load(ck);
    const tokens = ck.tokenizer.encode(SOURCE).slice(0, 19);
    const { numLayers, vocabSize: V } = ck.config;
    const past = 3;
    const cache = chunked.createCache({ chunk: 2 });
    const pre = await chunked.forward(cache, { embeds: chunked.embed(tokens.slice(0, past)), positions: range(0, past) });
    cache.append(pre.newKeys, pre.newValues, tokens.slice(0, past), range(0, past));
    const before = { tokens: cache.tokens(), keys: cache.keys(1) };
    const rest = tokens.slice(past);
    const q = rest.length;
    const ref = referenceForward(ck, tokens);
    const picked = [15, 2, 9, 2];
    for (const req of [
      { embeds: chunked.embed(rest), positions: range(past, tokens.length), logitRows: picked },
      { embeds: chunked.embed(rest), positions: range(past, tokens.length), logitRows: picked, bias: causalBias(q, past) },
    ]) {
      const a = await chunked.forward(cache, req);
      const b = await whole.forward(cache, req);
      closeTo(a.logits, b.logits, 'chunked vs whole', 1e-5);
      closeTo(a.logits, rows(ref.logits, V, picked.map((r) => r + past)), 'chunked vs reference');
      for (let l = 0; l < numLayers; l++) closeTo(a.newKeys[l], b.newKeys[l], `keys ${l}`, 1e-5);
      assert.equal(cache.length, past);
      assert.deepEqual(cache.tokens(), before.tokens);
      assert.deepEqual(cache.keys(1), before.keys);
    }
    // Bidirectional over the new rows: row 0 sees row 15, so chunking would be wrong; it must not happen.
    const open = new Float32Array(q * (past + q));
    const ref2 = referenceForward(ck, tokens, { bias: prefixOpenBias(past, q) });
    const c = await chunked.forward(cache, { embeds: chunked.embed(rest), positions: range(past, tokens.length), bias: open, logitRows: [0] });
    closeTo(c.logits, rows(ref2.logits, V, [past]), 'open bias');
  });

  it('rejects malformed requests and aborted signals; forward after dispose throws', async () => {
    const ck = await checkpoint({ seed: 12 });
    const m = await Model.load(ck, { threads: 1 });
    const e = m.embed([1, 2]);
    await assert.rejects(m.forward(m.createCache(), { embeds: e, positions: [0] }), RangeError);
    await assert.rejects(m.forward(m.createCache(), { embeds: e, positions: [0, 1], bias: new Float32Array(3) }), RangeError);
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(m.forward(m.createCache(), { embeds: e, positions: [0, 1], signal: ac.signal }), { name: 'AbortError' });
    assert.throws(() => m.embed([ck.config.vocabSize]), RangeError);
    await m.dispose();
    await m.dispose();
    await assert.rejects(m.forward(m.createCache(), { embeds: e, positions: [0, 1] }), /dispose/);
  });

  it('the on-disk graph cache is written once, then hit, with identical results', async () => {
    const ck = await checkpoint({ seed: 13 });
    const dir = join(tmp, 'graphs');
    const cold = await load(ck, dir);
    assert.equal(cold.loadStats.cacheHit, false);
    assert.equal(readdirSync(dir).length, 1);
    const warm = await load(ck, dir);
    assert.equal(warm.loadStats.cacheHit, true);
    assert.equal(warm.loadStats.buildMs, 0);
    const tokens = ck.tokenizer.encode(SOURCE).slice(0, 8);
    const req = { embeds: cold.embed(tokens), positions: range(0, 8), logitRows: 'all' as const };
    const a = await cold.forward(cold.createCache(), req);
    const b = await warm.forward(warm.createCache(), req);
    assert.deepEqual(a.logits, b.logits);

    // A damaged cache file is replaced, not fatal.
    writeFileSync(join(dir, readdirSync(dir)[0]), 'not a protobuf');
    const repaired = await load(ck, dir);
    assert.equal(repaired.loadStats.cacheHit, false);
    const c = await repaired.forward(repaired.createCache(), req);
    assert.deepEqual(c.logits, a.logits);
    assert.equal((await load(ck, dir)).loadStats.cacheHit, true);
  });
});

/** [q, past + q] causal bias written out: every row sees the past and the new rows up to itself. */
function causalBias(q: number, past: number): Float32Array {
  const b = new Float32Array(q * (past + q)).fill(-Infinity);
  for (let r = 0; r < q; r++) b.fill(0, r * (past + q), r * (past + q) + past + r + 1);
  return b;
}

/** [T, T] reference bias for `past` causal rows followed by q rows that see everything. */
function prefixOpenBias(past: number, q: number): Float32Array {
  const T = past + q;
  const b = new Float32Array(T * T).fill(-Infinity);
  for (let r = 0; r < T; r++) b.fill(0, r * T, r < past ? r * T + r + 1 : (r + 1) * T);
  return b;
}

/** Rotate-half pair (i, i + d/2) → interleaved pair (2i, 2i + 1), for every head row of a [rows, d] layout. */
function permuteHeadDims(x: Float32Array, headRows: number, d: number): Float32Array {
  const out = new Float32Array(x.length);
  const half = d / 2;
  for (let r = 0; r < headRows; r++) {
    for (let i = 0; i < half; i++) {
      out[r * d + 2 * i] = x[r * d + i];
      out[r * d + 2 * i + 1] = x[r * d + half + i];
    }
  }
  return out;
}

/**
 * The same model with ropeLayout 'interleaved' and q/k projection rows permuted per head, so
 * interleaved RoPE on the permuted q/k equals the permuted rotate-half RoPE: logits are unchanged
 * (q·k is invariant under the common permutation) and keys come out permuted.
 */
function interleavedTwin(ck: Checkpoint): Checkpoint {
  const d = ck.config.headDim;
  const inner = ck.weights;
  const permuted = /self_attn\.(q|k)_proj\.(weight|bias)$/;
  const weights: WeightStore = {
    names: () => inner.names(),
    has: (name) => inner.has(name),
    get: (name): WeightTensor => {
      const t = inner.get(name);
      if (!permuted.test(name)) return t;
      const cols = t.shape.length === 2 ? t.shape[1] : 1;
      const heads = t.shape[0] / d;
      // Permute output rows within each head: row (h, i) → (h, 2i), row (h, d/2 + i) → (h, 2i + 1).
      const out = new Float32Array(t.data.length);
      const half = d / 2;
      for (let h = 0; h < heads; h++) {
        for (let i = 0; i < half; i++) {
          out.set(t.data.subarray((h * d + i) * cols, (h * d + i + 1) * cols), (h * d + 2 * i) * cols);
          out.set(t.data.subarray((h * d + half + i) * cols, (h * d + half + i + 1) * cols), (h * d + 2 * i + 1) * cols);
        }
      }
      return { shape: t.shape, data: out };
    },
  };
  return { ...ck, config: { ...ck.config, ropeLayout: 'interleaved' }, weights, hash: `${ck.hash}i` };
}
