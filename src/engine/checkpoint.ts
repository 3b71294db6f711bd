// loadCheckpoint: a Hugging Face model folder → Checkpoint (config, lazily read weights,
// tokenizer, content hash). Everything a later stage would trip over (missing tensor, wrong
// shape, tokenizer larger than the embedding table, pickle weights) is refused here with a
// CheckpointError that names the file.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseModelConfig } from './modelConfig';
import { SafetensorsFile, SafetensorsWeightStore } from './safetensors';
import { ByteLevelBpeTokenizer } from './tokenizer';
import { CheckpointError, type Checkpoint, type FimLayout, type ModelConfig } from './types';

const INDEX_FILE = 'model.safetensors.index.json';
const SINGLE_FILE = 'model.safetensors';
const PICKLE_EXT = /\.(bin|pt|pth|ckpt|pkl)$/i;
const GENERATION_CONFIG = 'generation_config.json';

/** `fim_layout` of generation_config.json: absent → undefined, anything but "psm"/"spm" → CheckpointError. */
function parseFimLayout(json: unknown): FimLayout | undefined {
  const value = json !== null && typeof json === 'object' ? (json as Record<string, unknown>).fim_layout : undefined;
  if (value === undefined) return undefined;
  if (value === 'psm' || value === 'spm') return value;
  throw new CheckpointError(GENERATION_CONFIG, `fim_layout must be "psm" or "spm", got ${JSON.stringify(value)}`);
}

/** Every tensor the graph needs, with its HF name and shape ([out, in] for Linear weights). */
export function expectedTensors(cfg: ModelConfig): Map<string, number[]> {
  const H = cfg.hiddenSize;
  const q = cfg.numHeads * cfg.headDim;
  const kv = cfg.numKvHeads * cfg.headDim;
  const I = cfg.intermediateSize;
  const out = new Map<string, number[]>();
  out.set('model.embed_tokens.weight', [cfg.vocabSize, H]);
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `model.layers.${l}`;
    out.set(`${p}.input_layernorm.weight`, [H]);
    out.set(`${p}.self_attn.q_proj.weight`, [q, H]);
    out.set(`${p}.self_attn.k_proj.weight`, [kv, H]);
    out.set(`${p}.self_attn.v_proj.weight`, [kv, H]);
    out.set(`${p}.self_attn.o_proj.weight`, [H, q]);
    if (cfg.qkvBias) {
      out.set(`${p}.self_attn.q_proj.bias`, [q]);
      out.set(`${p}.self_attn.k_proj.bias`, [kv]);
      out.set(`${p}.self_attn.v_proj.bias`, [kv]);
    }
    if (cfg.oProjBias) out.set(`${p}.self_attn.o_proj.bias`, [H]);
    out.set(`${p}.post_attention_layernorm.weight`, [H]);
    out.set(`${p}.mlp.gate_proj.weight`, [I, H]);
    out.set(`${p}.mlp.up_proj.weight`, [I, H]);
    out.set(`${p}.mlp.down_proj.weight`, [H, I]);
  }
  out.set('model.norm.weight', [H]);
  if (!cfg.tieWordEmbeddings) out.set('lm_head.weight', [cfg.vocabSize, H]);
  return out;
}

/** The name of the output projection: lm_head.weight, or the embeddings when tied. */
export function lmHeadName(cfg: ModelConfig): string {
  return cfg.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
}

async function readText(dir: string, file: string): Promise<string> {
  try {
    return await readFile(join(dir, file), 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CheckpointError(file, code === 'ENOENT' ? `missing from ${dir}` : `cannot read (${code ?? (e as Error).message})`);
  }
}

function parseJson(file: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(file, `not valid JSON (${(e as Error).message})`);
  }
}

/** Opens the weight files: the sharded index when present, else model.safetensors, else any *.safetensors. */
async function openWeights(dir: string, entries: string[]): Promise<SafetensorsWeightStore> {
  const names = new Set(entries);
  if (names.has(INDEX_FILE)) return openSharded(dir, names);
  const safetensors = entries.filter((f) => f.endsWith('.safetensors')).sort();
  if (names.has(SINGLE_FILE)) return new SafetensorsWeightStore([SafetensorsFile.open(join(dir, SINGLE_FILE))], SINGLE_FILE);
  if (safetensors.length === 1) return new SafetensorsWeightStore([SafetensorsFile.open(join(dir, safetensors[0]))], safetensors[0]);
  if (safetensors.length > 1) throw new CheckpointError(INDEX_FILE, `missing from ${dir}, which holds ${safetensors.length} .safetensors files (${safetensors.join(', ')}) and no index to say which tensors each holds`);
  const pickles = entries.filter((f) => PICKLE_EXT.test(f));
  if (pickles.length > 0) {
    throw new CheckpointError(pickles[0], 'pickle checkpoints are not loaded (they can run arbitrary code); convert to safetensors');
  }
  throw new CheckpointError(SINGLE_FILE, `missing from ${dir} (no .safetensors weights found)`);
}

