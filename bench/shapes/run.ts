// CPU latency of candidate model shapes with our engine (issue 3: "choose the shape by measuring
// CPU latency with our engine vs held-out loss"). Every shape is a qwen2 checkpoint with random
// weights (latency does not depend on the values) and the shipped model's vocabulary (15,232),
// head size (64), 2 KV heads, MLP width 2.75 × hidden and tied embeddings, written once (bf16)
// under .cache/bench-shapes/. All shapes stay loaded and are measured interleaved — each round
// runs every shape once, the order rotating between rounds — so machine noise hits them alike;
// the report gives per-shape medians and the median of the per-round ratios to the shipped shape.
//
//   ./bin/slipstream bench shapes [--quick] [--rounds N] [--steps N] [--threads N] [--weight-bits 8|4] [--shapes d512x8,d640x8,...] [--out FILE]
//
// Defaults are the committed run (bench/results/shapes.{json,md}); --quick (1 round, 4 decode
// steps, two shapes) writes bench/out/shapes-quick.{json,md}.

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { loadCheckpoint } from '../../src/engine/checkpoint';
import { Model } from '../../src/engine/model';
import { WEIGHT_BLOCK } from '../../src/engine/onnxGraph';
import type { Checkpoint } from '../../src/engine/types';
import { writeTinyCheckpoint } from '../../test/fixtures/tinyModel';
import { copyBandwidth, decode, linearParams, median, prefillTokS } from '../engine/run';
import { flag, refuseUnknownFlags } from '../args';

const ROOT = resolve(__dirname, '..', '..');
const VOCAB = 15232;
const HEAD_DIM = 64;
const KV_HEADS = 2;

export interface Shape {
  name: string;
  hidden: number;
  layers: number;
}

/** "d640x12" → hidden 640, 12 layers. */
export function parseShape(name: string): Shape {
  const m = /^d(\d+)x(\d+)$/.exec(name);
  if (!m) throw new Error(`shape ${JSON.stringify(name)}: expected dHIDDENxLAYERS, e.g. d640x8`);
  const hidden = Number(m[1]);
  const layers = Number(m[2]);
  if (hidden % HEAD_DIM !== 0 || (hidden / HEAD_DIM) % KV_HEADS !== 0) throw new Error(`shape ${name}: hidden must be a multiple of ${HEAD_DIM * KV_HEADS}`);
  return { name, hidden, layers };
}

/** MLP width: the shipped model's 1408 = 2.75 × 512, rounded to a multiple of 32. */
export function intermediateOf(hidden: number): number {
  return Math.round((2.75 * hidden) / 32) * 32;
}

/** Parameters of a shape as a qwen2 model with tied embeddings: total and without the embedding. */
export function paramCount(s: Shape): { total: number; nonEmbedding: number } {
  const H = s.hidden;
  const heads = H / HEAD_DIM;
  const I = intermediateOf(H);
  const attn = H * (heads + 2 * KV_HEADS) * HEAD_DIM + (heads + 2 * KV_HEADS) * HEAD_DIM + heads * HEAD_DIM * H; // q/k/v (+ bias), o
  const perLayer = attn + 3 * H * I + 2 * H; // + MLP + two RMSNorms
  const nonEmbedding = s.layers * perLayer + H;
  return { total: nonEmbedding + VOCAB * H, nonEmbedding };
}

function checkpointDir(s: Shape): string {
  const dir = join(ROOT, '.cache', 'bench-shapes', s.name);
  if (!existsSync(join(dir, 'model.safetensors'))) {
    const heads = s.hidden / HEAD_DIM;
    writeTinyCheckpoint(dir, {
      family: 'qwen2',
      tied: true,
      hidden: s.hidden,
      layers: s.layers,
      heads,
      kvHeads: KV_HEADS,
      intermediate: intermediateOf(s.hidden),
      vocabSize: VOCAB,
      maxPositionEmbeddings: 2048,
      dtype: 'BF16',
      seed: 1,
    });
  }
  return dir;
}

const r1 = (x: number): number => Math.round(x * 10) / 10;
const r2 = (x: number): number => Math.round(x * 100) / 100;

type Metric = 'prefill512' | 'prefill2048' | 'decode512' | 'decode2048';
const METRICS: readonly Metric[] = ['prefill512', 'prefill2048', 'decode512', 'decode2048'];

const KNOWN_FLAGS = new Set(['quick', 'rounds', 'steps', 'threads', 'weight-bits', 'shapes', 'out']);

