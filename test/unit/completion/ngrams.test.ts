// The workspace n-gram model: counts equal a brute-force count over the same token sequences
// (added, edited, removed, rebuilt, persisted), the bound holds, and the interpolation is the
// documented formula.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NgramCounts, BYTES_PER_ENTRY } from '../../../src/completion/ngrams/counts';
import { InterpolatedNgrams } from '../../../src/completion/ngrams/interpolate';
import { decodeTokenLists, encodeTokenLists } from '../../../src/completion/ngrams/store';
import { WorkspaceNgrams } from '../../../src/completion/ngrams/workspace';
import { applyEdits } from '../../../src/completion/documentText';
import { ByteTokenizer } from '../decoding/fakes';
import { mulberry32 } from '../../fixtures/tinyModel';

const ROOT = join(__dirname, '../../..');
const FIXTURES = ['test/fixtures/demo/store.py', 'test/fixtures/monitors/list.c', 'test/fixtures/monitors/shapes.ts.txt'].map((f) => readFileSync(join(ROOT, f), 'utf8'));

/** Every m-gram (m = 1 … maxOrder) of every sequence → count, and (m-gram) → followers. */
function bruteForce(seqs: readonly ArrayLike<number>[], maxOrder: number): { grams: Map<string, number>; followers: Map<string, number> } {
  const grams = new Map<string, number>();
  const followers = new Map<string, number>();
  for (const s of seqs) {
    for (let i = 0; i < s.length; i++) {
      for (let m = 1; m <= maxOrder && i + m <= s.length; m++) {
        const key = Array.from({ length: m }, (_, j) => s[i + j]).join(',');
        grams.set(key, (grams.get(key) ?? 0) + 1);
        if (m >= 2) {
          const ctx = Array.from({ length: m - 1 }, (_, j) => s[i + j]).join(',');
          followers.set(ctx, (followers.get(ctx) ?? 0) + 1);
        }
      }
    }
  }
  return { grams, followers };
}

function assertCountsEqual(counts: NgramCounts, seqs: readonly ArrayLike<number>[], probes: readonly number[][] = []): void {
  const { grams, followers } = bruteForce(seqs, counts.maxOrder);
  for (const [key, n] of grams) {
    const gram = key.split(',').map(Number);
    assert.equal(counts.count(gram), n, `count of [${key}]`);
    assert.equal(counts.followers(gram), followers.get(key) ?? 0, `followers of [${key}]`);
  }
  // Grams that are not there count 0 (removed ones included).
  for (const g of probes) if (!grams.has(g.join(','))) assert.equal(counts.count(g), 0, `count of absent [${g}]`);
}

const tok = new ByteTokenizer();

test('NgramCounts equal a brute-force count over fixture files, through adds, removals and rebuilds', () => {
  const seqs = FIXTURES.map((t) => tok.encode(t));
  const counts = new NgramCounts({ maxOrder: 6 });
  for (const s of seqs) counts.add(s);
  assertCountsEqual(counts, seqs);
  assert.ok(counts.exact);
  // Removing one file leaves exactly the others' counts; its own grams go to zero.
  counts.remove(seqs[1]);
  const probes = [seqs[1].slice(10, 16), seqs[1].slice(100, 103)];
  assertCountsEqual(counts, [seqs[0], seqs[2]], probes);
  // A range update counts the grams starting in the range.
  const part = new NgramCounts({ maxOrder: 4 });
  part.add(seqs[0], 5, 50);
  const brute = bruteForce([seqs[0].slice(5, 53)], 4).grams;
  let starts = 0;
  for (let i = 5; i < 50; i++) if (seqs[0][i] === seqs[0][5]) starts++;
  assert.ok(starts > 0 && part.count([seqs[0][5]]) === starts, 'unigrams counted at the range starts');
  assert.ok(brute.size > 0);
});

test('a full table drops zero counts first and stays exact; past that it prunes rare long grams within the bound', () => {
  const rnd = mulberry32(3);
  const small = Array.from({ length: 4 }, () => Array.from({ length: 400 }, () => Math.floor(rnd() * 12)));
  // Room for the live grams of two sequences, not for all four at once: removals make room.
  const live2 = bruteForce(small.slice(0, 2), 3).grams.size;
  const counts = new NgramCounts({ maxOrder: 3, maxEntries: Math.ceil(live2 * 1.6) });
  counts.add(small[0]);
  counts.add(small[1]);
  counts.remove(small[0]);
  counts.add(small[2]);
  counts.remove(small[1]);
  counts.add(small[3]);
  assertCountsEqual(counts, [small[2], small[3]]);
  assert.ok(counts.exact, 'only zero-count entries were dropped');

  const tiny = new NgramCounts({ maxOrder: 6, maxEntries: 512 });
  const seq = tok.encode(FIXTURES[0]);
  tiny.add(seq);
  assert.equal(tiny.exact, false);
  assert.ok(tiny.entries <= 512);
  assert.equal(tiny.bytes(), 512 * BYTES_PER_ENTRY, 'memory is the stated bound');
  // What survives never over-counts, and frequent short grams survive.
  const { grams } = bruteForce([seq], 6);
  for (const [key, n] of grams) assert.ok(tiny.count(key.split(',').map(Number)) <= n, key);
  assert.equal(tiny.count([32]), grams.get('32'), 'the space byte keeps its exact count');
});

