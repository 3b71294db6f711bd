import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { blockContext, chooseMode, CompletionService, resumeLineAfter, type LoadedModel, type ModelLoader } from '../../../src/completion/service';
import type { EngineState } from '../../../src/completion/types';
import { CheckpointError, type ForwardRequest } from '../../../src/engine/types';
import type { KvCache } from '../../../src/engine/kvCache';
import { ByteTokenizer, ScriptedModel, replyAfterMiddle, type ScriptedModelOptions } from '../decoding/fakes';
import { disposeTiny, loadTiny } from '../decoding/tinyModel';

after(disposeTiny);

const tok = new ByteTokenizer();

function scripted(reply: (prompt: string) => string, modelOpts: ScriptedModelOptions = {}) {
  const model = new ScriptedModel(
    replyAfterMiddle((p) => reply(tok.decode(p.filter((t) => t < 256)))),
    modelOpts,
  );
  let loads = 0;
  let disposed = 0;
  const loader: ModelLoader = async () => {
    loads++;
    return { model: Object.assign(model, { dispose: () => void disposed++ }), tokenizer: tok };
  };
  return { model, loader, loads: () => loads, disposed: () => disposed };
}

test('complete: prompt → generation → post-processing, with reuse counts and timings', async () => {
  const { loader } = scripted(() => 'b)  \nnext');
  const states: EngineState['kind'][] = [];
  const svc = new CompletionService({ modelDir: '/m', loader, onState: (s) => states.push(s.kind) });
  svc.open('a.py', 'f(a, )\n');
  const r = await svc.complete({ path: 'a.py', line: 0, col: 5 });
  assert.equal(r.completion, 'b', 'first line, no closer the suffix has, no trailing space');
  assert.deepEqual(r.completions, ['b']);
  assert.equal(r.stopReason, 'stop');
  assert.equal(r.reusedTokens, 0);
  assert.ok(r.encodedTokens > 0);
  assert.ok(r.timings.loadMs >= 0 && r.timings.tokens === 5);
  assert.deepEqual(states, ['loading', 'ready', 'generating', 'ready']);
  const again = await svc.complete({ path: 'a.py', line: 0, col: 5 });
  assert.equal(again.timings.loadMs, 0);
  assert.equal(again.reusedTokens, r.encodedTokens - 1);
  const full = await svc.complete({ path: 'a.py', line: 0, col: 5, options: { cache: 'full' } });
  assert.equal(full.reusedTokens, 0);
  const stats = svc.stats();
  assert.equal(stats.documents, 1);
  assert.equal(stats.loaded, true);
  assert.equal(stats.cachedTokens, r.encodedTokens);
  assert.ok(stats.cacheBytes > 0 && stats.residentBytes > 0);
  svc.dispose();
});

test('block mode ends before the model rewrites the line that follows the cursor', async () => {
  const { loader } = scripted(() => 'y = 1\n    return x\n    z = 2');
  const svc = new CompletionService({ modelDir: '/m', loader });
  svc.open('a.py', 'def f(x):\n    \n\n    return x\n');
  const r = await svc.complete({ path: 'a.py', line: 1, col: 4, options: { mode: 'block' } });
  assert.equal(r.completion, 'y = 1');
  svc.open('b.py', 'def f(x):\n    \n    return 2 * x\n');
  const other = await svc.complete({ path: 'b.py', line: 1, col: 4, options: { mode: 'block' } });
  assert.equal(other.completion, 'y = 1\n    return x\n    z = 2', 'a different next line does not stop it');
  svc.dispose();
});

test('edits (before and after the model loads) reach the prompt', async () => {
  const { loader } = scripted((p) => (p.includes('ZZ') ? 'seen' : 'not'));
  const svc = new CompletionService({ modelDir: '/m', loader });
  svc.open('a.py', 'x = 1\n');
  svc.edit('a.py', [{ start: [0, 0], end: [0, 0], text: 'ZZ' }]);
  assert.equal(svc.textOf('a.py'), 'ZZx = 1\n');
  assert.equal((await svc.complete({ path: 'a.py', line: 1, col: 0, options: { mode: 'line' } })).completion, 'seen');
  svc.edit('a.py', [{ start: [0, 0], end: [0, 2], text: '' }]);
  assert.equal((await svc.complete({ path: 'a.py', line: 1, col: 0, options: { mode: 'line' } })).completion, 'not');
  svc.open('a.py', 'ZZ again');
  assert.equal(svc.textOf('a.py'), 'ZZ again');
  svc.dispose();
});

