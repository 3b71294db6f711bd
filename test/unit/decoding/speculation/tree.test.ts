// Draft trees: trie merging, the tree attention bias, positions, subtrees; the planner's choice
// of how many nodes to verify.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DraftTree } from '../../../../src/decoding/speculation/tree';
import { judgedNodes, planTree, tableCost } from '../../../../src/decoding/speculation/planner';

const NEG = Number.NEGATIVE_INFINITY;

/** root 10 → (a 11 → (c 13), b 12 → (d 14 → e 15)) */
function sample(): DraftTree {
  const t = new DraftTree(10);
  const a = t.add(0, 11, 0.5);
  const b = t.add(0, 12, 0.3);
  t.add(a, 13, 0.4);
  const d = t.add(b, 14, 0.2);
  t.add(d, 15, 0.1);
  return t;
}

test('the bias lets every node see the past, its ancestors and itself, nothing else', () => {
  const t = sample();
  const past = 3;
  const q = t.size;
  const bias = t.bias(past);
  assert.equal(bias.length, q * (past + q));
  const ancestors = [[0], [0, 1], [0, 2], [0, 1, 3], [0, 2, 4], [0, 2, 4, 5]];
  for (let i = 0; i < q; i++) {
    for (let j = 0; j < past; j++) assert.equal(bias[i * (past + q) + j], 0, `row ${i} sees past slot ${j}`);
    for (let j = 0; j < q; j++) {
      const want = ancestors[i].includes(j) ? 0 : NEG;
      assert.equal(bias[i * (past + q) + past + j], want, `row ${i}, node ${j}`);
    }
  }
  // A chain is the causal mask.
  const chain = new DraftTree(1);
  chain.addPath(0, [2, 3, 4]);
  const c = chain.bias(0);
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) assert.equal(c[i * 4 + j], j <= i ? 0 : NEG);
});

test('positions are the root position plus depth; paths go root first', () => {
  const t = sample();
  assert.deepEqual(t.positions(100), [100, 101, 101, 102, 102, 103]);
  assert.deepEqual(t.depths, [0, 1, 1, 2, 2, 3]);
  assert.deepEqual(t.pathTo(5), [0, 2, 4, 5]);
  assert.deepEqual(t.pathTo(0), [0]);
  assert.ok(t.isAncestorOrSelf(2, 5) && !t.isAncestorOrSelf(1, 5));
});

test('the same continuation from two drafters is one node with both sources and the higher estimate', () => {
  const t = new DraftTree(1);
  const x = t.addPath(0, [5, 6], [0.4, 0.2], (i) => ({ drafter: 'copyspec', slot: i }));
  const y = t.add(0, 5, 0.7, { drafter: 'recycling', slot: 3 });
  assert.equal(y, x[0]);
  assert.equal(t.size, 3);
  assert.equal(t.estimates[y], 0.7);
  assert.deepEqual(t.sources[y], [
    { drafter: 'copyspec', slot: 0 },
    { drafter: 'recycling', slot: 3 },
  ]);
  assert.equal(t.add(0, 5, 0.1), y);
  assert.equal(t.estimates[y], 0.7, 'a lower estimate does not lower it');
  assert.equal(t.childOf(y, 6), x[1]);
  assert.equal(t.childOf(y, 7), -1);
  assert.throws(() => t.add(9, 1, 0), /parent/);
});

test('subtree keeps the listed nodes in order and refuses orphans', () => {
  const t = sample();
  const s = t.subtree([2, 4]);
  assert.deepEqual(s.tokens, [10, 12, 14]);
  assert.deepEqual(s.parents, [-1, 0, 1]);
  assert.deepEqual(s.estimates, [1, 0.3, 0.2]);
  assert.throws(() => t.subtree([5]), /without its parent/);
});

test('the planner keeps the best nodes while they pay for their rows', () => {
  const t = sample();
  // Free rows: everything with an estimate is worth verifying.
  const free = planTree(t, { cost: () => 1, past: 0, maxRows: 64, perRowMs: 0 });
  assert.equal(free.tree.size, t.size);
  assert.ok(Math.abs(free.expectedTokens - 2.5) < 1e-9);
  // Each row costs as much as the first: no draft pays.
  const steep = planTree(t, { cost: (q) => q, past: 0, maxRows: 64, perRowMs: 0 });
  assert.equal(steep.tree.size, 1);
  // cost(q) = 1 + 0.25 (q - 1): value of k nodes in estimate order 0.5, 0.4, 0.3, 0.2, 0.1 =
  // (1 + Σ) / (1 + 0.25 k) → 1, 1.2, 1.267, 1.257, 1.2, 1.143: best at k = 2 (a's chain).
  const mid = planTree(t, { cost: (q) => 1 + 0.25 * (q - 1), past: 0, maxRows: 64, perRowMs: 0 });
  assert.deepEqual(mid.tree.tokens, [10, 11, 13]);
  assert.ok(Math.abs(mid.expectedMs - 1.5) < 1e-9);
  assert.ok(Math.abs(mid.expectedTokens - 1.9) < 1e-9);
  // maxRows caps the tree, root included.
  assert.equal(planTree(t, { cost: () => 1, past: 0, maxRows: 3, perRowMs: 0 }).tree.size, 3);
});

test('against an achieved throughput, a node must bring more tokens than its time would', () => {
  const t = sample();
  const cost = (q: number) => 1 + 0.25 * (q - 1);
  // λ = 1 token/ms: a node is kept when its estimate exceeds 0.25 (its row's cost × λ): 0.5, 0.4, 0.3.
  assert.deepEqual(planTree(t, { cost, past: 0, maxRows: 64, perRowMs: 0, throughput: 1 }).tree.tokens, [10, 11, 12, 13]);
  // λ = 3: only estimates above 0.75 pay: none.
  assert.equal(planTree(t, { cost, past: 0, maxRows: 64, perRowMs: 0, throughput: 3 }).tree.size, 1);
  // λ → 0: every node with an estimate.
  assert.equal(planTree(t, { cost, past: 0, maxRows: 64, perRowMs: 0, throughput: 1e-6 }).tree.size, t.size);
});

test('a child estimated above its parent still yields a valid tree', () => {
  const t = new DraftTree(1);
  const a = t.add(0, 2, 0.1);
  t.add(a, 3, 0.9);
  const p = planTree(t, { cost: (q) => 1 + 0.3 * (q - 1), past: 0, maxRows: 64, perRowMs: 0 });
  for (let i = 1; i < p.tree.size; i++) assert.ok(p.tree.parents[i] >= 0 && p.tree.parents[i] < i);
  assert.deepEqual(p.tree.tokens, [1, 2, 3]);
});

test('judged nodes: the children of accepted nodes, hit when on the path', () => {
  const t = sample();
  const seen: Array<[number, boolean]> = [];
  judgedNodes(t, [0, 2], (n, hit) => seen.push([n, hit]));
  assert.deepEqual(seen, [
    [1, false],
    [2, true],
    [4, false],
  ]);
});

test('the latency table interpolates in rows and past', () => {
  const cost = tableCost({ pasts: [100, 200], qs: [1, 3], ms: [
    [1, 2],
    [3, 6],
  ] });
  assert.equal(cost(1, 100), 1);
  assert.equal(cost(2, 100), 1.5);
  assert.equal(cost(3, 150), 4);
  assert.equal(cost(5, 200), 9, 'linear beyond the last q');
  assert.equal(cost(1, 50), 1, 'clamped below the first past');
  assert.equal(cost(3, 999), 6, 'clamped above the last past');
});
