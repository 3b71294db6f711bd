import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { expectedTensors, loadCheckpoint } from '../../../src/engine/checkpoint';
import { parseModelConfig } from '../../../src/engine/modelConfig';
import { parseSafetensors, serializeSafetensors } from '../../../src/engine/safetensors';
import { CheckpointError } from '../../../src/engine/types';
import { writeTinyCheckpoint, type TinyModelOptions } from '../../fixtures/tinyModel';

const tmp = mkdtempSync(join(tmpdir(), 'slip-ckpt-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
function fixture(opts: TinyModelOptions = {}) {
  return writeTinyCheckpoint(join(tmp, `m${n++}`), { layers: 1, ...opts });
}

async function expectError(p: Promise<unknown>, file: string, problem: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof CheckpointError, `expected CheckpointError, got ${String(e)}`);
    assert.equal(e.file, file);
    assert.match(e.problem, problem);
    return true;
  });
}

function editJson(path: string, edit: (j: Record<string, unknown>) => void): void {
  const j = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  edit(j);
  writeFileSync(path, JSON.stringify(j));
}

describe('parseModelConfig', () => {
  const base = { model_type: 'qwen2', vocab_size: 100, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4 };

  it('applies HF defaults', () => {
    const c = parseModelConfig(base);
    assert.equal(c.headDim, 16);
    assert.equal(c.numKvHeads, 4);
    assert.equal(c.ropeTheta, 10000);
    assert.equal(c.ropeScalingFactor, 1);
    assert.equal(c.tieWordEmbeddings, false);
    assert.equal(c.qkvBias, true);
    assert.equal(c.ropeLayout, 'rotate-half');
    assert.deepEqual(c.eosTokenIds, []);
    assert.equal(c.bosTokenId, null);
  });

  it('reads explicit fields, both rope spellings and eos lists', () => {
    const c = parseModelConfig({ ...base, head_dim: 32, num_key_value_heads: 2, rope_theta: 1e6, rope_scaling: { type: 'linear', factor: 4 }, eos_token_id: [5, 7], bos_token_id: 1 });
    assert.deepEqual([c.headDim, c.numKvHeads, c.ropeTheta, c.ropeScalingFactor, c.bosTokenId], [32, 2, 1e6, 4, 1]);
    assert.deepEqual(c.eosTokenIds, [5, 7]);
    const v5 = parseModelConfig({ ...base, rope_parameters: { rope_type: 'linear', rope_theta: 5e5, factor: 2 } });
    assert.deepEqual([v5.ropeTheta, v5.ropeScalingFactor], [5e5, 2]);
    assert.equal(parseModelConfig({ ...base, rope_scaling: { rope_type: 'default' } }).ropeScalingFactor, 1);
  });

  it('llama bias comes from attention_bias and covers o_proj', () => {
    const plain = parseModelConfig({ ...base, model_type: 'llama' });
    assert.equal(plain.qkvBias, false);
    assert.equal(plain.oProjBias, false);
    const biased = parseModelConfig({ ...base, model_type: 'llama', attention_bias: true });
    assert.equal(biased.qkvBias, true);
    assert.equal(biased.oProjBias, true);
  });

  it('refuses what it cannot run', () => {
    const bad = (cfg: unknown, re: RegExp) =>
      assert.throws(() => parseModelConfig(cfg), (e: unknown) => e instanceof CheckpointError && e.file === 'config.json' && re.test(e.problem));
    bad({ ...base, model_type: 'gpt2' }, /unknown model_type "gpt2"; supported: llama, qwen2/);
    bad({ ...base, rope_scaling: { type: 'yarn', factor: 4 } }, /rope_scaling type "yarn" is not supported/);
    bad({ ...base, rope_scaling: { type: 'linear' } }, /factor must be a positive number/);
    bad({ ...base, num_key_value_heads: 3 }, /not a multiple of num_key_value_heads/);
    bad({ ...base, hidden_size: undefined }, /missing hidden_size/);
    bad({ ...base, hidden_act: 'gelu' }, /hidden_act "gelu"/);
    bad('{not json', /not valid JSON/);
  });
});

