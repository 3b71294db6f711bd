// Engine throughput: prefill and decode tokens/s of the ONNX session, memory after load, and load
// time with and without the on-disk graph cache, plus the two ceilings that explain them: this
// machine's copy bandwidth (decode streams every weight once per token) and onnxruntime's own
// fp32 MatMul throughput on a prefill-sized product (prefill is matrix products), and the rate
// onnxruntime streams a 128 MiB weight matrix through a one-row MatMul (decode's own pattern).
// Full runs also profile one decode step at 512 and 2048 past slots with onnxruntime's profiler:
// kernel time by operator (weight products vs attention over the K/V cache vs the rest) and the
// framework's time between kernels.
//
//   ./bin/slipstream bench engine [--quick] [--model DIR] [--threads N] [--steps N] [--out FILE] [--attention] [--spin]
//
// Defaults are the committed run (bench/results/engine.{json,md}); --quick (8 decode steps, one
// prefill each) writes bench/out/engine-quick.{json,md}. Decode is timed at 512 tokens of context
// and at the end of the 2048-token window (prefill 2048 − steps − 2, then the steps).
//
// --attention also times decode with the textbook Concat(past, new) attention graph (past copied
// out of the cache into an exact-length tensor each step, as that design needs) against the
// shipped split-past graph that reads the cache's capacity buffers in place.
//
// Model: --model, else models/default when present, else a generated checkpoint of realistic size
// (qwen2-style, hidden 512, 8 layers, 8 heads / 2 kv heads, intermediate 1408, vocab 16384, tied;
// random weights, ~31M parameters), written once under .cache/bench-engine-model.
// Prints a table and writes it as the .md next to the JSON.

import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { loadCheckpoint } from '../../src/engine/checkpoint';
import { Model } from '../../src/engine/model';
import { buildGraph, newKeyName, newValueName, pastKeyName, pastValueName } from '../../src/engine/onnxGraph';
import type { Checkpoint, ModelConfig } from '../../src/engine/types';
import { writeTinyCheckpoint } from '../../test/fixtures/tinyModel';

const ROOT = resolve(__dirname, '..', '..');

function arg(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The model folder to measure, generating the fixture when needed. */
function modelDir(args: string[]): { dir: string; source: string } {
  const given = arg(args, '--model');
  if (given) return { dir: resolve(given), source: 'given' };
  const shipped = join(ROOT, 'models', 'default');
  if (existsSync(join(shipped, 'config.json'))) return { dir: shipped, source: 'models/default' };
  const dir = join(ROOT, '.cache', 'bench-engine-model');
  if (!existsSync(join(dir, 'model.safetensors'))) {
    writeTinyCheckpoint(dir, {
      family: 'qwen2',
      tied: true,
      hidden: 512,
      layers: 8,
      heads: 8,
      kvHeads: 2,
      intermediate: 1408,
      vocabSize: 16384,
      seed: 1,
    });
  }
  return { dir, source: 'generated fixture (random weights)' };
}

/** Parameters of the linear layers a decode step streams through (fp32): per layer q/k/v/o + MLP, plus lm_head. */
export function linearParams(c: ModelConfig): { perToken: number; total: number } {
  const attn = c.hiddenSize * (c.numHeads + 2 * c.numKvHeads) * c.headDim + c.numHeads * c.headDim * c.hiddenSize;
  const mlp = 3 * c.hiddenSize * c.intermediateSize;
  const lm = c.vocabSize * c.hiddenSize;
  return { perToken: c.numLayers * (attn + mlp) + lm, total: c.numLayers * (attn + mlp) + lm * (c.tieWordEmbeddings ? 1 : 2) };
}

/** Copy bandwidth of this machine (GB/s, read + write counted), a rough ceiling for decode. */
export function copyBandwidth(): number {
  const n = 32 * 1024 * 1024; // 128 MiB of float32, far beyond the caches
  const a = new Float32Array(n).fill(1);
  const b = new Float32Array(n);
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    b.set(a);
    times.push(performance.now() - t);
  }
  return (2 * n * 4) / (median(times) / 1000) / 1e9;
}

