// The embedded default model (models/default) against the transformers reference the recipe
// recorded on the GPU machine (bench/results/transformers_logits.json: transformers fp32, eager,
// CPU, on the same folder): our tokenizer gives the same ids and our ONNX graph the same logits
// (measured: max |Δlogit| 1.9e-5, relative L2 7.7e-7, logits up to 19.7).

import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { loadCheckpoint } from '../../../src/engine/checkpoint';
import { Model } from '../../../src/engine/model';

const ROOT = resolve(__dirname, '..', '..', '..');
const MODEL = join(ROOT, 'models', 'default');

interface Reference {
  files_sha256: Record<string, string>;
  prompt: { path: string; text: string };
  token_ids: number[];
  positions: number[];
  logits: number[][];
  top5: Array<{ ids: number[]; logits: number[] }>;
}

const ref = JSON.parse(readFileSync(join(ROOT, 'bench', 'results', 'transformers_logits.json'), 'utf8')) as Reference;

/**
 * Files that decide token ids and logits. generation_config.json only holds decoding defaults
 * (and Slipstream's fim_layout, added after the reference was made), so it is not compared.
 */
const DECIDING = (file: string): boolean => file !== 'generation_config.json';

describe('models/default vs transformers', () => {
  it('the reference was made from exactly these files', () => {
    const files = Object.keys(ref.files_sha256).filter(DECIDING);
    assert.ok(files.includes('config.json') && files.includes('tokenizer.json') && files.some((f) => f.endsWith('.safetensors')), files.join(', '));
    for (const file of files) {
      const sha = ref.files_sha256[file];
      assert.equal(createHash('sha256').update(readFileSync(join(MODEL, file))).digest('hex'), sha, file);
    }
  });

  it('same token ids and logits (fp32 both sides, bf16 weights)', async () => {
    const ck = await loadCheckpoint(MODEL);
    const tok = ck.tokenizer;
    // The reference covers the prompt's first token_ids.length tokens.
    const ids = [tok.specialId('<|file_sep|>')!, ...tok.encode(`${ref.prompt.path}\n`), ...tok.encode(ref.prompt.text)].slice(0, ref.token_ids.length);
    assert.deepEqual(ids, ref.token_ids);
    const model = await Model.load(ck, { threads: 2 });
    try {
      const out = await model.forward(model.createCache(), { embeds: model.embed(ids), positions: ids.map((_, i) => i), logitRows: ref.positions });
      const V = ck.config.vocabSize;
      let maxDiff = 0;
      ref.positions.forEach((_, r) => {
        const got = out.logits.subarray(r * V, (r + 1) * V);
        for (let v = 0; v < V; v++) maxDiff = Math.max(maxDiff, Math.abs(got[v] - ref.logits[r][v]));
        const top = Array.from(got.keys()).sort((a, b) => got[b] - got[a]).slice(0, 5);
        assert.deepEqual(top, ref.top5[r].ids, `top-5 at position ${ref.positions[r]}`);
      });
      assert.ok(maxDiff < 1e-3, `max |Δlogit| ${maxDiff}`);
    } finally {
      await model.dispose();
    }
  });
});