describe('loadCheckpoint', () => {
  it('loads a qwen2 checkpoint with the expected tensors and tokenizer', async () => {
    const info = fixture();
    const ck = await loadCheckpoint(info.dir);
    assert.equal(ck.config.family, 'qwen2');
    assert.equal(ck.config.vocabSize, info.tokenizerSize);
    assert.equal(ck.tokenizer.size, info.tokenizerSize);
    assert.deepEqual(ck.tokenizer.eosIds, [info.specialIds['<|endoftext|>']]);
    for (const [name, shape] of expectedTensors(ck.config)) assert.deepEqual(ck.weights.get(name).shape, shape, name);
    assert.ok(ck.weights.has('model.layers.0.self_attn.q_proj.bias'));
    assert.match(ck.hash, /^[0-9a-f]{64}$/);
  });

  it('hash depends on weights and config, not on the folder', async () => {
    const a = await loadCheckpoint(fixture({ seed: 3 }).dir);
    const b = await loadCheckpoint(fixture({ seed: 3 }).dir);
    const c = await loadCheckpoint(fixture({ seed: 4 }).dir);
    const d = await loadCheckpoint(fixture({ seed: 3, ropeTheta: 5000 }).dir);
    assert.equal(a.hash, b.hash);
    assert.notEqual(a.hash, c.hash);
    assert.notEqual(a.hash, d.hash);
  });

  for (const family of ['llama', 'qwen2'] as const) {
    it(`${family}: tied, tied with a stored lm_head, and untied`, async () => {
      const tied = await loadCheckpoint(fixture({ family, tied: true }).dir);
      assert.equal(tied.config.tieWordEmbeddings, true);
      assert.equal(tied.weights.has('lm_head.weight'), false);
      const tiedHead = await loadCheckpoint(fixture({ family, tied: true, tiedWritesLmHead: true }).dir);
      assert.equal(tiedHead.weights.has('lm_head.weight'), true);
      const untied = await loadCheckpoint(fixture({ family }).dir);
      assert.deepEqual(untied.weights.get('lm_head.weight').shape, [untied.config.vocabSize, untied.config.hiddenSize]);
      assert.equal(untied.config.qkvBias, family === 'qwen2');
    });
  }

  it('llama with attention_bias needs and loads o_proj.bias', async () => {
    const ck = await loadCheckpoint(fixture({ family: 'llama', qkvBias: true }).dir);
    assert.equal(ck.config.oProjBias, true);
    assert.deepEqual(ck.weights.get('model.layers.0.self_attn.o_proj.bias').shape, [64]);
  });

  it('sharded and half-precision checkpoints load the same tensors', async () => {
    const single = await loadCheckpoint(fixture({ seed: 9 }).dir);
    const info = fixture({ seed: 9, sharded: 40_000 });
    assert.ok(info.weightFiles.length > 2, `${info.weightFiles.length} shards`);
    const sharded = await loadCheckpoint(info.dir);
    for (const name of single.weights.names()) assert.deepEqual(sharded.weights.get(name).data, single.weights.get(name).data, name);
    const bf16 = await loadCheckpoint(fixture({ seed: 9, dtype: 'BF16', sharded: 60_000 }).dir);
    const f16 = await loadCheckpoint(fixture({ seed: 9, dtype: 'F16' }).dir);
    const w = single.weights.get('model.layers.0.mlp.up_proj.weight').data;
    for (const other of [bf16, f16]) {
      const v = other.weights.get('model.layers.0.mlp.up_proj.weight').data;
      let maxRel = 0;
      for (let i = 0; i < w.length; i++) maxRel = Math.max(maxRel, Math.abs(v[i] - w[i]) / (Math.abs(w[i]) + 1e-3));
      assert.ok(maxRel > 0 && maxRel < 1e-2, `max relative rounding ${maxRel}`);
    }
  });

  it('padded vocab (vocab_size > tokenizer size) is fine', async () => {
    const info = fixture({ vocabSize: 640 });
    const ck = await loadCheckpoint(info.dir);
    assert.equal(ck.config.vocabSize, 640);
    assert.ok(ck.tokenizer.size < 640);
  });
});

