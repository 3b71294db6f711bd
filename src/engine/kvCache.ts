// The KV cache of one sequence, owned by JS. The ONNX graph only returns the K/V rows of the new
// positions; this class stores them and edits them: append after a forward, splice and rotate for
// PIE edits, compact after tree verification, fork for drafts.
//
// Layout (why): per layer, K and V are [numKvHeads, capacity, headDim] float32, the layout the
// graph's `past_key_i` / `past_value_i` inputs take, so Model.forward passes these very arrays to
// onnxruntime without copying (P = capacity; slots [length, capacity) are masked with -inf).
// Capacity grows in chunks so appends rarely reallocate.
//
// Keys are kept twice: K at the slot's current RoPE position (what attention reads) and K_enc as the
// graph encoded it at `encodedPosition`. Every re-rotation starts from K_enc
// (K = R(position − encodedPosition)·K_enc, float64 angles), so repeated edits never accumulate
// rounding error.

import { RopeTable, type RopeSpec } from './rope';

/** Sizes of the per-layer K/V tensors. */
export interface KvShape {
  numLayers: number;
  numKvHeads: number;
  headDim: number;
}

/** K/V rows for some slots, in the layout of ForwardResult: per layer [numKvHeads, n, headDim]. */
export interface KvRows {
  keys: Float32Array[];
  values: Float32Array[];
  /** [n] token ids; -1 marks a slot with no single token (a superposed embedding). */
  tokens: ArrayLike<number>;
  /** [n] RoPE positions the keys were encoded at (also their current positions). */
  positions: ArrayLike<number>;
}

/** Kept slots in a relayout: old slots [from, from + n) go to [to, to + n). */
export interface SlotRun {
  from: number;
  to: number;
  n: number;
}

export interface KvCacheOptions {
  /** Slots added per growth step (default 64). */
  chunk?: number;
}

// Attention reads the whole capacity (masked slots included): decode at a 512-token past measured
// 3.23 ms/token with P = 512 vs 3.56 ms with P = 768. Small chunks keep that waste low; regrowing
// copies the cache, which at 64-slot steps costs < 0.1 ms per appended token.
const DEFAULT_CHUNK = 64;
const MAX_POSITION = 2 ** 31 - 1;

/** Positions are stored as int32. */
function checkPosition(p: number): void {
  if (!Number.isInteger(p) || Math.abs(p) > MAX_POSITION) throw new RangeError(`position ${p} is not an int32 integer`);
}

export class KvCache {
  readonly shape: KvShape;
  readonly rope: RopeSpec;
  readonly chunk: number;

  private len = 0;
  private cap = 0;
  /** [cap] token id per slot. */
  private tok: Int32Array = new Int32Array(0);
  /** [cap] current RoPE position per slot. */
  private pos: Int32Array = new Int32Array(0);
  /** [cap] position the slot's key was encoded at (K_enc). */
  private encPos: Int32Array = new Int32Array(0);
  /** Per layer [numKvHeads, cap, headDim]: keys at the current positions. */
  private k: Float32Array[];
  /** Per layer [numKvHeads, cap, headDim]: keys as encoded. */
  private kEnc: Float32Array[];
  /** Per layer [numKvHeads, cap, headDim]: values (position-free). */
  private v: Float32Array[];

  constructor(shape: KvShape, rope: RopeSpec, opts: KvCacheOptions = {}) {
    if (rope.headDim !== shape.headDim) throw new RangeError(`KvCache: RoPE head size ${rope.headDim} ≠ ${shape.headDim}`);
    this.shape = { numLayers: shape.numLayers, numKvHeads: shape.numKvHeads, headDim: shape.headDim };
    this.rope = rope;
    this.chunk = Math.max(1, Math.floor(opts.chunk ?? DEFAULT_CHUNK));
    this.k = this.layers(0);
    this.kEnc = this.layers(0);
    this.v = this.layers(0);
  }

  /** Number of filled slots (the logical past length). */
  get length(): number {
    return this.len;
  }

  /** Allocated slots per head (the physical P the graph sees). */
  get capacity(): number {
    return this.cap;
  }

  /** [length] token ids (a copy). */
  tokens(): Int32Array {
    return this.tok.slice(0, this.len);
  }

