import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadCheckpoint } from '../../../src/engine/checkpoint';
import { KvCache, type KvRows, type KvShape } from '../../../src/engine/kvCache';
import { Model } from '../../../src/engine/model';
import { referenceForward } from '../../../src/engine/reference';
import { applyRope, ropeSpec } from '../../../src/engine/rope';
import type { Checkpoint, RopeLayout } from '../../../src/engine/types';
import { writeTinyCheckpoint } from '../../fixtures/tinyModel';

const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i);
function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
function closeTo(a: ArrayLike<number>, b: ArrayLike<number>, what: string, tol: number): void {
  const d = maxAbsDiff(a, b);
  assert.ok(d <= tol, `${what}: max abs diff ${d} > ${tol}`);
}
/** Slots [a, b) of every head of a [heads, T, d] tensor. */
function headSlice(x: Float32Array, heads: number, T: number, d: number, a: number, b: number): Float32Array {
  const out = new Float32Array(heads * (b - a) * d);
  for (let h = 0; h < heads; h++) out.set(x.subarray((h * T + a) * d, (h * T + b) * d), h * (b - a) * d);
  return out;
}
/** [heads, T, d] → [T, heads, d] (the row layout applyRope takes) and back. */
function toRows(x: Float32Array, heads: number, T: number, d: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let h = 0; h < heads; h++) for (let t = 0; t < T; t++) out.set(x.subarray((h * T + t) * d, (h * T + t + 1) * d), (t * heads + h) * d);
  return out;
}
function toHeads(x: Float32Array, heads: number, T: number, d: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let t = 0; t < T; t++) for (let h = 0; h < heads; h++) out.set(x.subarray((t * heads + h) * d, (t * heads + h + 1) * d), (h * T + t) * d);
  return out;
}

// ---------- bookkeeping, no model ----------

const SHAPE: KvShape = { numLayers: 2, numKvHeads: 3, headDim: 4 };

/** Synthetic rows whose every value names (layer, kind, head, token, dim), so moves are checkable. */
function rowsFor(tokens: number[], positions = tokens.map((t) => t)): KvRows {
  const { numLayers: L, numKvHeads: H, headDim: d } = SHAPE;
  const m = tokens.length;
  const make = (kind: number): Float32Array[] =>
    range(0, L).map((l) => {
      const a = new Float32Array(H * m * d); // [H, m, d]
      for (let h = 0; h < H; h++) for (let i = 0; i < m; i++) for (let j = 0; j < d; j++) a[(h * m + i) * d + j] = l * 1e5 + kind * 1e4 + h * 1e3 + tokens[i] * 10 + j;
      return a;
    });
  return { keys: make(1), values: make(2), tokens, positions };
}
function cacheOf(layout: RopeLayout = 'rotate-half', chunk = 4): KvCache {
  return new KvCache(SHAPE, ropeSpec({ headDim: SHAPE.headDim, ropeTheta: 10000, ropeScalingFactor: 1, ropeLayout: layout }), { chunk });
}
function append(c: KvCache, tokens: number[], positions = tokens.map((t) => t)): void {
  const r = rowsFor(tokens, positions);
  c.append(r.keys, r.values, r.tokens, r.positions);
}
/** The cache's contents must equal freshly built rows for `tokens` (values always; keys when unrotated). */
function assertHolds(c: KvCache, tokens: number[], positions?: number[]): void {
  assert.deepEqual(Array.from(c.tokens()), tokens);
  if (positions) assert.deepEqual(Array.from(c.positions()), positions);
  const want = rowsFor(tokens);
  for (let l = 0; l < SHAPE.numLayers; l++) {
    assert.deepEqual(c.values(l), want.values[l], `values layer ${l}`);
    if (!positions || positions.every((p, i) => p === c.encodedPositions()[i])) assert.deepEqual(c.keys(l), want.keys[l], `keys layer ${l}`);
  }
}

