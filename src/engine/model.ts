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
import { dropCachedGraph, loadCachedGraph, storeCachedGraph } from './graphCache';
import type { Checkpoint, ForwardRequest, ForwardResult, ModelConfig } from './types';

export interface ModelLoadOptions {
  /** ORT intra-op threads (default 2: the machines we target have 2 cores). */
  threads?: number;
  /**
   * Let ORT's worker threads spin between ops (default false). Spinning only pays on idle cores;
   * in an editor the other core is busy (renderer, language servers), and a spinning worker then
   * fights them. Measured on the 2-core dev machine with other work running (load ≈ 5), 31M model,
   * 2 threads, decode at 512: 15.6–17.4 ms/token without spinning vs 31.8 ms with it.
   */
  spinning?: boolean;
  /** Folder of the on-disk graph cache (e.g. ~/.cache/slipstream/graphs); omitted = no cache. */
  cacheDir?: string;
  signal?: AbortSignal;
  /** Growth step of caches made by createCache(), in slots (default 64). */
  kvChunk?: number;
  /** Longer forwards run as chunks of this many rows (default 512); see forwardChunked. */
  prefillChunk?: number;
  /** Block-quantized linear layers, 8 or 4 bits, int8 arithmetic (GraphOptions.weightBits); default fp32. */
  weightBits?: 4 | 8;
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
const DEFAULT_PREFILL_CHUNK = 512;

export class Model {
  readonly config: ModelConfig;
  readonly rope: RopeSpec;
  readonly loadStats: ModelLoadStats;
  private session: ort.InferenceSession | null;
  /** [vocabSize, hiddenSize] fp32, the checkpoint's own array (not copied). */
  private readonly embedding: Float32Array;
  private readonly kvChunk: number | undefined;
  private readonly prefillChunk: number;

  private constructor(cfg: ModelConfig, session: ort.InferenceSession, embedding: Float32Array, stats: ModelLoadStats, opts: ModelLoadOptions) {
    this.config = cfg;
    this.rope = ropeSpec(cfg);
    this.session = session;
    this.embedding = embedding;
    this.loadStats = stats;
    this.kvChunk = opts.kvChunk;
    this.prefillChunk = Math.max(1, Math.floor(opts.prefillChunk ?? DEFAULT_PREFILL_CHUNK));
  }

  static async load(ckpt: Checkpoint, opts: ModelLoadOptions = {}): Promise<Model> {
    const cfg = ckpt.config;
    const emb = ckpt.weights.get('model.embed_tokens.weight');
    if (emb.data.length !== cfg.vocabSize * cfg.hiddenSize) {
      throw new Error(`model.embed_tokens.weight: shape [${emb.shape}] does not match vocab ${cfg.vocabSize} × hidden ${cfg.hiddenSize}`);
    }
    opts.signal?.throwIfAborted();

    const stats: ModelLoadStats = { buildMs: 0, cacheReadMs: 0, sessionMs: 0, cacheHit: false };
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: opts.threads ?? 2,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      extra: { session: { intra_op: { allow_spinning: opts.spinning ? '1' : '0' } } },
    };
    // A quantized graph is another graph of the same checkpoint: its own cache entry.
    const cacheKey = opts.weightBits ? `${ckpt.hash}-q${opts.weightBits}` : ckpt.hash;
    const build = async (): Promise<Uint8Array> => {
      const t = performance.now();
      const g = buildGraph(ckpt, { weightBits: opts.weightBits });
      stats.buildMs = performance.now() - t;
      if (opts.cacheDir) await storeCachedGraph(opts.cacheDir, cacheKey, g);
      return g;
    };

    let graph: Uint8Array | null = null;
    if (opts.cacheDir) {
      const t = performance.now();
      graph = await loadCachedGraph(opts.cacheDir, cacheKey);
      stats.cacheReadMs = performance.now() - t;
      stats.cacheHit = graph !== null;
    }
    graph ??= await build();
    opts.signal?.throwIfAborted();