describe('loadCheckpoint refuses broken folders', () => {
  it('missing folder, config.json, tokenizer.json', async () => {
    const missing = join(tmp, 'nope');
    await expectError(loadCheckpoint(missing), missing, /cannot be read \(ENOENT\)/);
    const a = fixture();
    unlinkSync(join(a.dir, 'config.json'));
    await expectError(loadCheckpoint(a.dir), 'config.json', /missing from/);
    const b = fixture();
    unlinkSync(join(b.dir, 'tokenizer.json'));
    await expectError(loadCheckpoint(b.dir), 'tokenizer.json', /missing from/);
  });

  it('unknown model_type', async () => {
    const a = fixture();
    editJson(join(a.dir, 'config.json'), (j) => (j.model_type = 'mistral'));
    await expectError(loadCheckpoint(a.dir), 'config.json', /unknown model_type "mistral"; supported: llama, qwen2/);
  });

  it('pickle-only folder', async () => {
    const a = fixture();
    unlinkSync(join(a.dir, 'model.safetensors'));
    writeFileSync(join(a.dir, 'pytorch_model.bin'), 'not really a pickle');
    await expectError(loadCheckpoint(a.dir), 'pytorch_model.bin', /pickle checkpoints are not loaded \(they can run arbitrary code\); convert to safetensors/);
  });

  it('no weights at all', async () => {
    const a = fixture();
    unlinkSync(join(a.dir, 'model.safetensors'));
    await expectError(loadCheckpoint(a.dir), 'model.safetensors', /no \.safetensors weights/);
  });

  it('truncated weights', async () => {
    const a = fixture();
    const path = join(a.dir, 'model.safetensors');
    truncateSync(path, readFileSync(path).length - 100);
    await expectError(loadCheckpoint(a.dir), 'model.safetensors', /truncated/);
  });

  it('corrupt header', async () => {
    const a = fixture();
    const path = join(a.dir, 'model.safetensors');
    const bytes = readFileSync(path);
    bytes[8] = 0x5b; // '[' instead of '{': still JSON-ish start, now invalid
    writeFileSync(path, bytes);
    await expectError(loadCheckpoint(a.dir), 'model.safetensors', /header is not valid UTF-8 JSON/);
  });

  it('missing tensor', async () => {
    const a = fixture();
    const path = join(a.dir, 'model.safetensors');
    const { tensors } = parseSafetensors(readFileSync(path));
    const kept = [...tensors].filter(([name]) => name !== 'model.layers.0.mlp.up_proj.weight');
    writeFileSync(path, serializeSafetensors(kept.map(([name, t]) => ({ name, shape: t.shape, data: t.data, dtype: 'F32' as const }))));
    await expectError(loadCheckpoint(a.dir), 'model.safetensors', /missing tensor model\.layers\.0\.mlp\.up_proj\.weight/);
  });

  it('wrong shape names tensor, file, expected and found', async () => {
    const a = fixture();
    editJson(join(a.dir, 'config.json'), (j) => (j.intermediate_size = 100));
    await expectError(loadCheckpoint(a.dir), 'model.safetensors', /tensor model\.layers\.0\.mlp\.gate_proj\.weight has shape \[160, 64\], expected \[100, 64\]/);
  });

  it('missing shard and tensor missing from its shard', async () => {
    const a = fixture({ sharded: 40_000 });
    unlinkSync(join(a.dir, a.weightFiles[1]));
    await expectError(loadCheckpoint(a.dir), a.weightFiles[1], /missing shard \(listed in model\.safetensors\.index\.json\)/);
    const b = fixture({ sharded: 40_000 });
    editJson(join(b.dir, 'model.safetensors.index.json'), (j) => {
      (j.weight_map as Record<string, string>)['model.norm.weight'] = b.weightFiles[0];
    });
    await expectError(loadCheckpoint(b.dir), b.weightFiles[0], /missing tensor model\.norm\.weight \(the index/);
    const c = fixture({ sharded: 40_000 });
    editJson(join(c.dir, 'model.safetensors.index.json'), (j) => {
      delete (j.weight_map as Record<string, string>)['model.norm.weight'];
    });
    await expectError(loadCheckpoint(c.dir), 'model.safetensors.index.json', /missing tensor model\.norm\.weight/);
  });

  it('tokenizer larger than vocab_size', async () => {
    const a = fixture();
    editJson(join(a.dir, 'config.json'), (j) => (j.vocab_size = 500));
    await expectError(loadCheckpoint(a.dir), 'tokenizer.json', new RegExp(`tokenizer has ${a.tokenizerSize} ids but config.json vocab_size is 500`));
  });

  it('a tied checkpoint with a wrongly shaped lm_head', async () => {
    const a = fixture({ tied: true });
    const path = join(a.dir, 'model.safetensors');
    const { tensors } = parseSafetensors(readFileSync(path));
    const list = [...tensors].map(([name, t]) => ({ name, shape: t.shape, data: t.data, dtype: 'F32' as const }));
    list.push({ name: 'lm_head.weight', shape: [3, 64], data: new Float32Array(192), dtype: 'F32' });
    writeFileSync(path, serializeSafetensors(list));
    await expectError(loadCheckpoint(a.dir), 'model.safetensors', /lm_head\.weight has shape \[3, 64\]/);
  });

  it('a folder path that is a file', async () => {
    const f = join(tmp, 'plainfile');
    writeFileSync(f, 'x');
    await expectError(loadCheckpoint(f), f, /is not a folder/);
  });
});

describe('fim_layout in generation_config.json', () => {
  it('is read when present, undefined when absent, and refused when it is neither psm nor spm', async () => {
    const plain = fixture();
    assert.equal((await loadCheckpoint(plain.dir)).fimLayout, undefined);
    for (const layout of ['spm', 'psm'] as const) {
      const f = fixture();
      writeFileSync(join(f.dir, 'generation_config.json'), JSON.stringify({ do_sample: false, fim_layout: layout }));
      assert.equal((await loadCheckpoint(f.dir)).fimLayout, layout);
    }
    const bad = fixture();
    writeFileSync(join(bad.dir, 'generation_config.json'), JSON.stringify({ fim_layout: 'pms' }));
    await expectError(loadCheckpoint(bad.dir), 'generation_config.json', /fim_layout must be "psm" or "spm", got "pms"/);
    writeFileSync(join(bad.dir, 'generation_config.json'), '{ not json');
    await expectError(loadCheckpoint(bad.dir), 'generation_config.json', /not valid JSON/);
  });

  it('the embedded default model asks for spm', async () => {
    const dir = join(__dirname, '..', '..', '..', 'models', 'default');
    assert.equal((await loadCheckpoint(dir)).fimLayout, 'spm');
  });
});
