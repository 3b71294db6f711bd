// config.json (Hugging Face) → ModelConfig, with the defaults the HF config classes use and a
// clear CheckpointError for every field we cannot honour (better to refuse than to run a model
// with the wrong math).

import { CheckpointError, type ModelConfig, type ModelFamily } from './types';

const FILE = 'config.json';

/** Families we build graphs for, and the HF defaults that differ between them. */
const FAMILY_DEFAULTS: Record<ModelFamily, { maxPositionEmbeddings: number }> = {
  llama: { maxPositionEmbeddings: 2048 },
  qwen2: { maxPositionEmbeddings: 32768 },
};

type Json = Record<string, unknown>;

function isRecord(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function positiveInt(cfg: Json, key: string, fallback?: number): number {
  const v = cfg[key];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new CheckpointError(FILE, `missing ${key}`);
  }
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw new CheckpointError(FILE, `${key} must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

function positiveNumber(cfg: Json, key: string, fallback: number): number {
  const v = cfg[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new CheckpointError(FILE, `${key} must be a positive number, got ${JSON.stringify(v)}`);
  return v;
}

function bool(cfg: Json, key: string, fallback: boolean): boolean {
  const v = cfg[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean') throw new CheckpointError(FILE, `${key} must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

function tokenIds(cfg: Json, key: string): number[] {
  const v = cfg[key];
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  for (const id of list) {
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) throw new CheckpointError(FILE, `${key} must be a token id or a list of ids, got ${JSON.stringify(v)}`);
  }
  return list as number[];
}

/**
 * RoPE settings. Two spellings exist: transformers ≤ 4.x writes `rope_theta` + `rope_scaling`
 * ({ type | rope_type, factor }); transformers 5 writes `rope_parameters` ({ rope_type,
 * rope_theta, factor? }). Only no scaling ('default') and 'linear' are implemented.
 */
function rope(cfg: Json): { theta: number; factor: number } {
  const params = cfg.rope_parameters;
  const scaling = isRecord(params) ? params : cfg.rope_scaling;
  const theta = isRecord(params) && params.rope_theta !== undefined ? positiveNumber(params, 'rope_theta', 10000) : positiveNumber(cfg, 'rope_theta', 10000);
  if (scaling === undefined || scaling === null) return { theta, factor: 1 };
  const key = isRecord(params) ? 'rope_parameters' : 'rope_scaling';
  if (!isRecord(scaling)) throw new CheckpointError(FILE, `${key} must be null or an object, got ${JSON.stringify(scaling)}`);
  const kind = scaling.rope_type ?? scaling.type ?? 'default';
  if (kind === 'default') return { theta, factor: 1 };
  if (kind !== 'linear') throw new CheckpointError(FILE, `${key} type ${JSON.stringify(kind)} is not supported (supported: linear, or none)`);
  const factor = scaling.factor;
  if (typeof factor !== 'number' || !Number.isFinite(factor) || factor <= 0) throw new CheckpointError(FILE, `${key}.factor must be a positive number, got ${JSON.stringify(factor)}`);
  return { theta, factor };
}

/** Parses config.json text (or an already-parsed object) into a ModelConfig. */
export function parseModelConfig(source: string | unknown): ModelConfig {
  let cfg: unknown = source;
  if (typeof source === 'string') {
    try {
      cfg = JSON.parse(source);
    } catch (e) {
      throw new CheckpointError(FILE, `not valid JSON (${(e as Error).message})`);
    }
  }
  if (!isRecord(cfg)) throw new CheckpointError(FILE, 'not a JSON object');
  const family = cfg.model_type;
  if (family !== 'llama' && family !== 'qwen2') {
    throw new CheckpointError(FILE, `unknown model_type ${JSON.stringify(family ?? null)}; supported: llama, qwen2`);
  }

  const act = cfg.hidden_act ?? 'silu';
  if (act !== 'silu') throw new CheckpointError(FILE, `hidden_act ${JSON.stringify(act)} is not supported (only silu, as in llama/qwen2)`);
  if (cfg.mlp_bias === true) throw new CheckpointError(FILE, 'mlp_bias: true is not supported');
  if (family === 'qwen2' && cfg.use_sliding_window === true) throw new CheckpointError(FILE, 'use_sliding_window: true is not supported (full attention only)');

  const hiddenSize = positiveInt(cfg, 'hidden_size');
  const numHeads = positiveInt(cfg, 'num_attention_heads');
  const numKvHeads = positiveInt(cfg, 'num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0) throw new CheckpointError(FILE, `num_attention_heads (${numHeads}) is not a multiple of num_key_value_heads (${numKvHeads})`);
  if (cfg.head_dim === undefined || cfg.head_dim === null) {
    if (hiddenSize % numHeads !== 0) throw new CheckpointError(FILE, `hidden_size (${hiddenSize}) is not a multiple of num_attention_heads (${numHeads}) and head_dim is not given`);
  }
  const headDim = positiveInt(cfg, 'head_dim', hiddenSize / numHeads);
  if (headDim % 2 !== 0) throw new CheckpointError(FILE, `head_dim ${headDim} is odd; RoPE needs pairs`);
  const { theta, factor } = rope(cfg);
  const bos = tokenIds(cfg, 'bos_token_id');

  // HF Qwen2Attention hard-codes bias=True on q/k/v; Llama reads attention_bias, which also
  // puts a bias on o_proj.
  const attentionBias = family === 'llama' && bool(cfg, 'attention_bias', false);

  return {
    family,
    vocabSize: positiveInt(cfg, 'vocab_size'),
    hiddenSize,
    intermediateSize: positiveInt(cfg, 'intermediate_size'),
    numLayers: positiveInt(cfg, 'num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: positiveNumber(cfg, 'rms_norm_eps', 1e-6),
    ropeTheta: theta,
    ropeScalingFactor: factor,
    ropeLayout: 'rotate-half',
    tieWordEmbeddings: bool(cfg, 'tie_word_embeddings', false),
    qkvBias: family === 'qwen2' || attentionBias,
    oProjBias: attentionBias,
    maxPositionEmbeddings: positiveInt(cfg, 'max_position_embeddings', FAMILY_DEFAULTS[family].maxPositionEmbeddings),
    bosTokenId: bos.length > 0 ? bos[0] : null,
    eosTokenIds: tokenIds(cfg, 'eos_token_id'),
  };
}
