// The drafters on their own: CopySpec's γ-gram index and copy drafts, the recycling matrix and
// its tree, the llama.cpp-style prompt lookup.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CopyIndex, CopySpecSource, findCopy } from '../../../../src/decoding/speculation/copyspec';
import { PromptLookupDrafter } from '../../../../src/decoding/speculation/promptLookup';
import { AdjacencyMatrix, RECYCLING_K, RecyclingSource } from '../../../../src/decoding/speculation/recycling';
import { DraftTree } from '../../../../src/decoding/speculation/tree';
import type { DraftContext } from '../../../../src/decoding/speculation/verify';
import { mulberry32 } from '../../../fixtures/tinyModel';

function ctx(prompt: number[], generated: number[], maxDepth = 32): DraftContext {
  return { prompt, generated, maxDepth, past: prompt.length + generated.length - 1 };
}

/** Earlier starts of the γ-gram at `at`, by brute force. */
function bruteEarlier(seq: readonly number[], at: number, gamma: number): number[] {
  const out: number[] = [];
  for (let s = 0; s < at; s++) if (seq.slice(s, s + gamma).every((t, i) => t === seq[at + i])) out.push(s);
  return out;
}

test('CopyIndex: the earliest earlier occurrence of a γ-gram, none for a first occurrence', () => {
  const idx = new CopyIndex(3);
  //            0  1  2  3  4  5  6  7  8  9
  idx.append([7, 1, 2, 3, 9, 1, 2, 3, 5, 1]);
  idx.append([2, 3]);
  assert.equal(idx.earliest(9), 1, '1 2 3 first starts at 1');
  assert.equal(idx.earliest(5), 1);
  assert.equal(idx.earliest(1), -1, 'the first occurrence has none before it');
  const all: number[] = [];
  idx.forEachEarlier(9, (s) => (all.push(s), true));
  assert.deepEqual(all, [1, 5]);
});

test('CopyIndex follows appends, truncations and resets exactly (random sequences vs brute force)', () => {
  const rnd = mulberry32(5);
  const idx = new CopyIndex(3);
  let seq: number[] = [];
  for (let step = 0; step < 300; step++) {
    const r = rnd();
    if (r < 0.5) {
      const add = Array.from({ length: 1 + Math.floor(rnd() * 6) }, () => Math.floor(rnd() * 4));
      idx.append(add);
      seq.push(...add);
    } else if (r < 0.75) {
      const n = Math.floor(rnd() * (seq.length + 1));
      idx.truncate(n);
      seq = seq.slice(0, n);
    } else {
      // A splice somewhere (what a keystroke does to the prompt): reset keeps the common prefix.
      const at = Math.floor(rnd() * (seq.length + 1));
      const next = [...seq.slice(0, at), Math.floor(rnd() * 4), ...seq.slice(at + 1)];
      const kept = idx.reset(next);
      assert.ok(kept >= Math.min(at, seq.length) || next[kept] !== seq[kept]);
      seq = next;
    }
    assert.deepEqual([...idx.tokens()], seq);
    for (let at = 0; at + 3 <= seq.length; at++) {
      const got: number[] = [];
      idx.forEachEarlier(at, (s) => (got.push(s), true));
      assert.deepEqual(got, bruteEarlier(seq, at, 3), `step ${step}, gram at ${at}`);
    }
  }
});

test('findCopy drafts what followed the earliest occurrence, from the prompt or from generated text', () => {
  // Prompt: "a b c d e f ... a b"; generated "c": last three "a b c" occurred at 0 → draft "d e f".
  const idx = new CopyIndex(3);
  idx.append([1, 2, 3, 4, 5, 6, 8, 9, 1, 2, 3]);
  const m = findCopy(idx, 3);
  assert.ok(m);
  assert.equal(m.start, 0);
  assert.deepEqual(m.tokens, [4, 5, 6]);
  // A repeating pattern copies itself past the current end.
  const rep = new CopyIndex(3);
  rep.append([9, 1, 2, 1, 2, 1]);
  assert.deepEqual(findCopy(rep, 5)?.tokens, [2, 1, 2, 1, 2]);
  // No earlier occurrence: no draft.
  const none = new CopyIndex(3);
  none.append([1, 2, 3, 4, 5]);
  assert.equal(findCopy(none, 4), null);
  // 'longest' prefers the occurrence whose preceding tokens match too.
  const two = new CopyIndex(3);
  two.append([5, 1, 2, 3, 7, 8, 1, 2, 3, 4, 0, 8, 1, 2, 3]);
  assert.deepEqual(findCopy(two, 1, 'earliest')?.tokens, [7]);
  const longest = findCopy(two, 1, 'longest');
  assert.deepEqual(longest?.tokens, [4]);
  assert.equal(longest?.matchLength, 4);
});