  /** [length] current RoPE positions (a copy). */
  positions(): Int32Array {
    return this.pos.slice(0, this.len);
  }

  /** [length] positions the keys were encoded at (a copy). */
  encodedPositions(): Int32Array {
    return this.encPos.slice(0, this.len);
  }

  /** Position the next appended token would naturally take (last position + 1, or 0). */
  nextPosition(): number {
    return this.len === 0 ? 0 : this.pos[this.len - 1] + 1;
  }

  /**
   * Physical keys of a layer, [numKvHeads, capacity, headDim], shared not copied: the graph input.
   * Only slots [0, length) of each head are meaningful. Valid until the next call that changes capacity.
   */
  physicalKeys(layer: number): Float32Array {
    return this.k[layer];
  }

  /** Physical values of a layer, [numKvHeads, capacity, headDim]; see physicalKeys. */
  physicalValues(layer: number): Float32Array {
    return this.v[layer];
  }

  /** Keys of slots [start, end) of one layer as [numKvHeads, end - start, headDim] (a copy). */
  keys(layer: number, start = 0, end = this.len): Float32Array {
    return this.gather(this.k[layer], start, end);
  }

  /** Values of slots [start, end) of one layer as [numKvHeads, end - start, headDim] (a copy). */
  values(layer: number, start = 0, end = this.len): Float32Array {
    return this.gather(this.v[layer], start, end);
  }

  /**
   * Append n slots after the last one: a forward's newKeys/newValues (per layer [kvHeads, n, headDim])
   * with their n tokens (-1 = no single token) and the n positions they were encoded at.
   */
  append(newKeys: Float32Array[], newValues: Float32Array[], tokens: ArrayLike<number>, positions: ArrayLike<number>): void {
    this.splice(this.len, 0, { keys: newKeys, values: newValues, tokens, positions });
  }

