// The decoder as the rest of the extension sees it: an onnxruntime session over the graph from
// onnxGraph.ts, the fp32 embedding table for the JS-side lookup, and KvCache construction.
//
// Model owns its InferenceSession (released by dispose()). Input tensors wrap JS arrays and own no
// native memory: onnxruntime-node hands typed arrays to ORT without copying (measured: a Shape-only
// graph runs in the same ~0.12 ms for 4 MB and 40 MB inputs), so the KvCache's capacity buffers go
// in as `past_key_i` / `past_value_i` as they are. Outputs come back as fresh JS arrays.

import * as ort from 'onnxruntime-node';
import { KvCache, type KvCacheOptions } from './kvCache';
import { ropeSpec, type RopeSpec } from './rope';
import {
  buildGraph,
  INPUT_BIAS,
  INPUT_EMBEDS,
  INPUT_LOGIT_ROWS,
  INPUT_POSITIONS,
  newKeyName,
  newValueName,
  OUTPUT_LOGITS,
  pastKeyName,
  pastValueName,
} from './onnxGraph';
import { loadCachedGraph, storeCachedGraph } from './graphCache';
import type { Checkpoint, ForwardRequest, ForwardResult, ModelConfig } from './types';

export interface ModelLoadOptions {
  /** ORT intra-op threads (default 2: the machines we target have 2 cores). */
  threads?: number;
  /** Folder of the on-disk graph cache (e.g. ~/.cache/slipstream/graphs); omitted = no cache. */
  cacheDir?: string;
  signal?: AbortSignal;
  /** Growth step of caches made by createCache(), in slots (default 256). */
  kvChunk?: number;
}

/** Where load time went, in milliseconds. */
export interface ModelLoadStats {
  /** Building + serializing the graph in JS (0 on a cache hit). */
  buildMs: number;
  /** Reading the cached graph file (0 on a miss or without a cache). */
  cacheReadMs: number;
  /** InferenceSession.create: parse, optimize, pre-pack weights. */
  sessionMs: number;
  cacheHit: boolean;
}

const NEG_INF = Number.NEGATIVE_INFINITY;

export class Model {
  readonly config: ModelConfig;
  readonly rope: RopeSpec;
  readonly loadStats: ModelLoadStats;
  private session: ort.InferenceSession | null;
  /** [vocabSize, hiddenSize] fp32, the checkpoint's own array (not copied). */
  private readonly embedding: Float32Array;
  private readonly kvChunk: number | undefined;

  private constructor(cfg: ModelConfig, session: ort.InferenceSession, embedding: Float32Array, stats: ModelLoadStats, kvChunk: number | undefined) {
    this.config = cfg;
    this.rope = ropeSpec(cfg);
    this.session = session;
    this.embedding = embedding;
    this.loadStats = stats;
    this.kvChunk = kvChunk;
  }