test('CopySpecSource drafts from generated tokens as they arrive and keeps its index across requests', () => {
  const idx = new CopyIndex(3);
  const src = new CopySpecSource(idx);
  const prompt = [50, 51, 52, 53, 54, 55];
  src.begin(prompt);
  // generated "50 51 52": matches the prompt's start → draft 53 54 55 …
  const tree = new DraftTree(52);
  src.propose(tree, ctx(prompt, [50, 51, 52]));
  assert.deepEqual(tree.tokens.slice(0, 4), [52, 53, 54, 55]);
  for (let i = 2; i < tree.size; i++) assert.ok(tree.estimates[i] <= tree.estimates[i - 1], 'estimates fall along the chain');
  assert.equal(tree.sources[1][0].drafter, 'copyspec');
  // Depth limit.
  const short = new DraftTree(52);
  src.propose(short, ctx(prompt, [50, 51, 52], 2));
  assert.equal(short.size, 3);
  // Next request with a prompt that differs near the end: the shared prefix stays indexed.
  const prompt2 = [50, 51, 52, 53, 99];
  src.begin(prompt2);
  assert.deepEqual([...idx.tokens()], prompt2);
});

test('CopySpecSource falls back to a 2-gram match, and trusts an ongoing copy more', () => {
  // "7 8" occurs earlier but "6 7 8" does not: the γ = 3 index finds nothing, the 2-gram copies "9 10".
  const prompt = [1, 7, 8, 9, 10, 2, 3, 6, 7];
  const src = new CopySpecSource(undefined, { selection: 'earliest' });
  src.begin(prompt);
  const t = new DraftTree(8);
  src.propose(t, ctx(prompt, [8], 2));
  assert.deepEqual(t.tokens, [8, 9, 10]);
  const none = new CopySpecSource(undefined, { fallbackGamma: 0 });
  none.begin(prompt);
  const t0 = new DraftTree(8);
  none.propose(t0, ctx(prompt, [8], 2));
  assert.equal(t0.size, 1, 'without the fallback: no draft');

  // After a forward that accepted every judged copy node, the next chain starts more confident.
  const p2 = [4, 5, 6, 7, 8, 9, 4, 5];
  const fresh = new CopySpecSource();
  fresh.begin(p2);
  const before = new DraftTree(6);
  fresh.propose(before, ctx(p2, [6], 4));
  const first = before.estimates[1];
  for (const src of before.sources.slice(1)) fresh.record(src[0].slot, true);
  fresh.settle();
  const after = new DraftTree(7);
  fresh.propose(after, ctx(p2, [6, 7], 4));
  assert.ok(after.estimates[1] > first, `streak raises the first estimate (${first} → ${after.estimates[1]})`);
  // A rejection at the first copied token resets it.
  fresh.record(after.sources[1][0].slot, false);
  fresh.settle();
  const reset = new DraftTree(7);
  fresh.propose(reset, ctx(p2, [6, 7], 4));
  assert.ok(reset.estimates[1] < after.estimates[1]);
});

test('the adjacency matrix keeps the top 8 in order; the last write wins', () => {
  const m = new AdjacencyMatrix(20);
  assert.deepEqual([...m.row(3)], new Array(RECYCLING_K).fill(-1));
  const logits = new Float32Array(24);
  [5, 9, 1, 7, 3, 11, 2, 8, 4, 6].forEach((id, rank) => (logits[id] = 10 - rank));
  logits[0] = Number.NEGATIVE_INFINITY;
  logits[21] = 100; // ≥ limit (a padded embedding row): never a successor
  m.update(3, logits, 20);
  assert.deepEqual([...m.row(3)], [5, 9, 1, 7, 3, 11, 2, 8]);
  // Ties keep the lower id.
  const tie = new Float32Array(20).fill(1);
  m.update(4, tie);
  assert.deepEqual([...m.row(4)], [0, 1, 2, 3, 4, 5, 6, 7]);
  // Two tree nodes carrying the same token: the later node's logits are the ones kept.
  const src = new RecyclingSource(m, { limit: 20 });
  const tree = new DraftTree(3);
  tree.add(0, 3, 0.5);
  const rows = new Float32Array(2 * 20);
  rows[0 * 20 + 12] = 5; // node 0 (token 3) prefers 12
  rows[1 * 20 + 13] = 5; // node 1 (token 3 too) prefers 13
  src.observeLogits(tree, rows, 20);
  assert.equal(m.row(3)[0], 13);
  assert.ok(m.dirty);
  assert.equal(m.filledRows(), 2);
});