function tokensFor(ck: Checkpoint, n: number): number[] {
  const size = ck.tokenizer.size;
  return Array.from({ length: n }, (_, i) => (i * 7919 + 13) % size);
}

export async function prefillTokS(m: Model, ck: Checkpoint, n: number, reps: number): Promise<{ tokS: number; ms: number }> {
  const toks = tokensFor(ck, n);
  const embeds = m.embed(toks);
  const positions = toks.map((_, i) => i);
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    await m.forward(m.createCache(), { embeds, positions });
    times.push(performance.now() - t);
  }
  const ms = median(times);
  return { tokS: (n / ms) * 1000, ms };
}

/** Decode `steps` tokens after a `context`-token prefill; per-step time includes embed, forward and append. */
export async function decode(m: Model, ck: Checkpoint, context: number, steps: number): Promise<{ tokS: number; medianMs: number; p90Ms: number; capacity: number }> {
  const toks = tokensFor(ck, context);
  const cache = m.createCache();
  const pre = await m.forward(cache, { embeds: m.embed(toks), positions: toks.map((_, i) => i) });
  cache.append(pre.newKeys, pre.newValues, toks, toks.map((_, i) => i));
  let logits = pre.logits;
  const times: number[] = [];
  for (let s = 0; s < steps + 2; s++) {
    let best = 0;
    for (let v = 1; v < ck.tokenizer.size; v++) if (logits[v] > logits[best]) best = v;
    const t = performance.now();
    const pos = cache.length;
    const r = await m.forward(cache, { embeds: m.embed([best]), positions: [pos] });
    cache.append(r.newKeys, r.newValues, [best], [pos]);
    if (s >= 2) times.push(performance.now() - t); // the first steps warm ORT's arena for q = 1
    logits = r.logits;
  }
  const sorted = [...times].sort((a, b) => a - b);
  const med = median(times);
  return { tokS: 1000 / med, medianMs: med, p90Ms: sorted[Math.floor(sorted.length * 0.9)], capacity: cache.capacity };
}

/**
 * onnxruntime's fp32 MatMul throughput (GFLOP/s) on [m, k] × [k, n] with the session options the
 * engine uses: what a prefill could reach if it were nothing but its largest products. Default
 * shape: 512 rows through the shipped model's fused gate/up projection (512 → 2·1408).
 */
export async function gemmGflops(threads: number, spinning: boolean, m = 512, k = 512, n = 2816, reps = 7): Promise<number> {
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const w = new Float32Array(k * n).map((_, i) => ((i * 2654435761) % 1000) / 1000 - 0.5);
  const dims = (d: number[]): onnx.ITypeProto => ({ tensorType: { elemType: FLOAT, shape: { dim: d.map((x) => ({ dimValue: x })) } } });
  const proto = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'gemm',
      node: [{ opType: 'MatMul', input: ['a', 'w'], output: ['c'], name: 'mm' }],
      initializer: [{ name: 'w', dims: [k, n], dataType: FLOAT, rawData: new Uint8Array(w.buffer) }],
      input: [{ name: 'a', type: dims([m, k]) }],
      output: [{ name: 'c', type: dims([m, n]) }],
    },
  });
  const session = await ort.InferenceSession.create(onnx.ModelProto.encode(proto).finish(), {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: spinning ? '1' : '0' } } },
  });
  try {
    const a = new ort.Tensor('float32', new Float32Array(m * k).fill(0.5), [m, k]);
    await session.run({ a });
    const times: number[] = [];
    for (let r = 0; r < reps; r++) {
      const t = performance.now();
      await session.run({ a });
      times.push(performance.now() - t);
    }
    return (2 * m * k * n) / (median(times) / 1000) / 1e9;
  } finally {
    await session.release();
  }
}

/** Kernel time by operator in one decode step, from onnxruntime's profiler. */
export interface DecodeProfile {
  past: number;
  /** Median wall time of a profiled step (profiling adds a little), ms. */
  stepMs: number;
  /** Σ kernel time per step, ms; stepMs − kernelMs is the framework's own time (scheduling, feeds, outputs). */
  kernelMs: number;
  /**
   * µs per step by operator type. FusedMatMul is only attention's Q·Kᵀ over the cache (transB,
   * scale folded in); MatMul is the weight products plus attention's P·V.
   */
  byOp: Record<string, number>;
}

