// Block-quantized weights (GraphOptions.weightBits: com.microsoft MatMulNBits, blocks of 32 input
// features, int8 compute) against the fp32 graph, on one model, side by side in one run: decode
// and prefill speed, graph size and load time, and what the quantization costs in accuracy on
// the recipe's held-out plain rows (loss, and how often the top-1 token is fp32's).
//
// Speed: all variants stay loaded and are timed interleaved — each round runs every variant once
// (the order rotating), so the machine's noise hits them alike; medians over rounds and the median
// of the per-round ratios to fp32. Decode: `--steps` single-token forwards after a 512-token and a
// 1,900-token prefill of held-out code; prefill: 512 tokens from an empty cache.
// Accuracy: the first `--rows` of the recipe's held-out rows per language (2,048 predictions
// each, bench/model/loss.ts), every variant on the same rows; loss difference paired by row.
//
//   ./bin/slipstream bench quantization [--model DIR] [--bits 0,8,4] [--rounds N] [--steps N] [--rows R] [--threads N] [--out FILE] [--quick]
//
// Defaults: the embedded model, fp32 (0) / 8 / 4 bits, 7 rounds, 32 steps, 8 rows per language,
// 2 threads, bench/results/quantization.{json,md}; --quick: 2 rounds, 4 steps, 1 row, bench/out/.

import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { loadCheckpoint } from '../../src/engine/checkpoint';
import { Model } from '../../src/engine/model';
import { buildGraph } from '../../src/engine/onnxGraph';
import { flag, num, refuseUnknownFlags } from '../args';
import { GROUP_LABEL, GROUPS, loadHeldout } from '../model/heldout';
import { argmax, logSumExp, recipePlainRows } from '../model/loss';
import { mean, median, pairedDifference, r1, r3 } from '../stats';

const ROOT = resolve(__dirname, '..', '..');
const KNOWN_FLAGS = new Set(['model', 'bits', 'rounds', 'steps', 'rows', 'threads', 'out', 'quick']);
type Bits = 0 | 4 | 8;
const label = (b: Bits): string => (b === 0 ? 'fp32' : `${b}-bit`);