test('InterpolatedNgrams mixes the orders whose context was seen, renormalised, NaN without any', () => {
  const counts = new NgramCounts({ maxOrder: 3 });
  counts.add([1, 2, 3, 1, 2, 4, 1, 2, 3]);
  const ng = new InterpolatedNgrams(counts, [0.25, 0.75]);
  // After [1, 2]: bigram P(3|2) = 2/3, trigram P(3|1,2) = 2/3; P(4|...) = 1/3.
  const p = ng.probabilities([9, 1, 2], 3, [3, 4, 7]);
  assert.ok(Math.abs(p[0] - 2 / 3) < 1e-12 && Math.abs(p[1] - 1 / 3) < 1e-12 && p[2] === 0);
  // After [9, 3]: no trigram context [9, 3] and bigram context [3] seen once (→ 1).
  const q = ng.probabilities([9, 3], 2, [1]);
  assert.equal(q[0], 1);
  assert.ok(Number.isNaN(ng.probabilities([8, 9], 2, [1])[0]));
});

test('WorkspaceNgrams: open documents follow their edits, files are ingested, counts equal brute force per language', async () => {
  const ws = new WorkspaceNgrams({ maxOrder: 4 });
  ws.open('a.py', FIXTURES[0], 'python'); // before the tokenizer: pending
  let a = applyEdits(FIXTURES[0], [{ start: [0, 0], end: [0, 0], text: '# pending edit\n' }]);
  ws.edit('a.py', [{ start: [0, 0], end: [0, 0], text: '# pending edit\n' }]);
  await ws.attach(tok, 1);
  assert.ok(ws.addFile('b.c', FIXTURES[1], 'c'));
  assert.ok(ws.addFile('c.py', FIXTURES[2], 'python'));
  assert.ok(ws.addFile('a.py', 'ignored: the open document is newer', 'python'));
  await ws.ingest();
  assert.equal(ws.documents, 3);
  const rnd = mulberry32(11);
  for (let i = 0; i < 30; i++) {
    const lines = a.split('\n').length;
    const line = Math.floor(rnd() * lines);
    const col = Math.floor(rnd() * 5);
    const edit = i % 3 === 0 ? { start: [line, 0] as [number, number], end: [Math.min(lines - 1, line + 1), 0] as [number, number], text: '' } : { start: [line, col] as [number, number], end: [line, col] as [number, number], text: i % 2 ? 'x = 1\n' : 'foo(' };
    a = applyEdits(a, [edit]);
    ws.edit('a.py', [edit]);
  }
  assertCountsEqual(ws.countsOf('python') as NgramCounts, [tok.encode(a), tok.encode(FIXTURES[2])]);
  assertCountsEqual(ws.countsOf('c') as NgramCounts, [tok.encode(FIXTURES[1])]);
  assert.ok(ws.model('python') && !ws.model('rust'));
  // A changed file replaces its old counts; a removed one leaves nothing.
  ws.addFile('c.py', FIXTURES[2] + '\nprint(1)\n', 'python');
  await ws.ingest();
  ws.removeFile('b.c');
  assertCountsEqual(ws.countsOf('python') as NgramCounts, [tok.encode(a), tok.encode(FIXTURES[2] + '\nprint(1)\n')]);
  assert.equal(ws.countsOf('c')?.count([tok.encode(FIXTURES[1])[0]]), 0);
});

test('WorkspaceNgrams persists its token lists and counts them again after a restart; bad files are ignored', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'slip-ngrams-'));
  try {
    const warnings: string[] = [];
    const log = { info() {}, warn: (m: string) => warnings.push(m) };
    const first = new WorkspaceNgrams({ maxOrder: 5, stateDir: dir, log, saveDelayMs: 1e6 });
    await first.attach(tok, 42);
    first.addFile('x.py', FIXTURES[0], 'python');
    first.addFile('y.py', FIXTURES[2], 'python');
    await first.ingest();
    await first.flush();
    const second = new WorkspaceNgrams({ maxOrder: 5, stateDir: dir, log });
    await second.attach(tok, 42);
    assertCountsEqual(second.countsOf('python') as NgramCounts, [tok.encode(FIXTURES[0]), tok.encode(FIXTURES[2])]);
    // Another tokenizer's file is not used.
    const third = new WorkspaceNgrams({ maxOrder: 5, stateDir: dir, log });
    await third.attach(tok, 43);
    assert.equal(third.documents, 0);
    assert.ok(warnings.some((w) => /another tokenizer/.test(w)), warnings.join('\n'));
    // A damaged file is refused with a reason.
    const bytes = encodeTokenLists([{ path: 'p', languageId: 'python', textHash: 1, tokens: Int32Array.of(1, 2, 3) }], 7);
    assert.deepEqual(Array.from(decodeTokenLists(bytes, 7, 300)[0].tokens), [1, 2, 3]);
    bytes[20] ^= 0xff;
    assert.throws(() => decodeTokenLists(bytes, 7, 300), /checksum/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('WorkspaceNgrams keeps within maxTokens by dropping the oldest workspace files, never open documents', async () => {
  const ws = new WorkspaceNgrams({ maxOrder: 3, maxTokens: 3000 });
  await ws.attach(tok, 1);
  ws.open('open.py', FIXTURES[0].slice(0, 1500), 'python');
  await ws.ingest();
  for (let i = 0; i < 5; i++) ws.addFile(`f${i}.py`, FIXTURES[2].slice(i * 500, i * 500 + 800), 'python');
  await ws.ingest();
  assert.ok(ws.tokens <= 3000, `${ws.tokens} tokens held`);
  const open = tok.encode(FIXTURES[0].slice(0, 1500));
  assert.ok((ws.countsOf('python') as NgramCounts).count(open.slice(0, 3)) >= 1, 'the open document is still counted');
});