/**
 * Profiles `steps` decode forwards (q = 1) against a `past`-slot cache with the shipped graph and
 * session options (values do not matter for speed: the feeds are constant), and sums each
 * operator's kernel time.
 */
export async function profileDecode(ck: Checkpoint, threads: number, spinning: boolean, past: number, steps = 24): Promise<DecodeProfile> {
  const { numLayers, numKvHeads: kvH, headDim: d, hiddenSize: H } = ck.config;
  const dir = mkdtempSync(join(tmpdir(), 'slip-profile-'));
  const session = await ort.InferenceSession.create(buildGraph(ck), {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    enableProfiling: true,
    profileFilePrefix: join(dir, 'decode'),
    extra: { session: { intra_op: { allow_spinning: spinning ? '1' : '0' } } },
  });
  try {
    const feeds: Record<string, ort.Tensor> = {
      inputs_embeds: new ort.Tensor('float32', new Float32Array(H).fill(0.01), [1, 1, H]),
      position_ids: new ort.Tensor('int64', BigInt64Array.of(BigInt(past)), [1, 1]),
      attention_bias: new ort.Tensor('float32', new Float32Array(past + 1), [1, 1, 1, past + 1]),
      logit_rows: new ort.Tensor('int64', BigInt64Array.of(0n), [1]),
    };
    for (let l = 0; l < numLayers; l++) {
      feeds[pastKeyName(l)] = new ort.Tensor('float32', new Float32Array(kvH * past * d).fill(0.02), [1, kvH, past, d]);
      feeds[pastValueName(l)] = new ort.Tensor('float32', new Float32Array(kvH * past * d).fill(0.03), [1, kvH, past, d]);
    }
    const warm = 4;
    const times: number[] = [];
    for (let i = 0; i < warm + steps; i++) {
      const t = performance.now();
      await session.run(feeds);
      if (i >= warm) times.push(performance.now() - t);
    }
    session.endProfiling();
    const file = readdirSync(dir).find((f) => f.endsWith('.json'));
    if (!file) throw new Error('onnxruntime wrote no profile');
    type Event = { cat: string; name: string; dur: number; args?: { op_name?: string } };
    const events = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Event[];
    const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').length;
    const byOp: Record<string, number> = {};
    let kernel = 0;
    for (const e of events) {
      if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
      const op = e.args?.op_name ?? '?';
      byOp[op] = (byOp[op] ?? 0) + e.dur;
      kernel += e.dur;
    }
    const perStep = Object.fromEntries(Object.entries(byOp).sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, Math.round(v / runs)]));
    return { past, stepMs: median(times), kernelMs: kernel / runs / 1000, byOp: perStep };
  } finally {
    await session.release();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One verification-sized forward (q rows, causal) at a context; ms. */
async function verify(m: Model, ck: Checkpoint, context: number, q: number): Promise<number> {
  const toks = tokensFor(ck, context + q);
  const cache = m.createCache();
  const pre = await m.forward(cache, { embeds: m.embed(toks.slice(0, context)), positions: toks.slice(0, context).map((_, i) => i) });
  cache.append(pre.newKeys, pre.newValues, toks.slice(0, context), toks.slice(0, context).map((_, i) => i));
  const req = { embeds: m.embed(toks.slice(context)), positions: toks.slice(context).map((_, i) => context + i), logitRows: 'all' as const };
  const times: number[] = [];
  for (let r = 0; r < 3; r++) {
    const t = performance.now();
    await m.forward(cache, req);
    times.push(performance.now() - t);
  }
  return median(times);
}

/**
 * Median decode step (ms) at `context` for both attention designs, same weights, same cache contents.
 * concat: the past is gathered into [1, kvH, past, d] tensors (a copy per layer per step) and the
 * graph concatenates past and new K/V (another copy); split-past: Model.forward as shipped.
 */
async function compareAttention(m: Model, ck: Checkpoint, threads: number, spinning: boolean, context: number, steps: number): Promise<{ splitMs: number; concatMs: number }> {
  const cfg = ck.config;
  const { numLayers, numKvHeads: kvH, headDim: d, hiddenSize: H } = cfg;
  const toks = tokensFor(ck, context + steps);
  const cache = m.createCache();
  const pre = await m.forward(cache, { embeds: m.embed(toks.slice(0, context)), positions: toks.slice(0, context).map((_, i) => i) });
  cache.append(pre.newKeys, pre.newValues, toks.slice(0, context), toks.slice(0, context).map((_, i) => i));
  const session = await ort.InferenceSession.create(buildGraph(ck, { attention: 'concat' }), {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: spinning ? '1' : '0' } } },
  });
  try {
    const split: number[] = [];
    const concat: number[] = [];
    for (let s = 0; s < steps; s++) {
      const tok = toks[context + s];
      const pos = cache.length;
      let t = performance.now();
      const r = await m.forward(cache, { embeds: m.embed([tok]), positions: [pos] });
      split.push(performance.now() - t);

      t = performance.now();
      const feeds: Record<string, ort.Tensor> = {
        inputs_embeds: new ort.Tensor('float32', m.embed([tok]), [1, 1, H]),
        position_ids: new ort.Tensor('int64', BigInt64Array.of(BigInt(pos)), [1, 1]),
        attention_bias: new ort.Tensor('float32', new Float32Array(pos + 1), [1, 1, 1, pos + 1]),
        logit_rows: new ort.Tensor('int64', BigInt64Array.of(0n), [1]),
      };
      for (let l = 0; l < numLayers; l++) {
        feeds[pastKeyName(l)] = new ort.Tensor('float32', cache.keys(l), [1, kvH, pos, d]);
        feeds[pastValueName(l)] = new ort.Tensor('float32', cache.values(l), [1, kvH, pos, d]);
      }
      const out = await session.run(feeds);
      concat.push(performance.now() - t);
      // Both designs must agree before their timings mean anything.
      const last = numLayers - 1;
      const k = out[newKeyName(last)].data as Float32Array;
      const v = out[newValueName(last)].data as Float32Array;
      if (Math.abs(k[0] - r.newKeys[last][0]) > 1e-4 || Math.abs(v[0] - r.newValues[last][0]) > 1e-4) throw new Error('attention designs disagree');
      cache.append(r.newKeys, r.newValues, [tok], [pos]);
    }
    return { splitMs: median(split.slice(2)), concatMs: median(concat.slice(2)) };
  } finally {
    await session.release();
  }
}