test('unknown documents and bad positions are errors', async () => {
  const { loader } = scripted(() => 'x');
  const svc = new CompletionService({ modelDir: '/m', loader });
  await assert.rejects(svc.complete({ path: 'nope', line: 0, col: 0 }), /unknown document: nope/);
  assert.throws(() => svc.edit('nope', []), /unknown document/);
  svc.open('a', 'x');
  await assert.rejects(svc.complete({ path: 'a', line: -1, col: 0 }), RangeError);
  await assert.rejects(svc.complete({ path: 'a', line: 0, col: 0, maxTokens: 0 }), RangeError);
  svc.close('nope');
  svc.dispose();
  assert.throws(() => svc.open('b', ''), /disposed/);
});

test('huge and binary documents are skipped without loading the model', async () => {
  const s = scripted(() => 'x');
  const svc = new CompletionService({ modelDir: '/m', loader: s.loader, maxDocumentBytes: 1024 });
  svc.open('big', 'x'.repeat(2000));
  svc.open('bin', 'ab\0cd');
  const big = await svc.complete({ path: 'big', line: 0, col: 0 });
  assert.equal(big.stopReason, 'skipped');
  assert.match(big.skippedReason ?? '', /too large/);
  const bin = await svc.complete({ path: 'bin', line: 0, col: 0 });
  assert.match(bin.skippedReason ?? '', /NUL/);
  assert.equal(s.loads(), 0);
  svc.dispose();
});

test('model load: single flight, errors become the error state, a later request retries', async () => {
  let calls = 0;
  let fail = true;
  const good = scripted(() => 'ok');
  const loader: ModelLoader = async (dir, opts) => {
    calls++;
    await new Promise((r) => setTimeout(r, 5));
    if (fail) throw new CheckpointError('config.json', 'unknown model_type "gpt2"');
    return good.loader(dir, opts);
  };
  const states: EngineState[] = [];
  const svc = new CompletionService({ modelDir: '/m', loader, onState: (s) => states.push(s) });
  svc.open('a', 'x');
  const results = await Promise.allSettled([svc.ensureLoaded(), svc.ensureLoaded(), svc.complete({ path: 'a', line: 0, col: 1 })]);
  assert.equal(calls, 1);
  for (const r of results) {
    assert.equal(r.status, 'rejected');
    assert.ok(r.status === 'rejected' && r.reason instanceof CheckpointError);
  }
  assert.deepEqual(states[states.length - 1], { kind: 'error', message: 'config.json: unknown model_type "gpt2"' });
  fail = false;
  assert.equal((await svc.complete({ path: 'a', line: 0, col: 1 })).completion, 'ok');
  assert.equal(calls, 2);
  svc.dispose();
});

test('a new request on a document aborts the running one; requests never overlap', async () => {
  let inFlight = 0;
  let maxInFlight = 0;
  let second: Promise<unknown> | undefined;
  let startSecond: (() => Promise<unknown>) | undefined;
  const s = scripted(() => 'abcdefghij', {
    beforeForward: async (n) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      // The second request arrives while the first is generating.
      if (n === 3 && startSecond) second = startSecond();
      await new Promise((r) => setImmediate(r));
      inFlight--;
    },
  });
  const svc = new CompletionService({ modelDir: '/m', loader: s.loader });
  svc.open('a', 'x = ');
  startSecond = () => svc.complete({ path: 'a', line: 0, col: 4 });
  const r1 = await svc.complete({ path: 'a', line: 0, col: 4 });
  startSecond = undefined;
  const r2 = (await second) as Awaited<ReturnType<typeof svc.complete>>;
  assert.equal(r1.stopReason, 'cancelled');
  assert.equal(r1.completion, '');
  assert.equal(r2.completion, 'abcdefghij');
  assert.equal(maxInFlight, 1);
  // The caller's own signal cancels too.
  const controller = new AbortController();
  controller.abort();
  assert.equal((await svc.complete({ path: 'a', line: 0, col: 4, signal: controller.signal })).stopReason, 'cancelled');
  svc.dispose();
});

