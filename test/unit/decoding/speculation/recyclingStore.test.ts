// Persistence of the recycling matrix: round trip, size cap, and files that must be ignored
// (damaged, foreign, truncated) without an exception.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdjacencyMatrix, RECYCLING_K } from '../../../../src/decoding/speculation/recycling';
import { decodeMatrix, encodeMatrix, MAX_STATE_BYTES, RECYCLING_FILE, RecyclingStore, tokenizerFingerprint } from '../../../../src/decoding/speculation/recyclingStore';
import { mulberry32 } from '../../../fixtures/tinyModel';
import { ByteTokenizer } from '../fakes';

const tmp = mkdtempSync(join(tmpdir(), 'slip-recycling-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function filled(vocab: number, rows: number, seed = 1): AdjacencyMatrix {
  const m = new AdjacencyMatrix(vocab);
  const rnd = mulberry32(seed);
  for (let i = 0; i < rows; i++) {
    const logits = Float32Array.from({ length: vocab }, () => rnd());
    m.update(Math.floor(rnd() * vocab), logits);
  }
  return m;
}

function logs(): { lines: string[]; log: { info(m: string): void; warn(m: string): void } } {
  const lines: string[] = [];
  return { lines, log: { info: (m) => lines.push(`info ${m}`), warn: (m) => lines.push(`warn ${m}`) } };
}

test('encode → decode gives the same matrix; the file is small', () => {
  const m = filled(500, 300);
  const bytes = encodeMatrix(m, 1234);
  assert.ok(bytes.length <= 24 + m.filledRows() * (4 + 4 * RECYCLING_K) + 4);
  const back = decodeMatrix(bytes, 500, 1234);
  assert.deepEqual([...back.data], [...m.data]);
  assert.equal(back.dirty, false);
  // The default model's whole matrix (15,232 × 8) fits the 2 MiB budget.
  const full = new AdjacencyMatrix(15232);
  for (let t = 0; t < full.vocab; t++) full.setRow(t, [1, 2, 3, 4, 5, 6, 7, 8], t + 1);
  assert.ok(encodeMatrix(full, 0).length < 2 * 1024 * 1024);
});

test('over the size budget, the most recently written rows are kept', () => {
  const m = new AdjacencyMatrix(100);
  for (let t = 0; t < 100; t++) m.setRow(t, [t, 1, 2], t + 1); // row 99 newest
  const rowBytes = 4 + 4 * RECYCLING_K;
  const bytes = encodeMatrix(m, 7, 24 + 4 + 10 * rowBytes);
  const back = decodeMatrix(bytes, 100, 7);
  assert.equal(back.filledRows(), 10);
  for (let t = 90; t < 100; t++) assert.equal(back.row(t)[0], t);
  assert.equal(back.row(89)[0], -1);
  // Order survives another round trip (stamps restored newest first).
  const again = decodeMatrix(encodeMatrix(back, 7, 24 + 4 + 5 * rowBytes), 100, 7);
  for (let t = 95; t < 100; t++) assert.equal(again.row(t)[0], t);
  assert.equal(again.filledRows(), 5);
});

test('damaged and foreign files are refused with a reason', () => {
  const good = encodeMatrix(filled(64, 20), 42);
  const flipped = good.slice();
  flipped[40] ^= 1;
  assert.throws(() => decodeMatrix(flipped, 64, 42), /checksum/);
  assert.throws(() => decodeMatrix(good.subarray(0, good.length - 9), 64, 42), /checksum|bytes/);
  assert.throws(() => decodeMatrix(good.subarray(0, 10), 64, 42), /too short/);
  assert.throws(() => decodeMatrix(new TextEncoder().encode('hello world, not a matrix file!!'), 64, 42), /not a token recycling file/);
  assert.throws(() => decodeMatrix(good, 65, 42), /vocab/);
  assert.throws(() => decodeMatrix(good, 64, 43), /another tokenizer/);
});

test('the store: lazy load, debounced save, flush, and a corrupt file ignored with a log line', async () => {
  const dir = join(tmp, 'ws1');
  const fp = tokenizerFingerprint(new ByteTokenizer());
  const a = logs();
  const store = new RecyclingStore({ dir, log: a.log, saveDelayMs: 20 });
  const m = await store.load(300, fp);
  assert.equal(m.filledRows(), 0, 'no file yet: an empty matrix, silently');
  assert.deepEqual(a.lines, []);
  m.update(5, Float32Array.from({ length: 300 }, (_, i) => i % 17));
  store.touch();
  await new Promise((r) => setTimeout(r, 80));
  await store.flush();
  const file = join(dir, RECYCLING_FILE);
  assert.ok(existsSync(file), 'saved after the quiet period');
  const reloaded = await new RecyclingStore({ dir }).load(300, fp);
  assert.deepEqual([...reloaded.row(5)], [...m.row(5)]);

  // Damage it: the next load logs and starts empty; flush then replaces the file.
  const bytes = readFileSync(file);
  bytes[bytes.length - 1] ^= 0xff;
  writeFileSync(file, bytes);
  const b = logs();
  const store2 = new RecyclingStore({ dir, log: b.log });
  const m2 = await store2.load(300, fp);
  assert.equal(m2.filledRows(), 0);
  assert.equal(b.lines.length, 1);
  assert.match(b.lines[0], /^warn token recycling: ignoring .*checksum/);
  m2.update(6, Float32Array.from({ length: 300 }, (_, i) => -i));
  await store2.flush();
  assert.deepEqual([...(await new RecyclingStore({ dir }).load(300, fp)).row(6)], [0, 1, 2, 3, 4, 5, 6, 7]);

  // Another tokenizer's file: ignored.
  const c = logs();
  const other = await new RecyclingStore({ dir, log: c.log }).load(300, fp ^ 1);
  assert.equal(other.filledRows(), 0);
  assert.match(c.lines[0], /another tokenizer/);

  // A folder that cannot be written: the save is logged, nothing throws.
  writeFileSync(join(tmp, 'plainfile'), 'x');
  const d = logs();
  const bad = new RecyclingStore({ dir: join(tmp, 'plainfile', 'sub'), log: d.log });
  const m3 = await bad.load(300, fp);
  m3.update(1, new Float32Array(300));
  await bad.flush();
  assert.match(d.lines.join('\n'), /could not save/);

  // No folder: memory only, nothing written.
  const mem = new RecyclingStore({});
  (await mem.load(10, fp)).update(1, new Float32Array(10));
  await mem.flush();
  assert.equal(mem.file, undefined);
});

test('each workspace keeps its own matrix file, at most 2 MB even for a 152k vocabulary', async () => {
  assert.ok(MAX_STATE_BYTES <= 2 * 1024 * 1024);
  const vocab = 151_665; // Qwen2.5-Coder's tokenizer: a full matrix is 4.9 MB of int32
  const fp = 99;
  const wsA = join(tmp, 'wsA', 'speculation');
  const wsB = join(tmp, 'wsB', 'speculation');
  const a = new RecyclingStore({ dir: wsA });
  const ma = await a.load(vocab, fp);
  for (let t = 0; t < vocab; t++) ma.setRow(t, [t % 1000, 1, 2, 3, 4, 5, 6, 7], t + 1); // the last rows newest
  await a.flush();
  const b = new RecyclingStore({ dir: wsB });
  const mb = await b.load(vocab, fp);
  mb.setRow(42, [7, 7, 7], 1);
  await b.flush();

  const size = statSync(join(wsA, RECYCLING_FILE)).size;
  assert.ok(size <= MAX_STATE_BYTES, `${size} bytes`);
  assert.ok(size > MAX_STATE_BYTES - 64, 'the budget is used, not wasted');
  const backA = await new RecyclingStore({ dir: wsA }).load(vocab, fp);
  assert.equal(backA.filledRows(), Math.floor((MAX_STATE_BYTES - 28) / (4 + 4 * RECYCLING_K)));
  assert.equal(backA.row(vocab - 1)[0], (vocab - 1) % 1000, 'the newest rows are kept');
  assert.equal(backA.row(0)[0], -1, 'the oldest rows go');
  // The other workspace's file holds only its own row.
  const backB = await new RecyclingStore({ dir: wsB }).load(vocab, fp);
  assert.equal(backB.filledRows(), 1);
  assert.deepEqual([...backB.row(42)].slice(0, 3), [7, 7, 7]);
  assert.ok(statSync(join(wsB, RECYCLING_FILE)).size < 100);
});

test('the tokenizer fingerprint tells tokenizers apart', () => {
  const a = new ByteTokenizer();
  const b = { size: a.size, tokenBytes: (id: number) => a.tokenBytes(id === 65 ? 66 : id) };
  assert.equal(tokenizerFingerprint(a), tokenizerFingerprint(new ByteTokenizer()));
  assert.notEqual(tokenizerFingerprint(a), tokenizerFingerprint(b));
});