  /** Drop every slot from n on. */
  truncate(n: number): void {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`truncate(${n})`);
    if (n >= this.len) return;
    this.len = n;
    this.shrinkIfSparse();
  }

  /**
   * Remove slots [start, start + deleteCount) and insert `insert`'s rows in their place.
   * Positions of the slots after the edit are left as they were: a PIE edit follows this with
   * rotate(start + inserted, length, Δ).
   */
  splice(start: number, deleteCount: number, insert?: KvRows): void {
    if (!Number.isInteger(start) || start < 0 || start > this.len) throw new RangeError(`splice start ${start} outside [0, ${this.len}]`);
    if (!Number.isInteger(deleteCount) || deleteCount < 0) throw new RangeError(`splice deleteCount ${deleteCount}`);
    const del = Math.min(deleteCount, this.len - start);
    const m = insert ? insert.tokens.length : 0;
    if (insert) this.checkRows(insert, m);
    const tail = this.len - start - del;
    const newLen = this.len + m - del;
    if (newLen > this.cap) this.resize(this.roundUp(newLen));

    // Move the tail [start + del, len) to [start + m, ...) in every per-slot array.
    if (m !== del && tail > 0) {
      this.moveSlots(start + del, start + m, tail);
    }
    if (insert) this.putRows(start, insert);
    this.len = newLen;
    this.shrinkIfSparse();
  }

  /**
   * Lays the cache out anew in one pass, for an update that deletes, keeps and inserts slots at many
   * places at once (a PIE update): afterwards the cache has `length` slots; slots [to, to + n) of each
   * run hold what old slots [from, from + n) held, every other slot is a gap (token -1, position 0,
   * zero K/V, which -inf masking turns into exact zeros) for write() to fill. Runs ascend in both
   * coordinates without overlapping. `positions` ([length], read at kept slots only) gives kept slots
   * new positions, re-rotating their keys from K_enc as setPositions does; without it positions stay.
   *
   * Why: a splice per edit moves the whole tail each time (K, K_enc and V: 12 KB per slot for the
   * default model), and a rotation after it rewrites K again; here every kept slot is copied at most
   * once, and K of a re-rotated slot is not copied at all but computed at its destination.
   */
  relayout(length: number, runs: readonly SlotRun[], positions?: ArrayLike<number>): void {
    if (!Number.isInteger(length) || length < 0) throw new RangeError(`relayout length ${length}`);
    if (positions && positions.length < length) throw new RangeError(`relayout: ${positions.length} positions for ${length} slots`);
    let lastFrom = 0;
    let lastTo = 0;
    const rotated: boolean[] = [];
    for (const r of runs) {
      if (!Number.isInteger(r.from) || !Number.isInteger(r.to) || !Number.isInteger(r.n) || r.n < 0) throw new RangeError(`relayout run ${JSON.stringify(r)}`);
      if (r.from < lastFrom || r.to < lastTo || r.from + r.n > this.len || r.to + r.n > length) {
        throw new RangeError(`relayout run ${JSON.stringify(r)} overlaps, descends or leaves [0, ${this.len}) → [0, ${length})`);
      }
      lastFrom = r.from + r.n;
      lastTo = r.to + r.n;
      let moved = false;
      if (positions) {
        for (let i = 0; i < r.n; i++) {
          if (positions[r.to + i] !== this.pos[r.from + i]) {
            checkPosition(positions[r.to + i]);
            moved = true;
          }
        }
      }
      rotated.push(moved);
    }

    const newCap = length > this.cap ? this.roundUp(length) : this.cap - length >= 3 * this.chunk ? this.roundUp(length + this.chunk) : this.cap;
    if (newCap !== this.cap) this.relayoutInto(newCap, runs, rotated);
    else this.relayoutInPlace(length, runs, rotated);
    this.len = length;
    if (positions) {
      runs.forEach((r, i) => {
        if (rotated[i] && r.n > 0) this.setPositions(r.to, sliceOf(positions, r.to, r.to + r.n));
      });
    }
  }

  /** Overwrite slots [start, start + n) with n new rows (keys encoded at rows.positions, which become the current ones). */
  write(start: number, rows: KvRows): void {
    const m = rows.tokens.length;
    this.checkRange(start, start + m);
    this.checkRows(rows, m);
    this.putRows(start, rows);
  }

  /** Copies checked rows into slots [start, start + rows.tokens.length), which must be allocated: K, K_enc, V, tokens and positions (current = encoded). */
  private putRows(start: number, rows: KvRows): void {
    const m = rows.tokens.length;
    const { numLayers, numKvHeads, headDim } = this.shape;
    for (let l = 0; l < numLayers; l++) {
      for (let h = 0; h < numKvHeads; h++) {
        const src = h * m * headDim;
        const dst = (h * this.cap + start) * headDim;
        const n = m * headDim;
        this.k[l].set(rows.keys[l].subarray(src, src + n), dst);
        this.kEnc[l].set(rows.keys[l].subarray(src, src + n), dst);
        this.v[l].set(rows.values[l].subarray(src, src + n), dst);
      }
    }
    for (let i = 0; i < m; i++) {
      this.tok[start + i] = rows.tokens[i];
      this.pos[start + i] = rows.positions[i];
      this.encPos[start + i] = rows.positions[i];
    }
  }

  /** Shift the RoPE positions of slots [start, end) by delta, re-rotating their keys from K_enc. */
  rotate(start: number, end: number, delta: number): void {
    this.checkRange(start, end);
    if (!Number.isInteger(delta)) throw new RangeError(`rotate delta ${delta} is not an integer`);
    if (delta === 0 || start === end) return;
    const p = new Float64Array(end - start); // not int32: an out-of-range result must fail the check, not wrap
    for (let i = 0; i < p.length; i++) p[i] = this.pos[start + i] + delta;
    this.setPositions(start, p);
  }

  /** Set the positions of slots [start, start + positions.length) and re-rotate their keys from K_enc. */
  setPositions(start: number, positions: ArrayLike<number>): void {
    const n = positions.length;
    const end = start + n;
    this.checkRange(start, end);
    for (let i = 0; i < n; i++) checkPosition(positions[i]);
    const { numLayers, numKvHeads, headDim } = this.shape;
    const half = headDim / 2;
    // One cos/sin row per distinct Δ = position − encodedPosition (a PIE shift gives most slots the
    // same Δ, so this is usually one row); row -1 = back at the encoded position.
    const rowOf = new Int32Array(n);
    const rows = new Map<number, number>();
    const table = new RopeTable(this.rope);
    let cos = new Float64Array(half * 4);
    let sin = new Float64Array(half * 4);
    for (let i = 0; i < n; i++) {
      const s = start + i;
      const delta = positions[i] - this.encPos[s];
      this.pos[s] = positions[i];
      if (delta === 0) {
        rowOf[i] = -1;
        continue;
      }
      let row = rows.get(delta);
      if (row === undefined) {
        row = rows.size;
        rows.set(delta, row);
        if ((row + 1) * half > cos.length) {
          const c2 = new Float64Array(cos.length * 2);
          const s2 = new Float64Array(sin.length * 2);
          c2.set(cos);
          s2.set(sin);
          cos = c2;
          sin = s2;
        }
        table.set(delta);
        cos.set(table.cos, row * half);
        sin.set(table.sin, row * half);
      }
      rowOf[i] = row;
    }
    const interleaved = this.rope.layout === 'interleaved';
    for (let l = 0; l < numLayers; l++) {
      for (let h = 0; h < numKvHeads; h++) {
        rotateSlots(this.kEnc[l], this.k[l], (h * this.cap + start) * headDim, n, headDim, rowOf, cos, sin, interleaved);
      }
    }
  }

  /** A deep copy (same capacity) that shares nothing with this cache. */
  fork(): KvCache {
    const c = new KvCache(this.shape, this.rope, { chunk: this.chunk });
    c.len = this.len;
    c.cap = this.cap;
    c.tok = this.tok.slice();
    c.pos = this.pos.slice();
    c.encPos = this.encPos.slice();
    c.k = this.k.map((a) => a.slice());
    c.kEnc = this.kEnc.map((a) => a.slice());
    c.v = this.v.map((a) => a.slice());
    return c;
  }

  /**
   * Keep slots [0, keep[0]) untouched, then the listed slots in the listed order, contiguous from
   * keep[0]; everything else after keep[0] is dropped. Positions and keys travel unchanged
   * (after tree verification the accepted path already sits at past + depth).
   */
  compact(keep: readonly number[]): void {
    if (keep.length === 0) throw new RangeError('compact needs at least one slot (use truncate to drop all)');
    for (const s of keep) {
      if (!Number.isInteger(s) || s < keep[0] || s >= this.len) throw new RangeError(`compact slot ${s} outside [${keep[0]}, ${this.len})`);
    }
    const base = keep[0];
    const n = keep.length;
    // The listed slots may overlap their destinations in any order: gather into temporaries first.
    const { numLayers, numKvHeads, headDim } = this.shape;
    const tmp = new Float32Array(numKvHeads * n * headDim); // [numKvHeads, n, headDim]
    for (const arrays of [this.k, this.kEnc, this.v]) {
      for (let l = 0; l < numLayers; l++) {
        const a = arrays[l];
        for (let h = 0; h < numKvHeads; h++) {
          for (let i = 0; i < n; i++) {
            const o = (h * this.cap + keep[i]) * headDim;
            tmp.set(a.subarray(o, o + headDim), (h * n + i) * headDim);
          }
        }
        for (let h = 0; h < numKvHeads; h++) {
          a.set(tmp.subarray(h * n * headDim, (h + 1) * n * headDim), (h * this.cap + base) * headDim);
        }
      }
    }
    for (const arr of [this.tok, this.pos, this.encPos]) {
      const vals = keep.map((s) => arr[s]);
      arr.set(vals, base);
    }
    this.len = base + n;
    this.shrinkIfSparse();
  }

  /** Bytes held by this cache's arrays (allocated capacity, not just the filled slots). */
  bytes(): number {
    const perLayer = 3 * this.shape.numKvHeads * this.cap * this.shape.headDim * 4;
    return this.shape.numLayers * perLayer + 3 * this.cap * 4;
  }

  private layers(cap: number): Float32Array[] {
    const { numLayers, numKvHeads, headDim } = this.shape;
    return Array.from({ length: numLayers }, () => new Float32Array(numKvHeads * cap * headDim));
  }

  private roundUp(n: number): number {
    return Math.ceil(n / this.chunk) * this.chunk;
  }

  /** Reallocate to `cap` slots, keeping slots [0, min(len, cap)). Fresh slots are zero (finite, so -inf masking gives exact zeros). */
  private resize(cap: number): void {
    const { numKvHeads, headDim } = this.shape;
    const keepSlots = Math.min(this.len, cap);
    const move = (old: Float32Array[]): Float32Array[] =>
      old.map((a) => {
        const b = new Float32Array(numKvHeads * cap * headDim);
        for (let h = 0; h < numKvHeads; h++) {
          const src = h * this.cap * headDim;
          b.set(a.subarray(src, src + keepSlots * headDim), h * cap * headDim);
        }
        return b;
      });
    this.k = move(this.k);
    this.kEnc = move(this.kEnc);
    this.v = move(this.v);
    const grow = (a: Int32Array): Int32Array => {
      const b = new Int32Array(cap);
      b.set(a.subarray(0, keepSlots));
      return b;
    };
    this.tok = grow(this.tok);
    this.pos = grow(this.pos);
    this.encPos = grow(this.encPos);
    this.cap = cap;
  }

  /**
   * Give memory back after big deletions: attention runs over the whole capacity (masked), so a
   * mostly empty cache also costs time. Hysteresis of two chunks avoids reallocating back and forth.
   */
  private shrinkIfSparse(): void {
    if (this.cap - this.len >= 2 * this.chunk + this.chunk) this.resize(this.roundUp(this.len + this.chunk));
  }

  /** relayout into fresh arrays of `cap` slots (growing or giving memory back): one copy per kept slot. */
  private relayoutInto(cap: number, runs: readonly SlotRun[], rotated: readonly boolean[]): void {
    const { numLayers, numKvHeads, headDim } = this.shape;
    const fresh = (): Float32Array[] => Array.from({ length: numLayers }, () => new Float32Array(numKvHeads * cap * headDim));
    const k = fresh();
    const kEnc = fresh();
    const v = fresh();
    const tok = new Int32Array(cap).fill(-1);
    const pos = new Int32Array(cap);
    const encPos = new Int32Array(cap);
    runs.forEach((r, i) => {
      for (let l = 0; l < numLayers; l++) {
        for (let h = 0; h < numKvHeads; h++) {
          const src = (h * this.cap + r.from) * headDim;
          const dst = (h * cap + r.to) * headDim;
          const n = r.n * headDim;
          kEnc[l].set(this.kEnc[l].subarray(src, src + n), dst);
          v[l].set(this.v[l].subarray(src, src + n), dst);
          // A re-rotated run's keys are computed at the destination afterwards.
          if (!rotated[i]) k[l].set(this.k[l].subarray(src, src + n), dst);
        }
      }
      tok.set(this.tok.subarray(r.from, r.from + r.n), r.to);
      pos.set(this.pos.subarray(r.from, r.from + r.n), r.to);
      encPos.set(this.encPos.subarray(r.from, r.from + r.n), r.to);
    });
    this.k = k;
    this.kEnc = kEnc;
    this.v = v;
    this.tok = tok;
    this.pos = pos;
    this.encPos = encPos;
    this.cap = cap;
  }

  /**
   * relayout within the current arrays. Runs keep their order, so their destinations never cross:
   * runs moving left are copied left to right, then runs moving right right to left, and no run's
   * source is overwritten before it has been copied. Then the gaps are cleared.
   */
  private relayoutInPlace(length: number, runs: readonly SlotRun[], rotated: readonly boolean[]): void {
    const move = (i: number): void => {
      const r = runs[i];
      if (r.n === 0 || r.from === r.to) return;
      this.moveSlots(r.from, r.to, r.n, !rotated[i]);
    };
    for (let i = 0; i < runs.length; i++) if (runs[i].to < runs[i].from) move(i);
    for (let i = runs.length - 1; i >= 0; i--) if (runs[i].to > runs[i].from) move(i);
    let at = 0;
    for (const r of runs) {
      this.clearSlots(at, r.to);
      at = r.to + r.n;
    }
    this.clearSlots(at, length);
  }

  /** Gap slots [from, to): token -1, position 0, zero K/V. */
  private clearSlots(from: number, to: number): void {
    if (to <= from) return;
    const { numKvHeads, headDim } = this.shape;
    for (const arrays of [this.k, this.kEnc, this.v]) {
      for (const a of arrays) {
        for (let h = 0; h < numKvHeads; h++) a.fill(0, (h * this.cap + from) * headDim, (h * this.cap + to) * headDim);
      }
    }
    this.tok.fill(-1, from, to);
    this.pos.fill(0, from, to);
    this.encPos.fill(0, from, to);
  }

  /** Move n slots from `from` to `to` (ranges may overlap) in every per-slot array (K too unless `keys` is false). */
  private moveSlots(from: number, to: number, n: number, keys = true): void {
    const { numKvHeads, headDim } = this.shape;
    for (const arrays of keys ? [this.k, this.kEnc, this.v] : [this.kEnc, this.v]) {
      for (const a of arrays) {
        for (let h = 0; h < numKvHeads; h++) {
          const base = h * this.cap;
          a.copyWithin((base + to) * headDim, (base + from) * headDim, (base + from + n) * headDim);
        }
      }
    }
    this.tok.copyWithin(to, from, from + n);
    this.pos.copyWithin(to, from, from + n);
    this.encPos.copyWithin(to, from, from + n);
  }

  private gather(a: Float32Array, start: number, end: number): Float32Array {
    this.checkRange(start, end);
    const { numKvHeads, headDim } = this.shape;
    const n = end - start;
    const out = new Float32Array(numKvHeads * n * headDim);
    for (let h = 0; h < numKvHeads; h++) {
      const o = (h * this.cap + start) * headDim;
      out.set(a.subarray(o, o + n * headDim), h * n * headDim);
    }
    return out;
  }

  private checkRange(start: number, end: number): void {
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > this.len || start > end) {
      throw new RangeError(`slot range [${start}, ${end}) outside [0, ${this.len})`);
    }
  }

  private checkRows(rows: KvRows, m: number): void {
    const { numLayers, numKvHeads, headDim } = this.shape;
    if (rows.positions.length !== m) throw new RangeError(`KvRows: ${m} tokens but ${rows.positions.length} positions`);
    if (rows.keys.length !== numLayers || rows.values.length !== numLayers) {
      throw new RangeError(`KvRows: expected ${numLayers} layers, got ${rows.keys.length} keys / ${rows.values.length} values`);
    }
    const want = numKvHeads * m * headDim;
    for (let l = 0; l < numLayers; l++) {
      if (rows.keys[l].length !== want || rows.values[l].length !== want) {
        throw new RangeError(`KvRows layer ${l}: expected [${numKvHeads}, ${m}, ${headDim}] = ${want} values`);
      }
    }
    for (let i = 0; i < m; i++) checkPosition(rows.positions[i]);
  }
}