export async function run(args: string[]): Promise<object> {
  refuseUnknownFlags('shapes', args, KNOWN_FLAGS);
  const quick = args.includes('--quick');
  const rounds = Number(flag(args, 'rounds') ?? (quick ? 1 : 5));
  const steps = Number(flag(args, 'steps') ?? (quick ? 4 : 24));
  const threads = Number(flag(args, 'threads') ?? 2);
  const weightBits = Number(flag(args, 'weight-bits') ?? 0);
  if (weightBits !== 0 && weightBits !== 8 && weightBits !== 4) throw new Error(`--weight-bits takes 8 or 4 (fp32 when left out), got ${flag(args, 'weight-bits')}`);
  // bytes a decode step streams per linear weight: fp32, or the codes plus one fp32 scale per block of 32
  const bytesPerWeight = weightBits === 0 ? 4 : weightBits / 8 + 4 / WEIGHT_BLOCK;
  const shapes = (flag(args, 'shapes') ?? (quick ? 'd512x8,d640x8' : 'd512x8,d640x8,d512x12,d640x12,d768x8')).split(',').map(parseShape);
  const out = resolve(flag(args, 'out') ?? join(ROOT, 'bench', quick ? 'out' : 'results', quick ? 'shapes-quick.json' : 'shapes.json'));
  const log = (s: string): void => void process.stderr.write(`${s}\n`);
  const loadStart = loadavg().map(r1);
  const started = performance.now();

  const loaded: Array<{ shape: Shape; ck: Checkpoint; model: Model; loadMs: number }> = [];
  try {
    for (const shape of shapes) {
      const dir = checkpointDir(shape);
      const t = performance.now();
      const ck = await loadCheckpoint(dir);
      const model = await Model.load(ck, { threads, weightBits: weightBits === 0 ? undefined : (weightBits as 4 | 8) });
      loaded.push({ shape, ck, model, loadMs: performance.now() - t });
      log(`[shapes] ${shape.name} loaded in ${Math.round(performance.now() - t)} ms`);
    }
    // Warm every session once for the row counts used (first runs pay allocation).
    for (const l of loaded) await prefillTokS(l.model, l.ck, 512, 1);

    const samples = new Map<string, Record<Metric, number[]>>(shapes.map((s) => [s.name, { prefill512: [], prefill2048: [], decode512: [], decode2048: [] }]));
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < loaded.length; k++) {
        const l = loaded[(k + r) % loaded.length];
        const s = samples.get(l.shape.name)!;
        s.prefill512.push((await prefillTokS(l.model, l.ck, 512, 1)).tokS);
        s.prefill2048.push((await prefillTokS(l.model, l.ck, 2048, 1)).tokS);
        s.decode512.push((await decode(l.model, l.ck, 512, steps)).tokS);
        s.decode2048.push((await decode(l.model, l.ck, 2048 - steps - 2, steps)).tokS);
      }
      log(`[shapes] round ${r + 1}/${rounds} done, ${Math.round((performance.now() - started) / 1000)} s`);
    }
    const bandwidth = copyBandwidth();
    const base = samples.get(shapes[0].name)!;
    const rows = loaded.map((l) => {
      const s = samples.get(l.shape.name)!;
      const params = paramCount(l.shape);
      const lin = linearParams(l.ck.config);
      const med = Object.fromEntries(METRICS.map((m) => [m, r1(median(s[m]))])) as Record<Metric, number>;
      const ratio = Object.fromEntries(METRICS.map((m) => [m, r2(median(s[m].map((x, i) => x / base[m][i])))])) as Record<Metric, number>;
      return {
        shape: l.shape.name,
        hidden: l.shape.hidden,
        layers: l.shape.layers,
        heads: `${l.shape.hidden / HEAD_DIM}/${KV_HEADS}`,
        intermediate: intermediateOf(l.shape.hidden),
        paramsM: r1(params.total / 1e6),
        nonEmbeddingParamsM: r1(params.nonEmbedding / 1e6),
        decodeMiBPerToken: r1((lin.perToken * bytesPerWeight) / 2 ** 20),
        loadMs: Math.round(l.loadMs),
        tokS: med,
        ratioToFirst: ratio,
        meetsTargets: med.decode512 >= 100 && med.decode2048 >= 100 && med.prefill2048 >= 1000,
      };
    });
    const report = {
      bench: 'shapes',
      command: `./bin/slipstream bench shapes ${args.join(' ')}`.trim(),
      threads,
      weights: weightBits === 0 ? 'fp32' : `${weightBits}-bit (MatMulNBits, blocks of ${WEIGHT_BLOCK})`,
      rounds,
      decodeSteps: steps,
      vocab: VOCAB,
      copyBandwidthGBs: r1(bandwidth),
      wallSeconds: Math.round((performance.now() - started) / 1000),
      loadAvg: { start: loadStart, end: loadavg().map(r1) },
      shapes: rows,
    };
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify(report, null, 1)}\n`);
    const md = [
      `# bench shapes (${new Date().toISOString().slice(0, 10)})`,
      '',
      `\`${report.command}\` — ${report.weights} weights, ${rounds} interleaved rounds, ${steps} decode steps each, ${threads} threads, ${report.wallSeconds} s, load average ${loadStart.join(' ')} → ${report.loadAvg.end.join(' ')}; copy bandwidth ${report.copyBandwidthGBs} GB/s`,
      '',
      `| shape | params (non-emb.) | decode MiB/token | prefill 512 tok/s | prefill 2048 tok/s | decode @512 tok/s | decode @2048 tok/s | ratios to ${shapes[0].name} (p512 / p2048 / d512 / d2048) | meets targets |`,
      '|---|---|---|---|---|---|---|---|---|',
      ...rows.map(
        (r) =>
          `| ${r.shape} (H${r.hidden} L${r.layers}, heads ${r.heads}, MLP ${r.intermediate}) | ${r.paramsM}M (${r.nonEmbeddingParamsM}M) | ${r.decodeMiBPerToken} | ${r.tokS.prefill512} | ${r.tokS.prefill2048} | ${r.tokS.decode512} | ${r.tokS.decode2048} | ${r.ratioToFirst.prefill512} / ${r.ratioToFirst.prefill2048} / ${r.ratioToFirst.decode512} / ${r.ratioToFirst.decode2048} | ${r.meetsTargets ? 'yes' : 'no'} |`,
      ),
      '',
      'Targets: decode ≥ 100 tok/s (at 512 and at 2048 context), prefill ≥ 1,000 tok/s (2048 tokens).',
      '',
    ].join('\n');
    writeFileSync(out.replace(/\.json$/, '.md'), md);
    process.stdout.write(md);
    return { out, shapes: rows.map((r) => ({ shape: r.shape, paramsM: r.paramsM, tokS: r.tokS })) };
  } finally {
    for (const l of loaded) await l.model.dispose();
  }
}