  static async load(ckpt: Checkpoint, opts: ModelLoadOptions = {}): Promise<Model> {
    const cfg = ckpt.config;
    const emb = ckpt.weights.get('model.embed_tokens.weight');
    if (emb.data.length !== cfg.vocabSize * cfg.hiddenSize) {
      throw new Error(`model.embed_tokens.weight: shape [${emb.shape}] does not match vocab ${cfg.vocabSize} × hidden ${cfg.hiddenSize}`);
    }
    opts.signal?.throwIfAborted();

    const stats: ModelLoadStats = { buildMs: 0, cacheReadMs: 0, sessionMs: 0, cacheHit: false };
    let graph: Uint8Array | null = null;
    if (opts.cacheDir) {
      const t = performance.now();
      graph = await loadCachedGraph(opts.cacheDir, ckpt.hash);
      stats.cacheReadMs = performance.now() - t;
      stats.cacheHit = graph !== null;
    }
    if (!graph) {
      const t = performance.now();
      graph = buildGraph(ckpt);
      stats.buildMs = performance.now() - t;
      if (opts.cacheDir) await storeCachedGraph(opts.cacheDir, ckpt.hash, graph);
    }
    opts.signal?.throwIfAborted();

    const t = performance.now();
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(graph, {
        intraOpNumThreads: opts.threads ?? 2,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
      });
    } catch (e) {
      throw new Error(`onnxruntime could not load the graph built from ${ckpt.dir}: ${errorMessage(e)}`, { cause: e });
    }
    stats.sessionMs = performance.now() - t;
    if (opts.signal?.aborted) {
      await session.release();
      opts.signal.throwIfAborted();
    }
    return new Model(cfg, session, emb.data, stats, opts.kvChunk);
  }

  /** Embedding rows of `tokens`: [n, hiddenSize] (a copy; callers may mix rows for superposition). */
  embed(tokens: ArrayLike<number>): Float32Array {
    const H = this.config.hiddenSize;
    const out = new Float32Array(tokens.length * H);
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      if (!Number.isInteger(t) || t < 0 || t >= this.config.vocabSize) throw new RangeError(`token id ${t} outside [0, ${this.config.vocabSize})`);
      out.set(this.embedding.subarray(t * H, (t + 1) * H), i * H);
    }
    return out;
  }

  /** An empty cache shaped for this model. */
  createCache(opts: KvCacheOptions = {}): KvCache {
    const c = this.config;
    return new KvCache(
      { numLayers: c.numLayers, numKvHeads: c.numKvHeads, headDim: c.headDim },
      this.rope,
      { chunk: opts.chunk ?? this.kvChunk },
    );
  }

  /**
   * Run q new rows against the cache's past. The cache is read, not changed: callers append the
   * returned K/V themselves (after tree verification, only the accepted rows). The cache must not be
   * modified until the returned promise settles (its buffers are passed to ORT by reference).
   */
  async forward(cache: KvCache, req: ForwardRequest): Promise<ForwardResult> {
    const session = this.session;
    if (!session) throw new Error('Model.forward after dispose()');
    const cfg = this.config;
    const { hiddenSize: H, numLayers, numKvHeads: kvH, headDim: d, vocabSize: V } = cfg;
    const q = req.positions.length;
    if (q === 0) throw new RangeError('forward needs at least one row');
    if (req.embeds.length !== q * H) throw new RangeError(`embeds: expected ${q}×${H} values, got ${req.embeds.length}`);
    if (cache.shape.numLayers !== numLayers || cache.shape.numKvHeads !== kvH || cache.shape.headDim !== d) {
      throw new RangeError('forward: the cache was made for a different model');
    }
    const past = cache.length; // logical past
    const P = cache.capacity; // physical past the graph sees

    const positions = new BigInt64Array(q); // [q]
    for (let i = 0; i < q; i++) {
      const p = req.positions[i];
      if (!Number.isInteger(p)) throw new RangeError(`position ${p} is not an integer`);
      positions[i] = BigInt(p);
    }
    const rows = logitRows(req.logitRows ?? 'last', q);
    const feeds: Record<string, ort.Tensor> = {
      [INPUT_EMBEDS]: new ort.Tensor('float32', req.embeds, [1, q, H]),
      [INPUT_POSITIONS]: new ort.Tensor('int64', positions, [1, q]),
      [INPUT_BIAS]: new ort.Tensor('float32', physicalBias(req.bias, q, past, P), [1, 1, q, P + q]),
      [INPUT_LOGIT_ROWS]: new ort.Tensor('int64', rows, [rows.length]),
    };
    for (let l = 0; l < numLayers; l++) {
      feeds[pastKeyName(l)] = new ort.Tensor('float32', cache.physicalKeys(l), [1, kvH, P, d]);
      feeds[pastValueName(l)] = new ort.Tensor('float32', cache.physicalValues(l), [1, kvH, P, d]);
    }

    req.signal?.throwIfAborted();
    let out: ort.InferenceSession.OnnxValueMapType;
    try {
      out = await session.run(feeds);
    } catch (e) {
      throw new Error(`onnxruntime forward failed (q=${q}, past=${past}, capacity=${P}): ${errorMessage(e)}`, { cause: e });
    }
    const newKeys: Float32Array[] = [];
    const newValues: Float32Array[] = [];
    for (let l = 0; l < numLayers; l++) {
      newKeys.push(floatData(out[newKeyName(l)], kvH * q * d));
      newValues.push(floatData(out[newValueName(l)], kvH * q * d));
    }
    return { logits: floatData(out[OUTPUT_LOGITS], rows.length * V), rows: rows.length, newKeys, newValues };
  }

  /** Release the native session. Idempotent; forward() afterwards throws. */
  async dispose(): Promise<void> {
    const s = this.session;
    this.session = null;
    if (s) await s.release();
  }
}

/** Logit row selection → int64 [r] indices into the q rows. */
function logitRows(sel: 'last' | 'all' | number[], q: number): BigInt64Array {
  if (sel === 'last') return BigInt64Array.of(BigInt(q - 1));
  if (sel === 'all') return BigInt64Array.from({ length: q }, (_, i) => BigInt(i));
  if (sel.length === 0) throw new RangeError('logitRows: empty row list');
  return BigInt64Array.from(sel, (r) => {
    if (!Number.isInteger(r) || r < 0 || r >= q) throw new RangeError(`logit row ${r} outside [0, ${q})`);
    return BigInt(r);
  });
}

/**
 * The caller's bias [q, past + q] over the logical past → the graph's [q, P + q] over the physical
 * capacity P: columns [0, past) as given, [past, P) masked (unused slots), [P, P + q) the new rows.
 * No bias = causal.
 */
function physicalBias(bias: Float32Array | undefined, q: number, past: number, P: number): Float32Array {
  const W = P + q;
  const out = new Float32Array(q * W);
  if (bias && bias.length !== q * (past + q)) throw new RangeError(`bias: expected ${q}×${past + q} values, got ${bias.length}`);
  for (let i = 0; i < q; i++) {
    const row = i * W;
    if (bias) {
      const src = i * (past + q);
      out.set(bias.subarray(src, src + past), row);
      out.set(bias.subarray(src + past, src + past + q), row + P);
    } else {
      for (let j = i + 1; j < q; j++) out[row + P + j] = NEG_INF;
    }
    out.fill(NEG_INF, row + past, row + P);
  }
  return out;
}

function floatData(t: ort.Tensor | undefined, n: number): Float32Array {
  if (!t || !(t.data instanceof Float32Array) || t.data.length !== n) {
    throw new Error(`onnxruntime returned an unexpected output (${t ? `${t.type} [${t.dims}]` : 'missing'}; expected ${n} float32 values)`);
  }
  return t.data;
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