    const t = performance.now();
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(graph, sessionOptions);
    } catch (e) {
      if (!stats.cacheHit || !opts.cacheDir) throw new Error(`onnxruntime could not load the graph built from ${ckpt.dir}: ${errorMessage(e)}`, { cause: e });
      // A damaged cache file must not make the model unloadable: rebuild from the checkpoint.
      await dropCachedGraph(opts.cacheDir, cacheKey);
      stats.cacheHit = false;
      graph = await build();
      try {
        session = await ort.InferenceSession.create(graph, sessionOptions);
      } catch (e2) {
        throw new Error(`onnxruntime could not load the graph built from ${ckpt.dir}: ${errorMessage(e2)}`, { cause: e2 });
      }
    }
    stats.sessionMs = performance.now() - t;
    if (opts.signal?.aborted) {
      await session.release();
      opts.signal.throwIfAborted();
    }
    return new Model(cfg, session, emb.data, stats, opts);
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
   * used elsewhere until the returned promise settles: its buffers are passed to ORT by reference,
   * and a long prefill temporarily appends its own chunks (restored before returning, also on error).
   */
  async forward(cache: KvCache, req: ForwardRequest): Promise<ForwardResult> {
    if (!this.session) throw new Error('Model.forward after dispose()');
    const { hiddenSize: H, numLayers, numKvHeads: kvH, headDim: d } = this.config;
    const q = req.positions.length;
    if (q === 0) throw new RangeError('forward needs at least one row');
    if (req.embeds.length !== q * H) throw new RangeError(`embeds: expected ${q}×${H} values, got ${req.embeds.length}`);
    if (cache.shape.numLayers !== numLayers || cache.shape.numKvHeads !== kvH || cache.shape.headDim !== d) {
      throw new RangeError('forward: the cache was made for a different model');
    }
    const past = cache.length;
    if (req.bias && req.bias.length !== q * (past + q)) throw new RangeError(`bias: expected ${q}×${past + q} values, got ${req.bias.length}`);
    for (let i = 0; i < q; i++) {
      if (!Number.isInteger(req.positions[i])) throw new RangeError(`position ${req.positions[i]} is not an integer`);
    }
    const rows = logitRows(req.logitRows ?? 'last', q);
    const chunk = this.prefillChunk;
    if (q <= chunk || (req.bias && !chunkable(req.bias, q, past, chunk))) {
      req.signal?.throwIfAborted();
      return this.run(cache, req.embeds, req.positions, req.bias, rows);
    }
    return this.forwardChunked(cache, req, rows, chunk);
  }

  /**
   * A long forward as consecutive chunks of rows: each chunk's K/V is appended to the cache so the
   * next chunk sees it as past, and the cache is truncated back at the end. The attention of chunk c
   * then spans past + c·chunk columns instead of past + q, and its score tensors stay cache-sized.
   * Same result as one pass whenever no row attends to a later chunk (checked by the caller).
   * Measured (31M model, 2 pinned Xeon cores): 2048 tokens in one pass 1288 ms, in 512-row chunks
   * 813 ms, in 256-row chunks 831 ms. Chunks also bound how long one native call blocks the thread.
   */
  private async forwardChunked(cache: KvCache, req: ForwardRequest, rows: number[], chunk: number): Promise<ForwardResult> {
    const { hiddenSize: H, numLayers, numKvHeads: kvH, headDim: d, vocabSize: V } = this.config;
    const q = req.positions.length;
    const past = cache.length;
    const newKeys = Array.from({ length: numLayers }, () => new Float32Array(kvH * q * d)); // [kvH, q, d]
    const newValues = Array.from({ length: numLayers }, () => new Float32Array(kvH * q * d));
    const rowLogits = new Map<number, Float32Array>(); // row → [V]
    try {
      for (let a = 0; a < q; a += chunk) {
        const b = Math.min(q, a + chunk);
        const n = b - a;
        req.signal?.throwIfAborted();
        const wanted = [...new Set(rows.filter((r) => r >= a && r < b))].sort((x, y) => x - y);
        // Chunk rows see the caller's columns [0, past + b): the old past, earlier chunks (now in the cache) and their own chunk.
        let bias: Float32Array | undefined;
        if (req.bias) {
          bias = new Float32Array(n * (past + b)); // [n, past + b]
          for (let r = 0; r < n; r++) bias.set(req.bias.subarray((a + r) * (past + q), (a + r) * (past + q) + past + b), r * (past + b));
        }
        const positions = Array.from(req.positions).slice(a, b);
        const out = await this.run(cache, req.embeds.subarray(a * H, b * H), positions, bias, wanted.map((r) => r - a));
        wanted.forEach((r, i) => rowLogits.set(r, out.logits.subarray(i * V, (i + 1) * V)));
        for (let l = 0; l < numLayers; l++) {
          for (let h = 0; h < kvH; h++) {
            newKeys[l].set(out.newKeys[l].subarray(h * n * d, (h + 1) * n * d), (h * q + a) * d);
            newValues[l].set(out.newValues[l].subarray(h * n * d, (h + 1) * n * d), (h * q + a) * d);
          }
        }
        if (b < q) cache.append(out.newKeys, out.newValues, new Array<number>(n).fill(-1), positions);
      }
    } finally {
      cache.truncate(past);
    }
    const logits = new Float32Array(rows.length * V); // [rows, V]
    rows.forEach((r, i) => {
      const row = rowLogits.get(r);
      if (!row) throw new Error(`internal: no logits computed for row ${r}`);
      logits.set(row, i * V);
    });
    return { logits, rows: rows.length, newKeys, newValues };
  }