describe('KvCache bookkeeping', () => {
  it('append grows capacity in chunks and keeps every slot', () => {
    const c = cacheOf('rotate-half', 4);
    assert.equal(c.capacity, 0);
    append(c, [1, 2, 3]);
    assert.equal(c.capacity, 4);
    append(c, [4, 5, 6, 7, 8]);
    assert.equal(c.length, 8);
    assert.equal(c.capacity, 8);
    append(c, [9]);
    assert.equal(c.capacity, 12);
    assertHolds(c, range(1, 10), range(1, 10));
    assert.equal(c.nextPosition(), 10);
  });

  it('physical buffers are [kvHeads, capacity, headDim] with slots at h·capacity + s', () => {
    const c = cacheOf('rotate-half', 4);
    append(c, [1, 2, 3, 4, 5]);
    const v = c.physicalValues(1);
    assert.equal(v.length, SHAPE.numKvHeads * c.capacity * SHAPE.headDim);
    const h = 2;
    const s = 4; // token 5
    assert.equal(v[(h * c.capacity + s) * SHAPE.headDim + 3], 1e5 + 2e4 + h * 1e3 + 5 * 10 + 3);
  });

  it('truncate drops the tail; a big truncate gives memory back', () => {
    const c = cacheOf('rotate-half', 4);
    append(c, range(0, 30));
    c.truncate(40);
    assert.equal(c.length, 30);
    c.truncate(3);
    assertHolds(c, [0, 1, 2], [0, 1, 2]);
    assert.ok(c.capacity <= 8, `capacity ${c.capacity}`);
    append(c, [7]);
    assertHolds(c, [0, 1, 2, 7], [0, 1, 2, 7]);
  });

  it('splice deletes, inserts and replaces in the middle; positions of the tail are left alone', () => {
    const c = cacheOf('rotate-half', 4);
    append(c, range(0, 10));
    c.splice(2, 3); // delete 2,3,4
    assertHolds(c, [0, 1, 5, 6, 7, 8, 9], [0, 1, 5, 6, 7, 8, 9]);
    c.splice(1, 0, rowsFor([50, 51, 52, 53, 54, 55])); // insert, grows capacity
    assertHolds(c, [0, 50, 51, 52, 53, 54, 55, 1, 5, 6, 7, 8, 9], [0, 50, 51, 52, 53, 54, 55, 1, 5, 6, 7, 8, 9]);
    c.splice(3, 2, rowsFor([77])); // replace 52,53 by 77
    assertHolds(c, [0, 50, 51, 77, 54, 55, 1, 5, 6, 7, 8, 9]);
    c.splice(12, 0, rowsFor([99])); // at the end = append
    c.splice(0, 100); // deleteCount past the end is clamped
    assert.equal(c.length, 0);
  });

  it('compact keeps the prefix and the listed slots, in the listed order', () => {
    const c = cacheOf('rotate-half', 4);
    append(c, range(0, 12));
    c.compact([5, 9, 7, 11]);
    assertHolds(c, [0, 1, 2, 3, 4, 5, 9, 7, 11], [0, 1, 2, 3, 4, 5, 9, 7, 11]);
    c.compact([8]);
    assertHolds(c, [0, 1, 2, 3, 4, 5, 9, 7, 11]);
    assert.throws(() => c.compact([]), RangeError);
    assert.throws(() => c.compact([4, 2]), RangeError);
    assert.throws(() => c.compact([9]), RangeError);
  });

  it('fork is a deep copy', () => {
    const c = cacheOf('rotate-half', 4);
    append(c, [1, 2, 3]);
    const f = c.fork();
    append(f, [4]);
    f.rotate(0, 2, 5);
    f.splice(0, 1);
    assertHolds(c, [1, 2, 3], [1, 2, 3]);
    assert.deepEqual(Array.from(f.tokens()), [2, 3, 4]);
    assert.deepEqual(Array.from(f.positions()), [7, 3, 4]);
  });

  it('bytes() counts K, K_enc, V for every layer at capacity plus 3 int32 per slot', () => {
    const c = cacheOf('rotate-half', 4);
    append(c, [1, 2, 3, 4, 5]);
    const { numLayers, numKvHeads, headDim } = SHAPE;
    assert.equal(c.bytes(), numLayers * 3 * numKvHeads * 8 * headDim * 4 + 3 * 8 * 4);
  });

  for (const layout of ['rotate-half', 'interleaved'] as const) {
    it(`${layout}: rotate by +d then −d restores the keys bit for bit; keys follow R(pos − encPos)·K_enc`, () => {
      const c = cacheOf(layout, 4);
      append(c, range(0, 6));
      const before = range(0, SHAPE.numLayers).map((l) => c.keys(l));
      c.rotate(2, 5, 13);
      assert.deepEqual(Array.from(c.positions()), [0, 1, 15, 16, 17, 5]);
      const spec = c.rope;
      for (let l = 0; l < SHAPE.numLayers; l++) {
        const enc = toRows(before[l], SHAPE.numKvHeads, 6, SHAPE.headDim);
        const want = toHeads(applyRope(spec, enc, SHAPE.numKvHeads, [0, 0, 13, 13, 13, 0]), SHAPE.numKvHeads, 6, SHAPE.headDim);
        closeTo(c.keys(l), want, `rotated keys ${l}`, 1e-2); // synthetic values up to 1e5
      }
      c.rotate(2, 5, 7);
      c.rotate(2, 5, -20);
      for (let l = 0; l < SHAPE.numLayers; l++) assert.deepEqual(c.keys(l), before[l]);
      c.setPositions(0, [100, 101]);
      c.setPositions(0, [0, 1]);
      for (let l = 0; l < SHAPE.numLayers; l++) assert.deepEqual(c.keys(l), before[l]);
    });
  }

  for (const layout of ['rotate-half', 'interleaved'] as const) {
    it(`${layout}: random pre-RoPE keys, 50 random PIE shifts: keys = keys encoded directly at the new positions (no drift)`, () => {
      // What PIE relies on: a suffix key re-rotated by Δ equals the key the graph would have
      // produced at its new position for the same pre-RoPE vector (the same hidden state).
      const shape: KvShape = { numLayers: 2, numKvHeads: 2, headDim: 64 };
      const spec = ropeSpec({ headDim: 64, ropeTheta: 10000, ropeScalingFactor: 1, ropeLayout: layout });
      const c = new KvCache(shape, spec, { chunk: 16 });
      const n = 300;
      let seed = layout === 'interleaved' ? 9 : 7;
      const rand = (): number => {
        seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
        return seed / 2 ** 32;
      };
      const pre = range(0, shape.numLayers).map(() => Float32Array.from({ length: n * shape.numKvHeads * 64 }, () => 2 * rand() - 1)); // [n, heads, d]
      let pos = range(0, n).map((i) => i * 3 + 100); // sparse, like a cache after deletions
      const enc = pre.map((x) => toHeads(applyRope(spec, x, shape.numKvHeads, pos), shape.numKvHeads, n, 64));
      c.append(enc, enc, range(0, n), pos);
      for (let k = 0; k < 50; k++) {
        const a = Math.floor(rand() * n);
        if (k % 5 === 4) {
          // Many distinct Δs in one call (one cos/sin row each).
          const next = pos.slice(a).map(() => Math.floor(rand() * 1900));
          c.setPositions(a, next);
          pos = [...pos.slice(0, a), ...next];
        } else {
          const d = Math.floor(rand() * 200) - 100;
          if (pos.slice(a).some((p) => p + d < 0)) continue;
          c.rotate(a, n, d);
          pos = pos.map((p, i) => (i >= a ? p + d : p));
        }
      }
      assert.deepEqual(Array.from(c.positions()), pos);
      for (let l = 0; l < shape.numLayers; l++) {
        const direct = toHeads(applyRope(spec, pre[l], shape.numKvHeads, pos), shape.numKvHeads, n, 64);
        closeTo(c.keys(l), direct, `${layout} keys layer ${l}`, 2e-6);
        closeTo(c.values(l), enc[l], `${layout} values layer ${l}`, 0);
      }
    });
  }

  for (const layout of ['rotate-half', 'interleaved'] as const) {
    it(`${layout}: relayout + write = the same edit made with one splice per place and setPositions (300 random updates)`, () => {
      // relayout copies each kept slot once (in place or into fresh arrays) and computes re-rotated
      // keys at the destination; the reference does it the slow way. Same bits expected, including
      // capacity growth, giving memory back, runs moving both ways and kept slots whose key differs
      // from K_enc (positions left stale by an earlier conflict-style update).
      let seed = layout === 'interleaved' ? 3 : 11;
      const rand = (): number => {
        seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
        return seed / 2 ** 32;
      };
      const a = cacheOf(layout, 4);
      const b = cacheOf(layout, 4);
      append(a, range(0, 20));
      append(b, range(0, 20));
      let next = 100;
      for (let step = 0; step < 300; step++) {
        const len = a.length;
        // Ascending non-overlapping splices in old coordinates.
        const splices: Array<{ start: number; end: number; tokens: number[] }> = [];
        for (let at = Math.floor(rand() * 4); at <= len && splices.length < 5; at += 1 + Math.floor(rand() * 8)) {
          const end = Math.min(len, at + (rand() < 0.5 ? 0 : Math.floor(rand() * 6)));
          const tokens = range(0, rand() < 0.3 ? 0 : Math.floor(rand() * 12)).map(() => next++);
          if (end > at || tokens.length > 0) splices.push({ start: at, end, tokens });
          at = end;
        }
        if (len > 40) splices.push({ start: Math.max(splices.at(-1)?.end ?? 0, len - 10), end: len, tokens: [] });
        const rotate = rand() < 0.8;
        // Target positions: natural with probability 0.8, else the old ones kept (conflict).
        const runs: Array<{ from: number; to: number; n: number }> = [];
        const inserts: Array<{ at: number; tokens: number[] }> = [];
        let o = 0;
        let t = 0;
        for (const s of splices) {
          if (s.start > o) runs.push({ from: o, to: t, n: s.start - o });
          t += s.start - o;
          inserts.push({ at: t, tokens: s.tokens });
          t += s.tokens.length;
          o = s.end;
        }
        if (len > o) runs.push({ from: o, to: t, n: len - o });
        t += len - o;
        const positions = rotate ? range(0, t) : undefined;
        a.relayout(t, runs, positions);
        for (const ins of inserts) if (ins.tokens.length > 0) a.write(ins.at, rowsFor(ins.tokens, ins.tokens.map((_, i) => ins.at + i)));
        // Reference: one splice per place, right to left, then the positions.
        for (let k = splices.length - 1; k >= 0; k--) {
          const s = splices[k];
          const at = inserts[k].at;
          b.splice(s.start, s.end - s.start, s.tokens.length > 0 ? rowsFor(s.tokens, s.tokens.map((_, i) => at + i)) : undefined);
        }
        if (positions && t > 0) b.setPositions(0, positions);
        const where = `${layout} step ${step}`;
        assert.equal(a.length, t, where);
        assert.deepEqual(a.tokens(), b.tokens(), `${where}: tokens`);
        assert.deepEqual(a.positions(), b.positions(), `${where}: positions`);
        assert.deepEqual(a.encodedPositions(), b.encodedPositions(), `${where}: encoded positions`);
        for (let l = 0; l < SHAPE.numLayers; l++) {
          assert.deepEqual(a.keys(l), b.keys(l), `${where}: keys ${l}`);
          assert.deepEqual(a.values(l), b.values(l), `${where}: values ${l}`);
        }
        assert.ok(a.capacity >= t && a.capacity - t < 3 * a.chunk + a.chunk, `${where}: capacity ${a.capacity} for ${t} slots`);
        // Now and then a conflict-style shift leaves kept positions off their index.
        if (rand() < 0.2 && a.length > 3) {
          const from = Math.floor(rand() * a.length);
          a.rotate(from, a.length, 5);
          b.rotate(from, b.length, 5);
        }
      }
    });
  }

  it('relayout leaves gaps as token -1 with zero K/V; bad runs are refused', () => {
    const c = cacheOf('rotate-half', 4);
    append(c, range(1, 9));
    c.relayout(10, [
      { from: 0, to: 0, n: 2 },
      { from: 4, to: 5, n: 4 },
    ]);
    assert.deepEqual(Array.from(c.tokens()), [1, 2, -1, -1, -1, 5, 6, 7, 8, -1]);
    for (let l = 0; l < SHAPE.numLayers; l++) {
      const gap = c.values(l, 2, 5);
      assert.ok(gap.every((x) => x === 0), 'gap values are zero');
      assert.ok(c.keys(l, 9, 10).every((x) => x === 0), 'gap keys are zero');
    }
    assert.throws(() => c.relayout(4, [{ from: 0, to: 0, n: 5 }]), RangeError);
    assert.throws(() => c.relayout(10, [{ from: 2, to: 4, n: 2 }, { from: 0, to: 6, n: 1 }]), RangeError);
    assert.throws(() => c.write(9, rowsFor([3, 4])), RangeError);
  });

  it('rejects bad ranges, shapes and non-integer positions', () => {
    const c = cacheOf('rotate-half', 4);
    append(c, [1, 2, 3]);
    assert.throws(() => c.rotate(2, 4, 1), RangeError);
    assert.throws(() => c.rotate(0, 1, 0.5), RangeError);
    assert.throws(() => c.splice(4, 0), RangeError);
    assert.throws(() => c.truncate(-1), RangeError);
    const bad = rowsFor([1, 2]);
    bad.keys[0] = new Float32Array(3);
    assert.throws(() => c.splice(0, 0, bad), RangeError);
    assert.throws(() => c.append(rowsFor([1]).keys, rowsFor([1]).values, [1], [0.5]), RangeError);
    assertHolds(c, [1, 2, 3], [1, 2, 3]);
  });
});