async function openSharded(dir: string, names: Set<string>): Promise<SafetensorsWeightStore> {
  const index = parseJson(INDEX_FILE, await readText(dir, INDEX_FILE));
  const map = typeof index === 'object' && index !== null ? (index as { weight_map?: unknown }).weight_map : undefined;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new CheckpointError(INDEX_FILE, 'missing weight_map object');
  const weightMap: Record<string, string> = {};
  for (const [tensor, file] of Object.entries(map)) {
    if (typeof file !== 'string' || file.includes('/') || file.includes('\\')) throw new CheckpointError(INDEX_FILE, `weight_map entry ${tensor} → ${JSON.stringify(file)} is not a file name in the folder`);
    weightMap[tensor] = file;
  }
  const shardNames = [...new Set(Object.values(weightMap))].sort();
  const shards = shardNames.map((f) => {
    if (!names.has(f)) throw new CheckpointError(f, `missing shard (listed in ${INDEX_FILE})`);
    return SafetensorsFile.open(join(dir, f));
  });
  return new SafetensorsWeightStore(shards, INDEX_FILE, weightMap);
}

/** Checks that every needed tensor exists with the right shape (extra tensors are ignored). */
function validateTensors(cfg: ModelConfig, store: SafetensorsWeightStore): void {
  for (const [name, want] of expectedTensors(cfg)) {
    const found = store.shape(name);
    if (!found) throw new CheckpointError(store.fileOf(name), `missing tensor ${name}`);
    if (found.length !== want.length || found.some((d, i) => d !== want[i])) {
      throw new CheckpointError(store.fileOf(name), `tensor ${name} has shape [${found.join(', ')}], expected [${want.join(', ')}] from config.json`);
    }
  }
  // A tied checkpoint may still carry lm_head.weight (a copy); it must at least have the right shape.
  if (cfg.tieWordEmbeddings) {
    const extra = store.shape('lm_head.weight');
    if (extra && (extra.length !== 2 || extra[0] !== cfg.vocabSize || extra[1] !== cfg.hiddenSize)) {
      throw new CheckpointError(store.fileOf('lm_head.weight'), `tensor lm_head.weight has shape [${extra.join(', ')}], expected [${cfg.vocabSize}, ${cfg.hiddenSize}]`);
    }
  }
}

/** sha256 of config.json and the weight files (streamed), each preceded by its name and size. */
async function hashCheckpoint(dir: string, configText: string, files: string[]): Promise<string> {
  const h = createHash('sha256');
  const configBytes = Buffer.from(configText, 'utf8');
  h.update(`config.json\0${configBytes.length}\0`);
  h.update(configBytes);
  for (const f of [...files].sort()) {
    const path = join(dir, f);
    h.update(`${f}\0${(await stat(path)).size}\0`);
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  }
  return h.digest('hex');
}

/** Loads and validates a checkpoint folder. Weights stay on disk until WeightStore.get. */
export async function loadCheckpoint(dir: string): Promise<Checkpoint> {
  let entries: string[];
  try {
    const st = await stat(dir);
    if (!st.isDirectory()) throw new CheckpointError(dir, 'is not a folder');
    entries = await readdir(dir);
  } catch (e) {
    if (e instanceof CheckpointError) throw e;
    throw new CheckpointError(dir, `model folder cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const configText = await readText(dir, 'config.json');
  const config = parseModelConfig(configText);
  const tokenizerText = await readText(dir, 'tokenizer.json');

  const names = new Set(entries);
  const tokenizerJson = parseJson('tokenizer.json', tokenizerText);
  const tokenizerConfig = names.has('tokenizer_config.json') ? parseJson('tokenizer_config.json', await readText(dir, 'tokenizer_config.json')) : undefined;
  const tokenizer = new ByteLevelBpeTokenizer(tokenizerJson, { eosIds: config.eosTokenIds, tokenizerConfig });
  // Checked before the tensors: a too-small vocab_size also makes the embedding shape "wrong",
  // and this message says what is actually inconsistent.
  if (tokenizer.size > config.vocabSize) {
    throw new CheckpointError('tokenizer.json', `tokenizer has ${tokenizer.size} ids but config.json vocab_size is ${config.vocabSize}`);
  }
  for (const id of config.eosTokenIds) {
    if (id >= config.vocabSize) throw new CheckpointError('config.json', `eos_token_id ${id} is outside vocab_size ${config.vocabSize}`);
  }

  const weights = await openWeights(dir, entries);
  validateTensors(config, weights);

  const fimLayout = names.has(GENERATION_CONFIG) ? parseFimLayout(parseJson(GENERATION_CONFIG, await readText(dir, GENERATION_CONFIG))) : undefined;

  const hash = await hashCheckpoint(dir, configText, weights.files.map((f) => f.file));
  return { dir, config, weights, tokenizer, hash, ...(fimLayout ? { fimLayout } : {}) };
}