  /** One graph run; `bias` is over the logical past ([q, past + q]) or undefined for causal. `rows` may be empty. */
  private async run(cache: KvCache, embeds: Float32Array, pos: ArrayLike<number>, bias: Float32Array | undefined, rows: number[]): Promise<ForwardResult> {
    const session = this.session;
    if (!session) throw new Error('Model.forward after dispose()');
    const { hiddenSize: H, numLayers, numKvHeads: kvH, headDim: d, vocabSize: V } = this.config;
    const q = pos.length;
    const past = cache.length; // logical past
    const P = cache.capacity; // physical past the graph sees
    const positions = BigInt64Array.from(Array.from(pos), (p) => BigInt(p)); // [q]
    const rowIds = BigInt64Array.from(rows, (r) => BigInt(r)); // [r]
    const feeds: Record<string, ort.Tensor> = {
      [INPUT_EMBEDS]: new ort.Tensor('float32', embeds, [1, q, H]),
      [INPUT_POSITIONS]: new ort.Tensor('int64', positions, [1, q]),
      [INPUT_BIAS]: new ort.Tensor('float32', physicalBias(bias, q, past, P), [1, 1, q, P + q]),
      [INPUT_LOGIT_ROWS]: new ort.Tensor('int64', rowIds, [rowIds.length]),
    };
    for (let l = 0; l < numLayers; l++) {
      feeds[pastKeyName(l)] = new ort.Tensor('float32', cache.physicalKeys(l), [1, kvH, P, d]);
      feeds[pastValueName(l)] = new ort.Tensor('float32', cache.physicalValues(l), [1, kvH, P, d]);
    }
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

/** Logit row selection → indices into the q rows, in the order asked. */
function logitRows(sel: 'last' | 'all' | number[], q: number): number[] {
  if (sel === 'last') return [q - 1];
  if (sel === 'all') return Array.from({ length: q }, (_, i) => i);
  if (sel.length === 0) throw new RangeError('logitRows: empty row list');
  for (const r of sel) {
    if (!Number.isInteger(r) || r < 0 || r >= q) throw new RangeError(`logit row ${r} outside [0, ${q})`);
  }
  return sel.slice();
}

/** Whether no row of `bias` [q, past + q] attends to a row of a later chunk (so chunking is exact). */
function chunkable(bias: Float32Array, q: number, past: number, chunk: number): boolean {
  const W = past + q;
  for (let r = 0; r < q; r++) {
    const end = Math.min(q, (Math.floor(r / chunk) + 1) * chunk);
    for (let j = past + end; j < W; j++) if (bias[r * W + j] !== NEG_INF) return false;
  }
  return true;
}

/**
 * The caller's bias [q, past + q] over the logical past → the graph's [q, P + q] over the physical
 * capacity P: columns [0, past) as given, [past, P) masked (unused slots), [P, P + q) the new rows.
 * No bias = causal.
 */
function physicalBias(bias: Float32Array | undefined, q: number, past: number, P: number): Float32Array {
  const W = P + q;
  const out = new Float32Array(q * W);
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