/**
 * dst = R(Δ_i)·src for n consecutive head vectors of size d starting at `base` (one head's slots),
 * Δ_i's cos/sin in row rowOf[i] of [rows, d/2] tables; row -1 copies the vector unchanged (bit for
 * bit). One plain loop per layer and head: this runs on every suffix key after an edit.
 */
function rotateSlots(src: Float32Array, dst: Float32Array, base: number, n: number, d: number, rowOf: Int32Array, cos: Float64Array, sin: Float64Array, interleaved: boolean): void {
  const half = d >> 1;
  for (let i = 0; i < n; i++) {
    const o = base + i * d;
    const row = rowOf[i];
    if (row < 0) {
      for (let j = 0; j < d; j++) dst[o + j] = src[o + j];
      continue;
    }
    const t = row * half;
    if (interleaved) {
      // Pairs (2j, 2j + 1), GPT-J style.
      for (let j = 0; j < half; j++) {
        const x1 = src[o + 2 * j];
        const x2 = src[o + 2 * j + 1];
        const c = cos[t + j];
        const s = sin[t + j];
        dst[o + 2 * j] = x1 * c - x2 * s;
        dst[o + 2 * j + 1] = x2 * c + x1 * s;
      }
    } else {
      // Pairs (j, j + d/2), HF rotate_half.
      for (let j = 0; j < half; j++) {
        const x1 = src[o + j];
        const x2 = src[o + half + j];
        const c = cos[t + j];
        const s = sin[t + j];
        dst[o + j] = x1 * c - x2 * s;
        dst[o + half + j] = x2 * c + x1 * s;
      }
    }
  }
}

/** Elements [from, to) of an array-like (a view when it is a typed array). */
function sliceOf(a: ArrayLike<number>, from: number, to: number): ArrayLike<number> {
  if (a instanceof Int32Array || a instanceof Float64Array || a instanceof Float32Array) return a.subarray(from, to);
  return Array.prototype.slice.call(a, from, to) as number[];
}
