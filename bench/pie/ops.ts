// The cache-side cost of a PIE update, without the model: updateCache on a cache of the default
// model's shape (8 layers × 2 KV heads × 64) holding a 2048-token prompt, with a forward that
// costs nothing (zero K/V rows). What is left is the token diff, the slot moves (splices), the
// re-rotation of the moved keys and the bookkeeping — the overhead PIE adds on top of encoding
// the new tokens. Also the pieces alone: one re-rotation of the suffix, one tail move.

import { KvCache } from '../../src/engine/kvCache';
import { ropeSpec } from '../../src/engine/rope';
import type { ForwardRequest, ForwardResult } from '../../src/engine/types';
import type { StepModel } from '../../src/decoding/generate';
import { updateCache } from '../../src/completion/pie/cacheUpdate';
import type { CacheMode } from '../../src/completion/types';

const SHAPE = { numLayers: 8, numKvHeads: 2, headDim: 64 };
const LENGTH = 2048;
const VOCAB = 15232;

/** A StepModel whose forward returns zero K/V rows at once. */
class FreeModel implements StepModel {
  rows = 0;
  embed(tokens: ArrayLike<number>): Float32Array {
    return new Float32Array(tokens.length);
  }
  async forward(_cache: KvCache, req: ForwardRequest): Promise<ForwardResult> {
    const q = req.positions.length;
    this.rows += q;
    const n = SHAPE.numKvHeads * q * SHAPE.headDim;
    const rows = Array.from({ length: SHAPE.numLayers }, () => new Float32Array(n));
    return { logits: new Float32Array(VOCAB), rows: 1, newKeys: rows, newValues: rows.map(() => new Float32Array(n)) };
  }
}

interface OpsCase {
  name: string;
  /** The target prompt made from the cached one. */
  edit(tokens: number[], r: () => number): number[];
  mode?: CacheMode;
}

function randomTokens(n: number, r: () => number): number[] {
  return Array.from({ length: n }, () => 10 + Math.floor(r() * (VOCAB - 10)));
}

/** `places` edits spread over the prompt: each inserts or deletes 5–30 tokens. */
function multi(places: number): OpsCase['edit'] {
  return (tokens, r) => {
    const out = tokens.slice(0, -1);
    const at = Array.from({ length: places }, () => Math.floor(r() * (out.length - 40))).sort((a, b) => b - a);
    for (const p of at) {
      const n = 5 + Math.floor(r() * 26);
      if (r() < 0.5) out.splice(p, 0, ...randomTokens(n, r));
      else out.splice(p, n);
    }
    return [...out.slice(0, LENGTH - 1), tokens[tokens.length - 1]];
  };
}

const CASES: OpsCase[] = [
  { name: 'insert 8 tokens at 10%', edit: (t, r) => [...t.slice(0, 204), ...randomTokens(8, r), ...t.slice(204, -9), t[t.length - 1]] },
  { name: 'delete 20 tokens at 10%', edit: (t) => [...t.slice(0, 204), ...t.slice(224)] },
  { name: 'replace 10 by 12 tokens at 50%', edit: (t, r) => [...t.slice(0, 1024), ...randomTokens(12, r), ...t.slice(1034, -3), t[t.length - 1]] },
  { name: 'multi-place, 4 edits', edit: multi(4) },
  { name: 'multi-place, 16 edits', edit: multi(16) },
  { name: 'conflict: insert 8 tokens at 10%', mode: 'conflict', edit: (t, r) => [...t.slice(0, 204), ...randomTokens(8, r), ...t.slice(204, -9), t[t.length - 1]] },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const r2 = (x: number): number => Math.round(x * 100) / 100;

export interface OpsResult {
  shape: typeof SHAPE;
  promptTokens: number;
  /** Cache-side ms per update (model-free), median over reps. */
  updates: Array<{ case: string; ms: number; encoded: number }>;
  /** setPositions over the 1843 slots after 10% (one PIE suffix re-rotation), ms. */
  rotateSuffixMs: number;
  /** One splice that moves the tail after 10% (insert 8 rows), ms. */
  spliceTailMs: number;
}

export async function opsBench(r: () => number, reps: number): Promise<OpsResult> {
  const rope = ropeSpec({ headDim: SHAPE.headDim, ropeTheta: 10000, ropeScalingFactor: 1, ropeLayout: 'rotate-half' });
  const base = new KvCache(SHAPE, rope);
  const tokens = randomTokens(LENGTH, r);
  const rows = (n: number): Float32Array[] => Array.from({ length: SHAPE.numLayers }, () => Float32Array.from({ length: SHAPE.numKvHeads * n * SHAPE.headDim }, () => r() - 0.5));
  for (let s = 0; s < LENGTH; s += 256) {
    const n = Math.min(256, LENGTH - s);
    base.append(rows(n), rows(n), tokens.slice(s, s + n), Array.from({ length: n }, (_, i) => s + i));
  }
  const model = new FreeModel();
  const updates: OpsResult['updates'] = [];
  for (const c of CASES) {
    const ms: number[] = [];
    let encoded = 0;
    for (let k = 0; k < reps; k++) {
      const cache = base.fork();
      const target = c.edit(tokens, r);
      const t = performance.now();
      const out = await updateCache(model, cache, target, { mode: c.mode ?? 'pie' });
      ms.push(performance.now() - t);
      encoded = out.encoded;
    }
    updates.push({ case: c.name, ms: r2(median(ms)), encoded });
  }
  const rot: number[] = [];
  const tail: number[] = [];
  const from = Math.floor(LENGTH * 0.1);
  for (let k = 0; k < reps; k++) {
    const cache = base.fork();
    let t = performance.now();
    cache.rotate(from, LENGTH, 8);
    rot.push(performance.now() - t);
    const ins = { keys: rows(8), values: rows(8), tokens: randomTokens(8, r), positions: Array.from({ length: 8 }, (_, i) => from + i) };
    t = performance.now();
    cache.splice(from, 0, ins);
    tail.push(performance.now() - t);
  }
  return { shape: SHAPE, promptTokens: LENGTH, updates, rotateSuffixMs: r2(median(rot)), spliceTailMs: r2(median(tail)) };
}