export async function run(args: string[]): Promise<object> {
  refuseUnknownFlags('quantization', args, KNOWN_FLAGS);
  const quick = args.includes('--quick');
  const bitsList = (flag(args, 'bits') ?? '0,8,4').split(',').map(Number) as Bits[];
  for (const b of bitsList) if (b !== 0 && b !== 4 && b !== 8) throw new Error(`--bits: ${b} is not 0 (fp32), 4 or 8`);
  if (bitsList[0] !== 0) throw new Error('--bits must start with 0: fp32 is the reference');
  const rounds = num(args, 'rounds', quick ? 2 : 7);
  const steps = num(args, 'steps', quick ? 4 : 32);
  const rowsPerGroup = num(args, 'rows', quick ? 1 : 8);
  const threads = num(args, 'threads', 2);
  const modelDir = resolve(flag(args, 'model') ?? join(ROOT, 'models', 'default'));
  const outFile = resolve(flag(args, 'out') ?? join(ROOT, 'bench', quick ? 'out' : 'results', quick ? 'quantization-quick.json' : 'quantization.json'));
  const log = (s: string): void => void process.stderr.write(`${s}\n`);
  const load0 = loadavg().map(r1);
  const started = performance.now();

  const ckpt = await loadCheckpoint(modelDir);
  const V = ckpt.config.vocabSize;
  const models = new Map<Bits, Model>();
  const loadInfo: Record<string, { graphMiB: number; buildMs: number; sessionMs: number }> = {};
  for (const b of bitsList) {
    const t = performance.now();
    const graphBytes = buildGraph(ckpt, { weightBits: b || undefined }).length;
    const buildMs = performance.now() - t;
    const m = await Model.load(ckpt, { threads, weightBits: b || undefined });
    models.set(b, m);
    loadInfo[label(b)] = { graphMiB: r1(graphBytes / 2 ** 20), buildMs: Math.round(buildMs), sessionMs: Math.round(m.loadStats.sessionMs) };
  }

  try {
    // --- accuracy on the recipe's held-out rows ---
    const accuracy: Record<string, unknown> = {};
    const docsByGroup = Object.fromEntries(GROUPS.map((g) => [g, loadHeldout(join(ROOT, 'bench', 'data', 'heldout'), g)]));
    for (const g of GROUPS) {
      const rows = recipePlainRows(docsByGroup[g], ckpt.tokenizer, g).rows.slice(0, rowsPerGroup);
      const perRow = new Map<Bits, number[]>(bitsList.map((b) => [b, []]));
      const agree = new Map<Bits, number>(bitsList.map((b) => [b, 0]));
      let predictions = 0;
      for (const row of rows) {
        const inputs = row.subarray(0, row.length - 1);
        let refTop: Int32Array | null = null;
        for (const b of bitsList) {
          const m = models.get(b)!;
          const out = await m.forward(m.createCache(), { embeds: m.embed(inputs), positions: Array.from(inputs, (_, i) => i), logitRows: 'all' });
          let nats = 0;
          const top = new Int32Array(inputs.length);
          for (let i = 0; i < inputs.length; i++) {
            nats += logSumExp(out.logits, i * V, V) - out.logits[i * V + row[i + 1]];
            top[i] = argmax(out.logits, i * V, V);
          }
          perRow.get(b)!.push(nats / inputs.length);
          if (b === 0) refTop = top;
          else agree.set(b, agree.get(b)! + top.reduce((a, t, i) => a + (t === refTop![i] ? 1 : 0), 0));
        }
        predictions += inputs.length;
      }
      const ref = perRow.get(0)!;
      accuracy[g] = Object.fromEntries(
        bitsList.map((b) => {
          const xs = perRow.get(b)!;
          const d = pairedDifference(xs, ref);
          return [label(b), { natsPerToken: Number(mean(xs).toFixed(4)), deltaVsFp32: Number(d.diff.toFixed(4)), deltaCi95: d.ci95.map((x) => Number(x.toFixed(4))), top1SameAsFp32: b === 0 ? 100 : r1((100 * agree.get(b)!) / predictions) }];
        }),
      );
      accuracy[g] = { rows: rows.length, predictions, ...(accuracy[g] as object) };
      log(`[quantization] ${g}: ${JSON.stringify(accuracy[g])}`);
    }

    // --- speed, interleaved ---
    const code = docsByGroup.python.map((d) => d.text).join('\n');
    const ids = ckpt.tokenizer.encode(code.slice(0, 40_000));
    if (ids.length < 1900 + steps) throw new Error('not enough held-out text for the 1,900-token decode');
    const speed = new Map<Bits, { d512: number[]; d1900: number[]; p512: number[] }>(bitsList.map((b) => [b, { d512: [], d1900: [], p512: [] }]));
    const decodeMs = async (m: Model, past: number): Promise<number> => {
      const c = m.createCache();
      const pre = ids.slice(0, past);
      const out = await m.forward(c, { embeds: m.embed(pre), positions: pre.map((_, i) => i) });
      c.append(out.newKeys, out.newValues, pre, pre.map((_, i) => i));
      const t = performance.now();
      for (let s = 0; s < steps; s++) {
        const pos = c.nextPosition();
        const step = await m.forward(c, { embeds: m.embed([ids[past + s]]), positions: [pos] });
        c.append(step.newKeys, step.newValues, [ids[past + s]], [pos]);
      }
      return (performance.now() - t) / steps;
    };
    for (let r = 0; r < rounds; r++) {
      const order = bitsList.map((_, i) => bitsList[(i + r) % bitsList.length]);
      for (const b of order) {
        const m = models.get(b)!;
        const s = speed.get(b)!;
        s.d512.push(await decodeMs(m, 512));
        s.d1900.push(await decodeMs(m, 1900));
        const pre = ids.slice(0, 512);
        const t = performance.now();
        await m.forward(m.createCache(), { embeds: m.embed(pre), positions: pre.map((_, i) => i) });
        s.p512.push(performance.now() - t);
      }
      log(`[quantization] round ${r + 1}/${rounds}`);
    }
    const ref = speed.get(0)!;
    const ratio = (xs: number[], ys: number[]): number => r3(median(xs.map((x, i) => ys[i] / x)));
    const speedOut = Object.fromEntries(
      bitsList.map((b) => {
        const s = speed.get(b)!;
        return [
          label(b),
          {
            decode512TokS: Math.round(1000 / median(s.d512)),
            decode1900TokS: Math.round(1000 / median(s.d1900)),
            prefill512TokS: Math.round(512_000 / median(s.p512)),
            // > 1 = faster than fp32 (fp32 ms / this ms, per round)
            decode512SpeedupVsFp32: ratio(s.d512, ref.d512),
            decode1900SpeedupVsFp32: ratio(s.d1900, ref.d1900),
            prefill512SpeedupVsFp32: ratio(s.p512, ref.p512),
          },
        ];
      }),
    );

    const report = {
      bench: 'quantization',
      command: `slipstream bench quantization ${args.join(' ')}`.trim(),
      model: modelDir,
      threads,
      rounds,
      steps,
      seconds: Math.round((performance.now() - started) / 1000),
      loadAvg: { start: load0, end: loadavg().map(r1) },
      load: loadInfo,
      speed: speedOut,
      accuracy,
    };
    mkdirSync(dirname(outFile), { recursive: true });
    writeFileSync(outFile, `${JSON.stringify(report, null, 1)}\n`);
    const acc = accuracy as Record<string, Record<string, { natsPerToken: number; deltaVsFp32: number; deltaCi95: number[]; top1SameAsFp32: number }>>;
    const md = [
      '# Block-quantized weights vs fp32 (`bench quantization`)',
      '',
      `Model \`${modelDir}\`, ${threads} threads, ${rounds} interleaved rounds (medians; speed-up = median of per-round fp32 ms / variant ms), load average ${load0.join(' ')} → ${report.loadAvg.end.join(' ')}, ${report.seconds} s.`,
      '',
      '| weights | graph MiB | decode tok/s @512 (× fp32) | decode tok/s @1900 (× fp32) | prefill 512 tok/s (× fp32) |',
      '| --- | --- | --- | --- | --- |',
      ...bitsList.map((b) => {
        const s = speedOut[label(b)];
        return `| ${label(b)} | ${loadInfo[label(b)].graphMiB} | ${s.decode512TokS} (${s.decode512SpeedupVsFp32}) | ${s.decode1900TokS} (${s.decode1900SpeedupVsFp32}) | ${s.prefill512TokS} (${s.prefill512SpeedupVsFp32}) |`;
      }),
      '',
      `Accuracy on the recipe's held-out rows (${rowsPerGroup} × 2,048 predictions per language): loss in nats/token, Δ vs fp32 paired by row [bootstrap 95%], share of positions whose top-1 token is fp32's.`,
      '',
      `| language | ${bitsList.map((b) => label(b)).join(' | ')} |`,
      `| --- | ${bitsList.map(() => '---').join(' | ')} |`,
      ...GROUPS.map((g) => `| ${GROUP_LABEL[g]} | ${bitsList.map((b) => {
        const a = acc[g][label(b)];
        return b === 0 ? `${a.natsPerToken}` : `${a.natsPerToken} (Δ ${a.deltaVsFp32 >= 0 ? '+' : ''}${a.deltaVsFp32} [${a.deltaCi95.join(', ')}]; top-1 ${a.top1SameAsFp32}%)`;
      }).join(' | ')} |`),
      '',
    ].join('\n');
    writeFileSync(outFile.replace(/\.json$/, '.md'), md);
    return { written: [outFile, outFile.replace(/\.json$/, '.md')], speed: speedOut };
  } finally {
    for (const m of models.values()) await m.dispose();
  }
}
