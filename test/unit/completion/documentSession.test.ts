import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DocumentSession, fullReencode, prefixReuse, type CacheUpdater } from '../../../src/completion/documentSession';
import { DEFAULT_PROMPT_BUDGET } from '../../../src/completion/prompt';
import { ByteTokenizer, ScriptedModel, replyAfterMiddle } from '../decoding/fakes';

const tok = new ByteTokenizer();
const opts = (updater: CacheUpdater = prefixReuse, signal?: AbortSignal) => ({ updater, budget: DEFAULT_PROMPT_BUDGET, signal });

test('prefix reuse: keeps the common token prefix, encodes the rest, always re-encodes the last token', async () => {
  const model = new ScriptedModel(replyAfterMiddle(() => 'x'));
  const s = new DocumentSession('a.py', 'def f():\n    return 1\n', model, tok);
  const cursor = s.text.indexOf('1');
  const first = await s.update(cursor, opts());
  assert.deepEqual([first.reusedTokens, first.encodedTokens], [0, first.prompt.tokens.length]);
  assert.deepEqual([...s.cache.tokens()], first.prompt.tokens);

  const again = await s.update(cursor, opts());
  assert.deepEqual([again.reusedTokens, again.encodedTokens], [again.prompt.tokens.length - 1, 1]);

  // Typing "2" at the cursor: everything up to the cursor is reused.
  s.applyEdits([{ start: [1, 11], end: [1, 11], text: '2' }]);
  const typed = await s.update(cursor + 1, opts());
  assert.equal(typed.reusedTokens, typed.prompt.markers.suffix - 1);
  assert.equal(typed.reusedTokens + typed.encodedTokens, typed.prompt.tokens.length);
  assert.deepEqual([...s.cache.tokens()], typed.prompt.tokens);
  assert.deepEqual([...s.cache.positions()], typed.prompt.tokens.map((_, i) => i));

  const full = await s.update(cursor + 1, opts(fullReencode));
  assert.deepEqual([full.reusedTokens, full.encodedTokens], [0, full.prompt.tokens.length]);
});

test('the updater sees the previous prompt and the edits made since', async () => {
  const model = new ScriptedModel(replyAfterMiddle(() => 'x'));
  const seen: Array<{ previous: number | undefined; changes: number }> = [];
  const spy: CacheUpdater = {
    name: 'spy',
    update: (ctx) => {
      seen.push({ previous: ctx.previous?.tokens.length, changes: ctx.changes.length });
      return prefixReuse.update(ctx);
    },
  };
  const s = new DocumentSession('a.py', 'ab\ncd', model, tok);
  await s.update(1, opts(spy));
  s.applyEdits([{ start: [0, 0], end: [0, 0], text: 'X' }]);
  s.applyEdits([{ start: [1, 0], end: [1, 1], text: '' }]);
  await s.update(1, opts(spy));
  assert.equal(s.text, 'Xab\nd');
  assert.deepEqual(seen, [
    { previous: undefined, changes: 0 },
    { previous: 4 + 'a.py\n'.length + 'ab\ncd'.length, changes: 2 },
  ]);
});

test('an aborted update leaves a valid cache prefix; the next update completes it', async () => {
  const controller = new AbortController();
  const text = 'x'.repeat(1500);
  const model = new ScriptedModel(replyAfterMiddle(() => 'x'), {
    beforeForward: (n) => {
      if (n === 1) controller.abort();
    },
  });
  const s = new DocumentSession('a.py', text, model, tok);
  await assert.rejects(s.update(text.length, opts(prefixReuse, controller.signal)), { name: 'AbortError' });
  const partial = s.cache.length;
  assert.ok(partial > 0 && partial % 512 === 0, `whole chunks only (${partial})`);
  const done = await s.update(text.length, opts());
  assert.equal(done.reusedTokens, partial);
  assert.equal(s.cache.length, done.prompt.tokens.length);
});

test('a misbehaving updater is reported', async () => {
  const model = new ScriptedModel(replyAfterMiddle(() => 'x'));
  const s = new DocumentSession('a.py', 'abc', model, tok);
  const lazy: CacheUpdater = { name: 'lazy', update: async () => ({ logits: new Float32Array(1), reusedTokens: 0, encodedTokens: 0 }) };
  await assert.rejects(s.update(1, opts(lazy)), /cache updater 'lazy' left 0 slots/);
});

test('setText replaces the text as one edit; dispose frees the cache', async () => {
  const model = new ScriptedModel(replyAfterMiddle(() => 'x'));
  const s = new DocumentSession('a.py', 'one\ntwo', model, tok);
  await s.update(3, opts());
  const v = s.version;
  s.setText('three');
  assert.equal(s.text, 'three');
  assert.equal(s.version, v + 1);
  s.dispose();
  assert.equal(s.cachedTokens, 0);
  await s.update(5, opts());
  assert.ok(s.cachedTokens > 0);
});