// ---------- against the graph and the reference ----------

describe('KvCache with the model', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'slip-kv-'));
  let ck: Checkpoint;
  let m: Model;
  let tokens: number[];
  before(async () => {
    ck = await loadCheckpoint(writeTinyCheckpoint(join(tmp, 'm'), { family: 'qwen2', seed: 21 }).dir);
    m = await Model.load(ck, { threads: 1, kvChunk: 8 });
    tokens = ck.tokenizer.encode('const total = items.reduce((sum, item) => sum + item.price, 0);\n').slice(0, 20);
  });
  after(async () => {
    await m.dispose();
    rmSync(tmp, { recursive: true, force: true });
  });

  async function prefill(toks: number[], positions = range(0, toks.length)): Promise<KvCache> {
    const c = m.createCache();
    const r = await m.forward(c, { embeds: m.embed(toks), positions });
    c.append(r.newKeys, r.newValues, toks, positions);
    return c;
  }

  it('PIE splice: new tokens encoded against the prefix, suffix rotated = keys encoded directly at the new positions', async () => {
    const { numLayers, numKvHeads: kv, headDim: d } = ck.config;
    const T = tokens.length;
    const c = await prefill(tokens);
    // Replace [i, j) (3 tokens) by m = 5 new tokens: Δ = +2.
    const i = 6;
    const j = 9;
    const fresh = tokens.slice(0, 5).map((t) => (t + 7) % ck.tokenizer.size);
    const mNew = fresh.length;
    const delta = mNew - (j - i);
    // The new rows see the prefix [0, i) and each other causally, not the old tokens after i.
    const q = mNew;
    const bias = new Float32Array(q * (T + q)).fill(-Infinity);
    for (let r = 0; r < q; r++) {
      bias.fill(0, r * (T + q), r * (T + q) + i);
      bias.fill(0, r * (T + q) + T, r * (T + q) + T + r + 1);
    }
    const newPos = range(i, i + mNew);
    const enc = await m.forward(c, { embeds: m.embed(fresh), positions: newPos, bias });
    const encodedAt = c.encodedPositions();
    c.splice(i, j - i, { keys: enc.newKeys, values: enc.newValues, tokens: fresh, positions: newPos });
    c.rotate(i + mNew, c.length, delta);

    const want = [...tokens.slice(0, i), ...fresh, ...tokens.slice(j)];
    assert.deepEqual(Array.from(c.tokens()), want);
    assert.deepEqual(Array.from(c.positions()), range(0, want.length));

    // Prefix and new rows: exactly what a fresh run over prefix + new tokens gives.
    const ref = referenceForward(ck, want);
    for (let l = 0; l < numLayers; l++) {
      closeTo(c.keys(l, 0, i + mNew), headSlice(ref.keys[l], kv, want.length, d, 0, i + mNew), `prefix+new keys ${l}`, 1e-4);
      closeTo(c.values(l, 0, i + mNew), headSlice(ref.values[l], kv, want.length, d, 0, i + mNew), `prefix+new values ${l}`, 1e-4);
    }
    // Suffix: the original pre-RoPE keys, encoded directly at the new positions.
    const orig = referenceForward(ck, tokens);
    const sufLen = T - j;
    const oldPos = Array.from(encodedAt.subarray(j));
    for (let l = 0; l < numLayers; l++) {
      const encoded = toRows(headSlice(orig.keys[l], kv, T, d, j, T), kv, sufLen, d);
      const preRope = applyRope(m.rope, encoded, kv, oldPos.map((p) => -p));
      const direct = toHeads(applyRope(m.rope, preRope, kv, oldPos.map((p) => p + delta)), kv, sufLen, d);
      closeTo(c.keys(l, i + mNew), direct, `suffix keys ${l}`, 1e-5);
      closeTo(c.values(l, i + mNew), headSlice(orig.values[l], kv, T, d, j, T), `suffix values ${l}`, 1e-4);
    }
    // Layer 0's pre-RoPE keys depend only on the token, so the graph itself can encode the suffix at its new positions.
    const direct0 = await m.forward(m.createCache(), { embeds: m.embed(tokens.slice(j)), positions: range(j + delta, T + delta) });
    closeTo(c.keys(0, i + mNew), direct0.newKeys[0], 'suffix keys, layer 0, graph', 1e-5);
  });

  it('compact after tree verification = the accepted path prefilled directly', async () => {
    const { numLayers, numKvHeads: kv, headDim: d, vocabSize: V } = ck.config;
    const past = 8;
    const c = await prefill(tokens.slice(0, past));
    const parents = [-1, -1, 0, 0, 1, 2, 5];
    const depth = (x: number): number => (parents[x] < 0 ? 0 : 1 + depth(parents[x]));
    const nodes = parents.map((_, x) => tokens[past + x]);
    const q = nodes.length;
    const bias = new Float32Array(q * (past + q)).fill(-Infinity);
    for (let r = 0; r < q; r++) {
      bias.fill(0, r * (past + q), r * (past + q) + past);
      for (let a = r; a >= 0; a = parents[a]) bias[r * (past + q) + past + a] = 0;
    }
    const pos = parents.map((_, x) => past + depth(x));
    const tree = await m.forward(c, { embeds: m.embed(nodes), positions: pos, bias, logitRows: 'all' });
    c.append(tree.newKeys, tree.newValues, nodes, pos);
    const path = [0, 2, 5]; // root → 2 → 5
    c.compact(path.map((x) => past + x));

    const seq = [...tokens.slice(0, past), ...path.map((x) => nodes[x])];
    assert.deepEqual(Array.from(c.tokens()), seq);
    assert.deepEqual(Array.from(c.positions()), range(0, seq.length));
    const ref = referenceForward(ck, [...seq, tokens[3]]);
    for (let l = 0; l < numLayers; l++) {
      closeTo(c.keys(l), headSlice(ref.keys[l], kv, seq.length + 1, d, 0, seq.length), `keys ${l}`, 1e-4);
      closeTo(c.values(l), headSlice(ref.values[l], kv, seq.length + 1, d, 0, seq.length), `values ${l}`, 1e-4);
    }
    const next = await m.forward(c, { embeds: m.embed([tokens[3]]), positions: [seq.length] });
    closeTo(next.logits, ref.logits.subarray(seq.length * V), 'next logits', 1e-4);
  });

  it('truncate then a different continuation = the reference on the new sequence', async () => {
    const V = ck.config.vocabSize;
    const c = await prefill(tokens);
    c.truncate(7);
    const cont = [tokens[15], tokens[2], tokens[9]];
    const seq = [...tokens.slice(0, 7), ...cont];
    const ref = referenceForward(ck, seq);
    const r = await m.forward(c, { embeds: m.embed(cont), positions: range(7, 10), logitRows: 'all' });
    closeTo(r.logits, ref.logits.subarray(7 * V), 'logits', 1e-4);
  });

  it('a fork decodes independently of its parent', async () => {
    const V = ck.config.vocabSize;
    const c = await prefill(tokens.slice(0, 10));
    const keys0 = c.keys(1);
    const f = c.fork();
    for (const t of [tokens[12], tokens[13]]) {
      const r = await m.forward(f, { embeds: m.embed([t]), positions: [f.length] });
      f.append(r.newKeys, r.newValues, [t], [f.length]);
    }
    assert.equal(c.length, 10);
    assert.deepEqual(c.keys(1), keys0);
    const seq = [...tokens.slice(0, 10), tokens[12], tokens[13], tokens[0]];
    const ref = referenceForward(ck, seq);
    const r = await m.forward(f, { embeds: m.embed([tokens[0]]), positions: [12] });
    closeTo(r.logits, ref.logits.subarray(12 * V), 'fork logits', 1e-4);
  });
});