test('the recycling tree grows best-first from M, within the depth limit, with falling estimates', () => {
  const m = new AdjacencyMatrix(50);
  // M[1] = 2, 3, …; M[2] = 4, 5, …; M[4] = 6 …
  m.setRow(1, [2, 3, 10, 11], 1);
  m.setRow(2, [4, 5], 2);
  m.setRow(4, [6], 3);
  const src = new RecyclingSource(m, { maxCandidates: 6, minEstimate: 0 });
  const tree = new DraftTree(1);
  src.propose(tree, ctx([1], [1], 8));
  assert.ok(tree.size <= 7);
  assert.equal(tree.tokens[1], 2, 'rank 0 first');
  assert.notEqual(tree.childOf(tree.childOf(0, 2), 4), -1, 'the rank-0 chain goes deeper');
  for (let i = 1; i < tree.size; i++) assert.ok(tree.estimates[i] <= tree.estimates[tree.parents[i]] + 1e-12);
  const shallow = new DraftTree(1);
  src.propose(shallow, ctx([1], [1], 1));
  assert.ok(shallow.depths.every((d) => d <= 1));
  // A row nobody wrote drafts nothing.
  const cold = new DraftTree(7);
  src.propose(cold, ctx([7], [7]));
  assert.equal(cold.size, 1);
});

test('recycling shares what probability a copy chain left on a node', () => {
  const m = new AdjacencyMatrix(50);
  m.setRow(1, [2, 3], 1);
  const src = new RecyclingSource(m, { minEstimate: 0 });
  const alone = new DraftTree(1);
  src.propose(alone, ctx([1], [1], 1));
  const withCopy = new DraftTree(1);
  withCopy.add(0, 9, 0.8, { drafter: 'copyspec', slot: 0 });
  src.propose(withCopy, ctx([1], [1], 1));
  const est = (t: DraftTree, tok: number) => t.estimates[t.childOf(0, tok)];
  assert.ok(Math.abs(est(withCopy, 2) - 0.2 * est(alone, 2)) < 1e-9);
});

test('prompt lookup follows llama.cpp: longest n-gram first, sample-size and share thresholds', () => {
  const d = new PromptLookupDrafter(4);
  // Context "0 1 2 3 4 0 1" + generated "2": "2" and "1 2" were followed by 3 once, too few
  // for n = 1, 2 (2 samples needed); the 3-gram "0 1 2" (1 sample needed) drafts 3, then 4 0 1.
  const prompt = [0, 1, 2, 3, 4, 0, 1];
  d.begin(prompt);
  const t = d.draft(2, ctx(prompt, [2]));
  assert.deepEqual(t.tokens, [2, 3, 4, 0, 1]);
  // Only a 1-gram seen once: n = 1 needs 2 occurrences → no draft.
  const once = new PromptLookupDrafter(4);
  once.begin([5, 6]);
  assert.equal(once.draft(5, ctx([5, 6], [5])).size, 1);
  // 1-gram seen twice with the same continuation (100 % ≥ 66 %): drafted.
  const twice = new PromptLookupDrafter(1);
  twice.begin([5, 6, 7, 5, 6, 8]);
  assert.deepEqual(twice.draft(5, ctx([5, 6, 7, 5, 6, 8], [5])).tokens, [5, 6]);
  // 1-gram seen twice with different continuations (50 % < 66 %): not drafted.
  const split = new PromptLookupDrafter(1);
  split.begin([5, 6, 7, 5, 8, 9]);
  assert.equal(split.draft(5, ctx([5, 6, 7, 5, 8, 9], [5])).size, 1);
});