test('closing a document mid-completion cancels it and frees its cache', async () => {
  let close: (() => void) | undefined;
  const s = scripted(() => 'abcdefghij', {
    beforeForward: (n) => {
      if (n === 3) close?.();
    },
  });
  const svc = new CompletionService({ modelDir: '/m', loader: s.loader });
  svc.open('a', 'x = ');
  close = () => svc.close('a');
  const r = await svc.complete({ path: 'a', line: 0, col: 4 });
  assert.equal(r.stopReason, 'cancelled');
  assert.equal(svc.stats().documents, 0);
  assert.equal(svc.stats().cachedTokens, 0);
  await assert.rejects(svc.complete({ path: 'a', line: 0, col: 4 }), /unknown document/);
  // Re-opening starts over, and works.
  close = undefined;
  svc.open('a', 'x = ');
  assert.equal((await svc.complete({ path: 'a', line: 0, col: 4 })).completion, 'abcdefghij');
  await svc.shutdown();
  assert.equal(s.disposed(), 1);
});

test('auto mode and block context from the cursor line', () => {
  assert.equal(chooseMode('    ', ''), 'block');
  assert.equal(chooseMode('def f():', ''), 'block');
  assert.equal(chooseMode('x = foo(', ')'), 'block');
  assert.equal(chooseMode('x = ', ''), 'line');
  assert.equal(chooseMode('', 'foo()'), 'line');
  assert.deepEqual(blockContext('  if x:', '  if x:'), { indent: 2, opensBlock: true });
  assert.deepEqual(blockContext('def f():\n    return 1\n    ', '    '), { indent: 4, opensBlock: false });
  // Blank line right below an opener, not indented yet: the opener's line is the reference.
  assert.deepEqual(blockContext('def f():\n', ''), { indent: 0, opensBlock: true });
  assert.deepEqual(blockContext('  x = {\n\n', ''), { indent: 2, opensBlock: true });
});

test('resumeLineAfter: the first non-blank line after the cursor line, trimmed', () => {
  const text = 'def f():\n    \n\n  \r\n    return 1\nx';
  assert.equal(resumeLineAfter(text, text.indexOf('    \n')), 'return 1');
  assert.equal(resumeLineAfter(text, 2), 'return 1'); // the rest of the cursor line is skipped
  assert.equal(resumeLineAfter(text, text.indexOf('return')), 'x');
  assert.equal(resumeLineAfter(text, text.length), undefined);
  assert.equal(resumeLineAfter('a\n\n\n', 0), undefined);
  assert.equal(resumeLineAfter('a' + '\n'.repeat(300) + 'b', 0), undefined); // looks 200 lines ahead
});

/** The tiny real model behind a loader that counts forwards and never disposes the shared model. */
async function tinyService(onForward?: (n: number) => void) {
  const { model, ckpt } = await loadTiny();
  let n = 0;
  const wrapped: LoadedModel = {
    tokenizer: ckpt.tokenizer,
    model: {
      embed: (t) => model.embed(t),
      createCache: () => model.createCache(),
      forward: (cache: KvCache, req: ForwardRequest) => {
        onForward?.(n++);
        return model.forward(cache, req);
      },
      dispose: () => {},
    },
  };
  return new CompletionService({ modelDir: 'tiny', loader: async () => wrapped });
}

test('cancellation mid-generation leaves the session usable; the next completion equals a fresh one (tiny real model)', async () => {
  const text = 'def add(a, b):\n    return a + b\n\ndef mul(a, b):\n    \n';
  const req = { path: 'm.py', line: 4, col: 4, maxTokens: 16, options: { mode: 'block' as const } };

  const fresh = await tinyService();
  fresh.open('m.py', text);
  const reference = await fresh.complete(req);
  assert.ok(reference.timings.tokens >= 4, `the model generates a few tokens (${reference.timings.tokens})`);

  const controller = new AbortController();
  let abortAt = -1;
  const svc = await tinyService((n) => {
    if (n === abortAt) controller.abort();
  });
  svc.open('m.py', text);
  await svc.ensureLoaded();
  abortAt = 3; // forward 0 encodes the prompt, 1.. are generation steps
  const cancelled = await svc.complete({ ...req, signal: controller.signal });
  assert.equal(cancelled.stopReason, 'cancelled');
  assert.equal(svc.stats().cachedTokens, reference.encodedTokens, 'the cache holds the prompt again');

  const next = await svc.complete(req);
  assert.equal(next.completion, reference.completion);
  assert.equal(next.timings.tokens, reference.timings.tokens);
  assert.equal(next.stopReason, reference.stopReason);
  assert.equal(next.reusedTokens, reference.encodedTokens - 1);
  fresh.dispose();
  svc.dispose();
});
