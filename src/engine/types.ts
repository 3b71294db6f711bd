// Shared engine types: the model description parsed from config.json, and the
// forward-pass contract between the decoding layers and the ONNX session.

export type ModelFamily = 'llama' | 'qwen2';

/** How RoPE pairs the dimensions of one head: HF llama/qwen2 rotate halves (i, i + d/2);
 *  GPT-J style checkpoints rotate neighbours (2i, 2i + 1). */
export type RopeLayout = 'rotate-half' | 'interleaved';

export interface ModelConfig {
  family: ModelFamily;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  /** Linear RoPE scaling: positions are divided by this factor (1 = none). */
  ropeScalingFactor: number;
  ropeLayout: RopeLayout;
  tieWordEmbeddings: boolean;
  /** qwen2 has biases on q/k/v projections; llama may via `attention_bias`. */
  qkvBias: boolean;
  /** Llama with `attention_bias: true` also has a bias on o_proj (HF LlamaAttention); absent = false. */
  oProjBias?: boolean;
  maxPositionEmbeddings: number;
  bosTokenId: number | null;
  eosTokenIds: number[];
}

/** Clear, user-facing error about a model folder: names the file and the problem. */
export class CheckpointError extends Error {
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = 'CheckpointError';
  }
}

/** RoPE inverse frequencies, float64: inv_freq[i] = theta^(-2i/d) / scalingFactor. Shape [headDim/2]. */
export function ropeInverseFrequencies(cfg: Pick<ModelConfig, 'headDim' | 'ropeTheta' | 'ropeScalingFactor'>): Float64Array {
  const half = cfg.headDim / 2;
  const out = new Float64Array(half);
  for (let i = 0; i < half; i++) out[i] = Math.pow(cfg.ropeTheta, -(2 * i) / cfg.headDim) / cfg.ropeScalingFactor;
  return out;
}

/** One forward pass over q new positions against the cached past (length `past`). */
export interface ForwardRequest {
  /** [q, hidden] input embeddings; the embedding lookup (or a superposition of rows) is done by the caller. */
  embeds: Float32Array;
  /** [q] absolute RoPE positions of the new rows. */
  positions: ArrayLike<number>;
  /**
   * [q, past + q] additive attention bias (0 = attend, -Infinity = masked), row-major.
   * Omitted: causal (every new row sees the whole past and the new rows up to itself).
   */
  bias?: Float32Array;
  /** Which of the q rows need logits: 'last' (default), 'all', or explicit row indices. */
  logitRows?: 'last' | 'all' | number[];
  signal?: AbortSignal;
}

export interface ForwardResult {
  /** [rows, vocab] logits for the rows asked for, in the order asked. */
  logits: Float32Array;
  rows: number;
  /** Per layer, [numKvHeads, q, headDim] post-RoPE keys of the new rows only. */
  newKeys: Float32Array[];
  /** Per layer, [numKvHeads, q, headDim] values of the new rows only. */
  newValues: Float32Array[];
}

/** One weight as float32, row-major; HF Linear weights are [out, in]. */
export interface WeightTensor {
  shape: number[];
  data: Float32Array;
}

export interface WeightStore {
  names(): string[];
  has(name: string): boolean;
  /** Throws CheckpointError (naming the file) when missing. */
  get(name: string): WeightTensor;
}

/** The tokenizer as the engine and decoders see it (byte-level BPE, tokenizer.json). */
export interface TokenizerLike {
  /** Number of ids the tokenizer can produce (max id + 1), ≤ config.vocabSize. */
  readonly size: number;
  /** Plain text → ids; never adds BOS/EOS; special-token text inside `text` is NOT turned into special ids. */
  encode(text: string): number[];
  decode(ids: ArrayLike<number>): string;
  /** Raw UTF-8 bytes a token stands for (special tokens: their UTF-8 text). */
  tokenBytes(id: number): Uint8Array;
  /** Id of a special token by its text, e.g. '<|fim_prefix|>'; undefined when absent. */
  specialId(text: string): number | undefined;
  /** Ids that end generation (<|endoftext|>, config eos ids, ...). */
  readonly eosIds: number[];
}

/**
 * Fill-in-the-middle part order: 'psm' = <|fim_prefix|>before<|fim_suffix|>after<|fim_middle|>,
 * 'spm' = <|fim_prefix|><|fim_suffix|>after<|fim_middle|>before (the completion continues the
 * text before the cursor directly).
 */
export type FimLayout = 'psm' | 'spm';

export interface Checkpoint {
  dir: string;
  config: ModelConfig;
  /**
   * The order the model completes best, from `fim_layout` in generation_config.json (a
   * Slipstream key; transformers ignores it); undefined when the folder does not say.
   */
  fimLayout?: FimLayout;
  weights: WeightStore;
  tokenizer: TokenizerLike;
  /** Content hash of config + weights (hex), keys the on-disk graph cache. */
  hash: string;
}