const mib = (b: number): number => Math.round(b / 2 ** 20);
const r1 = (x: number): number => Math.round(x * 10) / 10;

export async function run(args: string[]): Promise<object> {
  const quick = args.includes('--quick');
  const threads = Number(arg(args, '--threads') ?? 2);
  const steps = Number(arg(args, '--steps') ?? (quick ? 8 : 48));
  const spinning = args.includes('--spin');
  const out = resolve(arg(args, '--out') ?? join(ROOT, 'bench', quick ? 'out' : 'results', quick ? 'engine-quick.json' : 'engine.json'));
  const loadAvgStart = (await import('node:os')).loadavg().map(r1);
  const { dir, source } = modelDir(args);

  const rssBefore = process.memoryUsage().rss;
  let t = performance.now();
  const ck = await loadCheckpoint(dir);
  const checkpointMs = performance.now() - t;

  const cacheDir = mkdtempSync(join(tmpdir(), 'slip-graphs-'));
  let model: Model | null = null;
  try {
    t = performance.now();
    const cold = await Model.load(ck, { threads, spinning, cacheDir });
    const coldMs = performance.now() - t;
    const coldStats = cold.loadStats;
    const rssAfterLoad = process.memoryUsage().rss;
    await cold.dispose();

    t = performance.now();
    model = await Model.load(ck, { threads, spinning, cacheDir });
    const cachedMs = performance.now() - t;
    const cachedStats = model.loadStats;

    // A first long forward pays onnxruntime's arena growth: warm up before timing.
    await prefillTokS(model, ck, 2048, 1);
    const prefill512 = await prefillTokS(model, ck, 512, quick ? 1 : 5);
    const prefill2048 = await prefillTokS(model, ck, 2048, quick ? 1 : 3);
    const dec = await decode(model, ck, 512, steps);
    const dec2048 = await decode(model, ck, 2048 - steps - 2, steps);
    const verify16 = await verify(model, ck, 512, 16);
    const verify81 = await verify(model, ck, 512, 81);
    const bandwidth = copyBandwidth();
    const gemm = await gemmGflops(threads, spinning);
    // Decode's own pattern: one row through a weight matrix far beyond the caches (2048 × 16384
    // fp32 = 128 MiB), so GFLOP/s × 2 bytes per FLOP is the rate onnxruntime streams weights at.
    const gemvGBs = (await gemmGflops(threads, spinning, 1, 2048, 16384, 9)) * 2;
    const profiles = quick ? [] : [await profileDecode(ck, threads, spinning, 512), await profileDecode(ck, threads, spinning, 2048)];
    const attention = args.includes('--attention') ? await compareAttention(model, ck, threads, spinning, 512, steps) : null;

    const cfg = ck.config;
    const params = linearParams(cfg);
    const kvBytesAt = (capacity: number): number => 2 * cfg.numLayers * cfg.numKvHeads * capacity * cfg.headDim * 4; // K and V read per step, whole capacity
    const bytesPerToken = params.perToken * 4 + kvBytesAt(dec.capacity);
    const bytesPerToken2048 = params.perToken * 4 + kvBytesAt(dec2048.capacity);
    const prefillGflops = (2 * (params.perToken - cfg.vocabSize * cfg.hiddenSize) * prefill512.tokS) / 1e9;
    const report = {
      model: { dir, source, family: cfg.family, hidden: cfg.hiddenSize, layers: cfg.numLayers, heads: `${cfg.numHeads}/${cfg.numKvHeads}`, vocab: cfg.vocabSize, linearParamsM: r1(params.total / 1e6) },
      threads,
      spinning,
      load: {
        checkpointMs: Math.round(checkpointMs),
        coldMs: Math.round(coldMs),
        coldBuildMs: Math.round(coldStats.buildMs),
        coldSessionMs: Math.round(coldStats.sessionMs),
        cachedMs: Math.round(cachedMs),
        cachedReadMs: Math.round(cachedStats.cacheReadMs),
        cachedSessionMs: Math.round(cachedStats.sessionMs),
        cacheHit: cachedStats.cacheHit,
      },
      memory: { rssBeforeMiB: mib(rssBefore), rssAfterLoadMiB: mib(rssAfterLoad), loadDeltaMiB: mib(rssAfterLoad - rssBefore) },
      prefill: { tokS512: Math.round(prefill512.tokS), ms512: Math.round(prefill512.ms), tokS2048: Math.round(prefill2048.tokS), ms2048: Math.round(prefill2048.ms) },
      decode: { context: 512, steps, tokS: r1(dec.tokS), medianMs: r1(dec.medianMs), p90Ms: r1(dec.p90Ms), cacheCapacity: dec.capacity },
      decode2048: { context: `${2048 - steps - 2}..2048`, steps, tokS: r1(dec2048.tokS), medianMs: r1(dec2048.medianMs), p90Ms: r1(dec2048.p90Ms), cacheCapacity: dec2048.capacity },
      verify: { context: 512, q16Ms: r1(verify16), q81Ms: r1(verify81) },
      profile: profiles.map((p) => ({ past: p.past, stepMs: r1(p.stepMs), kernelMs: r1(p.kernelMs), byOpMicros: p.byOp })),
      attention: attention && { context: 512, splitPastMs: r1(attention.splitMs), concatMs: r1(attention.concatMs) },
      limits: {
        bytesPerDecodeTokenMiB: r1(bytesPerToken / 2 ** 20),
        decodeEffectiveGBs: r1((bytesPerToken * dec.tokS) / 1e9),
        bytesPerDecodeTokenMiB2048: r1(bytesPerToken2048 / 2 ** 20),
        decodeEffectiveGBs2048: r1((bytesPerToken2048 * dec2048.tokS) / 1e9),
        copyBandwidthGBs: r1(bandwidth),
        gemvBandwidthGBs: r1(gemvGBs),
        prefillGflops: r1(prefillGflops),
        gemmGflops: r1(gemm),
        prefillShareOfGemm: Math.round((100 * prefillGflops) / gemm) / 100,
        decodeGflops: r1((2 * params.perToken * dec.tokS) / 1e9),
      },
      load_avg: (await import('node:os')).loadavg().map(r1),
      load_avg_start: loadAvgStart,
    };

    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
    const rows: Array<[string, string]> = [
      ['model', `${source}: ${cfg.family} H${cfg.hiddenSize} L${cfg.numLayers} heads ${cfg.numHeads}/${cfg.numKvHeads} V${cfg.vocabSize} (${report.model.linearParamsM}M linear params)`],
      ['threads', `${threads}${spinning ? ', spinning' : ''}`],
      ['prefill 512', `${report.prefill.tokS512} tok/s (${report.prefill.ms512} ms)`],
      ['prefill 2048', `${report.prefill.tokS2048} tok/s (${report.prefill.ms2048} ms)`],
      ['decode @512', `${report.decode.tokS} tok/s (median ${report.decode.medianMs} ms, p90 ${report.decode.p90Ms} ms)`],
      ['decode @2048', `${report.decode2048.tokS} tok/s (median ${report.decode2048.medianMs} ms, p90 ${report.decode2048.p90Ms} ms; context ${report.decode2048.context})`],
      ['verify @512', `q=16 ${report.verify.q16Ms} ms, q=81 ${report.verify.q81Ms} ms`],
      ['memory', `RSS ${report.memory.rssAfterLoadMiB} MiB after load (+${report.memory.loadDeltaMiB} MiB)`],
      ['load cold', `${report.load.coldMs} ms (graph build ${report.load.coldBuildMs}, session ${report.load.coldSessionMs}); checkpoint open ${report.load.checkpointMs} ms`],
      ['load cached', `${report.load.cachedMs} ms (read ${report.load.cachedReadMs}, session ${report.load.cachedSessionMs})`],
      ['decode bytes', `${report.limits.bytesPerDecodeTokenMiB} MiB/token → ${report.limits.decodeEffectiveGBs} GB/s effective @512, ${report.limits.bytesPerDecodeTokenMiB2048} MiB/token → ${report.limits.decodeEffectiveGBs2048} GB/s @2048 (JS copy bandwidth ${report.limits.copyBandwidthGBs} GB/s; ORT one-row MatMul over 128 MiB of weights ${report.limits.gemvBandwidthGBs} GB/s)`],
      ['compute', `prefill ${report.limits.prefillGflops} GFLOP/s (${Math.round(report.limits.prefillShareOfGemm * 100)}% of ORT's MatMul ${report.limits.gemmGflops} GFLOP/s), decode ${report.limits.decodeGflops} GFLOP/s`],
      ['load avg', `${report.load_avg_start.join(' ')} → ${report.load_avg.join(' ')}`],
    ];
    for (const p of report.profile) {
      const top = Object.entries(p.byOpMicros).slice(0, 7).map(([k, v]) => `${k} ${v}`).join(', ');
      rows.push([`profile @${p.past}`, `step ${p.stepMs} ms, kernels ${p.kernelMs} ms; µs/step: ${top}`]);
    }
    if (report.attention) rows.push(['attention @512', `split-past ${report.attention.splitPastMs} ms/step, concat ${report.attention.concatMs} ms/step`]);
    const w = Math.max(...rows.map(([k]) => k.length));
    process.stdout.write(`${rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n')}\n`);
    const md = [`# bench engine (${new Date().toISOString().slice(0, 10)})`, '', `\`${`./bin/slipstream bench engine ${args.join(' ')}`.trim()}\``, '', '| | |', '|---|---|', ...rows.map(([k, v]) => `| ${k} | ${v} |`), ''];
    writeFileSync(out.replace(/\.json$/, '.md'), md.join('\n'));
    return report;
  } finally {
    await model?.dispose();
    rmSync(cacheDir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  run(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  });
}
