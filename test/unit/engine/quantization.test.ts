import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadCheckpoint } from '../../../src/engine/checkpoint';
import { Model } from '../../../src/engine/model';
import { quantizeLinear, WEIGHT_BLOCK } from '../../../src/engine/onnxGraph';
import { writeTinyCheckpoint } from '../../fixtures/tinyModel';
import { mulberry32 } from '../../../src/decoding/sampling';

const tmp = mkdtempSync(join(tmpdir(), 'slip-quant-'));
const models: Model[] = [];
after(async () => {
  for (const m of models) await m.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

/** Weight value of element k of output row n, from the codes (MatMulNBits' layout and zero point). */
function dequantized(q: ReturnType<typeof quantizeLinear>, bits: 4 | 8, n: number, k: number): number {
  const b = Math.floor(k / WEIGHT_BLOCK);
  const i = k % WEIGHT_BLOCK;
  const blob = (WEIGHT_BLOCK * bits) / 8;
  const base = (n * q.kBlocks + b) * blob;
  const code = bits === 8 ? q.codes[base + i] : (q.codes[base + (i >> 1)] >> ((i & 1) * 4)) & 15;
  return (code - (1 << (bits - 1))) * q.scales[n * q.kBlocks + b];
}

describe('block-quantized weights', () => {
  const rand = mulberry32(7);
  const K = 80; // two full blocks and a padded one
  const a = Float32Array.from({ length: 3 * K }, () => rand() * 2 - 1);
  const b = Float32Array.from({ length: 2 * K }, () => (rand() * 2 - 1) * 5);
  b.fill(0, K, K + WEIGHT_BLOCK); // b's second row (output row 4): its first block all zero

  for (const bits of [8, 4] as const) {
    it(`${bits}-bit: every weight comes back within half a step of its block, rows stacked in order`, () => {
      const q = quantizeLinear([{ data: a, rows: 3 }, { data: b, rows: 2 }], K, bits);
      assert.equal(q.N, 5);
      assert.equal(q.kBlocks, 3);
      assert.equal(q.codes.length, 5 * 3 * ((WEIGHT_BLOCK * bits) / 8));
      const qmax = (1 << (bits - 1)) - 1;
      for (let n = 0; n < 5; n++) {
        const src = n < 3 ? a.subarray(n * K, (n + 1) * K) : b.subarray((n - 3) * K, (n - 2) * K);
        for (let k = 0; k < K; k++) {
          const blk = Math.floor(k / WEIGHT_BLOCK);
          const amax = Math.max(...Array.from(src.subarray(blk * WEIGHT_BLOCK, Math.min(K, (blk + 1) * WEIGHT_BLOCK)), Math.abs));
          const step = amax / qmax;
          assert.ok(Math.abs(dequantized(q, bits, n, k) - src[k]) <= step / 2 + 1e-7, `row ${n} col ${k}`);
        }
      }
      // the zero block: scale 0, every code the zero point
      assert.equal(q.scales[4 * q.kBlocks + 0], 0);
      assert.equal(dequantized(q, bits, 4, 5), 0);
    });
  }

  it('4-bit codes pack element 2i in the low nibble and 2i + 1 in the high one', () => {
    const row = new Float32Array(WEIGHT_BLOCK);
    row[0] = 7; // code 15
    row[1] = -7; // code 1
    const q = quantizeLinear([{ data: row, rows: 1 }], WEIGHT_BLOCK, 4);
    assert.equal(q.scales[0], 1);
    assert.equal(q.codes[0], 15 | (1 << 4));
    assert.equal(q.codes[1], 8 | (8 << 4), 'zeros are the zero point 8');
  });

  it('a quantized graph runs and stays close to the fp32 one; 8-bit closer than 4-bit; its own cache file', async () => {
    const ck = await loadCheckpoint(writeTinyCheckpoint(join(tmp, 'm'), { family: 'qwen2', tied: true, qkvBias: true, seed: 11 }).dir);
    const cacheDir = join(tmp, 'graphs');
    const ids = Array.from({ length: 24 }, (_, i) => (i * 7 + 3) % ck.config.vocabSize);
    const logits = async (weightBits?: 4 | 8): Promise<Float32Array> => {
      const m = await Model.load(ck, { threads: 1, cacheDir, weightBits });
      models.push(m);
      return (await m.forward(m.createCache(), { embeds: m.embed(ids), positions: ids.map((_, i) => i), logitRows: 'all' })).logits;
    };
    const ref = await logits();
    const err = async (bits: 4 | 8): Promise<number> => {
      const x = await logits(bits);
      let num = 0;
      let den = 0;
      for (let i = 0; i < ref.length; i++) {
        num += (x[i] - ref[i]) ** 2;
        den += ref[i] ** 2;
      }
      return Math.sqrt(num / den);
    };
    const e8 = await err(8);
    const e4 = await err(4);
    assert.ok(e8 < 0.05, `8-bit relative L2 error ${e8}`);
    assert.ok(e4 < 0.3, `4-bit relative L2 error ${e4}`);
    assert.ok(e8 < e4, `8-bit (${e8}) should be closer than 4-bit (${e4})`);
    assert.equal(readdirSync(cacheDir).filter((f) => f.endsWith('.onnx')).length, 3, 'fp32, 8-bit and 4-bit graphs are cached apart');
  });
});
