// The completion service on a worker thread (src/completion/worker/): the answers are the
// in-process service's, cancellation crosses the thread, errors keep their names (the editor
// classifies by name), a document the worker could not update is reported, and a worker that
// dies fails its requests and says so once.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CompletionService } from '../../../src/completion/service';
import { WorkerBackend, type WorkerBackendOptions } from '../../../src/completion/worker/backend';
import { fromWire, toWire } from '../../../src/completion/worker/protocol';
import type { EngineState } from '../../../src/completion/types';
import { classifyError, errorMessage } from '../../../src/editor/errors';
import { writeTinyCheckpoint } from '../../fixtures/tinyModel';

const WORKER_TS = join(__dirname, '../../../src/completion/worker/worker.ts');
let tmp = '';
let modelDir = '';
/** The worker's TypeScript entry, loaded through tsx's require hook (Node 20 workers take no .ts). */
let workerJs = '';

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'slip-worker-'));
  modelDir = writeTinyCheckpoint(join(tmp, 'tiny')).dir;
  workerJs = join(tmp, 'worker.js');
  writeFileSync(workerJs, `require(${JSON.stringify(require.resolve('tsx/cjs'))});\nrequire(${JSON.stringify(WORKER_TS)});\n`);
});
after(() => rmSync(tmp, { recursive: true, force: true }));

function backend(opts: Partial<WorkerBackendOptions> = {}): WorkerBackend {
  return new WorkerBackend({ modelDir, workerPath: workerJs, ...opts });
}

const TEXT = Array.from({ length: 30 }, (_, i) => `value_${i} = compute(${i}, "item ${i}")`).join('\n') + '\n';
const REQ = { path: 'm.py', line: 25, col: 0, maxTokens: 6, options: { monitors: false, mode: 'line' as const, speculation: 'off' as const } };

test('answers as the in-process service does, across edits, and reports states and stats', async () => {
  const states: EngineState[] = [];
  const w = backend({ onState: (s) => states.push(s) });
  const local = new CompletionService({ modelDir });
  try {
    for (const b of [w, local]) b.open('m.py', TEXT, 'python');
    await w.ensureLoaded();
    assert.ok(states.some((s) => s.kind === 'loading') && states.some((s) => s.kind === 'ready'), JSON.stringify(states));
    const [a1, b1] = [await w.complete(REQ), await local.complete(REQ)];
    assert.equal(a1.completion, b1.completion);
    assert.deepEqual(a1.completions, b1.completions);
    assert.equal(a1.encodedTokens, b1.encodedTokens);

    const edit = [{ start: [2, 0] as [number, number], end: [2, 0] as [number, number], text: '# note\n' }];
    w.edit('m.py', edit);
    local.edit('m.py', edit);
    const [a2, b2] = [await w.complete({ ...REQ, line: 26 }), await local.complete({ ...REQ, line: 26 })];
    assert.equal(a2.completion, b2.completion);
    assert.equal(a2.reusedTokens, b2.reusedTokens);
    assert.ok(a2.reusedTokens > 5 * a2.encodedTokens, `PIE reuses the cache in the worker too (${a2.reusedTokens} / ${a2.encodedTokens})`);
    assert.equal(w.stats().loaded, true);
    assert.equal(w.stats().documents, 1);
    assert.equal((await w.refreshStats()).cachedTokens > 0, true);
  } finally {
    await w.shutdown();
    await local.shutdown();
  }
});

test('an aborted request is cancelled in the worker and answers as cancelled', async () => {
  const w = backend();
  try {
    w.open('m.py', TEXT, 'python');
    await w.ensureLoaded();
    const ctl = new AbortController();
    ctl.abort();
    const r = await w.complete({ ...REQ, maxTokens: 200, signal: ctl.signal });
    assert.equal(r.stopReason, 'cancelled');
    // The worker still answers the next request normally.
    const next = await w.complete(REQ);
    assert.notEqual(next.stopReason, 'cancelled');
    // Waiting for the load can be given up on: rejects with the signal's reason.
    const wait = new AbortController();
    wait.abort(new Error('gave up'));
    await assert.rejects(w.ensureLoaded(wait.signal), /gave up/);
  } finally {
    await w.shutdown();
  }
});

test('a corrupt model folder: the load fails with a CheckpointError that names the file', async () => {
  const bad = join(tmp, 'corrupt');
  writeTinyCheckpoint(bad);
  writeFileSync(join(bad, 'config.json'), '{ "model_type": "llama", "hidden_size": ');
  const w = backend({ modelDir: bad });
  try {
    const err = await w.ensureLoaded().then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof Error);
    assert.equal(classifyError(err), 'checkpoint');
    assert.match(errorMessage(err), /config\.json/);
  } finally {
    await w.shutdown();
  }
});

test('edits the worker cannot apply come back as a document error; unknown documents throw at once', async () => {
  const lost: Array<{ path: string; message: string }> = [];
  const w = backend({ onDocumentError: (path, err) => lost.push({ path, message: err.message }) });
  try {
    assert.throws(() => w.edit('nope.py', []), /unknown document/);
    w.open('m.py', TEXT, 'python');
    // Two edits that overlap: the document text module refuses them.
    w.edit('m.py', [
      { start: [1, 0], end: [1, 5], text: 'a' },
      { start: [1, 2], end: [1, 6], text: 'b' },
    ]);
    await w.refreshStats(); // a round trip: every earlier message has been handled
    assert.equal(lost.length, 1, JSON.stringify(lost));
    assert.equal(lost[0].path, 'm.py');
    assert.match(lost[0].message, /overlapping/);
  } finally {
    await w.shutdown();
  }
});

test('a worker that dies fails what is waiting, reports the crash once, and refuses more work', async () => {
  const script = join(tmp, 'dies.js');
  writeFileSync(script, "require('node:worker_threads').parentPort.on('message', () => process.exit(3));\n");
  const crashes: string[] = [];
  const w = new WorkerBackend({ modelDir, workerPath: script, onCrash: (e) => crashes.push(e.message) });
  await assert.rejects(w.ensureLoaded(), /exited unexpectedly \(exit code 3\)/);
  assert.deepEqual(crashes, ['the completion worker exited unexpectedly (exit code 3)']);
  assert.throws(() => w.open('m.py', 'x'), /exited unexpectedly/);
  await w.shutdown();
  assert.equal(crashes.length, 1);
});

test('errors cross the thread with their name, message and cause', () => {
  const inner = new Error('config.json: not valid JSON');
  inner.name = 'CheckpointError';
  const back = fromWire(toWire(new Error('load failed', { cause: inner })));
  assert.equal(back.message, 'load failed');
  assert.equal((back.cause as Error).name, 'CheckpointError');
  assert.equal(classifyError(back), 'checkpoint');
  assert.deepEqual(toWire('plain'), { name: 'Error', message: 'plain' });
});
