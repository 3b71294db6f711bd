import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { runSession, SessionProtocol } from '../../../src/cli/session';
import { CompletionService } from '../../../src/completion/service';
import { ByteTokenizer, ScriptedModel, replyAfterMiddle } from '../decoding/fakes';
import { disposeTiny, tinyDir } from '../decoding/tinyModel';

after(disposeTiny);

function scriptedService(reply = 'done') {
  const tokenizer = new ByteTokenizer();
  const model = Object.assign(new ScriptedModel(replyAfterMiddle(() => reply)), { dispose() {} });
  return new CompletionService({ modelDir: '/m', loader: async () => ({ model, tokenizer }) });
}

test('malformed requests get an error and the session goes on', async () => {
  const svc = scriptedService();
  const p = new SessionProtocol(svc);
  assert.equal(await p.handle('   '), null);
  assert.match(String((await p.handle('{nope'))?.error), /malformed JSON/);
  assert.match(String((await p.handle('[1,2]'))?.error), /JSON object/);
  assert.match(String((await p.handle('{"id":1}'))?.error), /missing "op"/);
  assert.deepEqual(await p.handle('{"op":"fly","id":"x"}'), { id: 'x', error: 'unknown op "fly" (expected one of open, edit, complete, close, stats)' });
  assert.match(String((await p.handle('{"op":"open","path":"a.py"}'))?.error), /"text" must be a string/);
  assert.match(String((await p.handle('{"op":"open","text":"x"}'))?.error), /"path" must be a string/);
  assert.match(String((await p.handle('{"op":"complete","path":"b.py","line":0,"col":0}'))?.error), /unknown document: b.py/);
  assert.deepEqual(await p.handle('{"op":"open","path":"a.py","text":"x = "}'), { ok: true });
  assert.match(String((await p.handle('{"op":"complete","path":"a.py","line":-1,"col":0}'))?.error), /"line" must be a non-negative integer/);
  assert.match(String((await p.handle('{"op":"complete","path":"a.py","line":0}'))?.error), /"col"/);
  assert.match(String((await p.handle('{"op":"complete","path":"a.py","line":0,"col":0,"maxTokens":0}'))?.error), /maxTokens/);
  assert.match(String((await p.handle('{"op":"complete","path":"a.py","line":0,"col":0,"options":{"mode":"para"}}'))?.error), /options.mode/);
  assert.match(String((await p.handle('{"op":"complete","path":"a.py","line":0,"col":0,"options":3}'))?.error), /"options" must be an object/);
  assert.match(String((await p.handle('{"op":"complete","path":"a.py","line":0,"col":0,"options":{"promptLayout":"mps"}}'))?.error), /options.promptLayout/);
  assert.match(String((await p.handle('{"op":"complete","path":"a.py","line":0,"col":0,"options":{"tokenHealing":1}}'))?.error), /options.tokenHealing/);
  assert.match(String((await p.handle('{"op":"complete","path":"a.py","line":0,"col":0,"options":{"memberHints":{"names":"x"}}}'))?.error), /options.memberHints/);
  assert.match(String((await p.handle('{"op":"complete","path":"a.py","line":0,"col":0,"options":{"memberHints":{"receiverEnd":[0],"names":["x"]}}}'))?.error), /memberHints.receiverEnd/);
  assert.match(String((await p.handle('{"op":"edit","path":"a.py","edits":{}}'))?.error), /"edits" must be a list/);
  assert.match(String((await p.handle('{"op":"edit","path":"a.py","edits":[{"start":[0],"end":[0,0],"text":""}]}'))?.error), /edits\[0\].start/);
  assert.match(String((await p.handle('{"op":"close","path":"zz"}'))?.error), /unknown document/);
  // Still alive.
  const ok = await p.handle('{"op":"complete","path":"a.py","line":0,"col":4,"id":7}');
  assert.equal(ok?.id, 7);
  assert.equal(ok?.completion, 'done');
  await svc.shutdown();
});

test('typing into a shown completion is answered from the completion cache unless disabled', async () => {
  const svc = scriptedService('foo(1)');
  const p = new SessionProtocol(svc);
  await p.handle('{"op":"open","path":"a.py","text":"x = "}');
  const first = await p.handle('{"op":"complete","path":"a.py","line":0,"col":4}');
  assert.equal(first?.completion, 'foo(1)');
  await p.handle('{"op":"edit","path":"a.py","edits":[{"start":[0,4],"end":[0,4],"text":"fo"}]}');
  const hit = await p.handle('{"op":"complete","path":"a.py","line":0,"col":6}');
  assert.deepEqual([hit?.completion, hit?.cached], ['o(1)', true]);
  const miss = await p.handle('{"op":"complete","path":"a.py","line":0,"col":6,"options":{"completionCache":false}}');
  assert.equal(miss?.cached, undefined);
  await svc.shutdown();
});

test('session end to end over streams against the tiny fixture model', async () => {
  const svc = new CompletionService({ modelDir: tinyDir() });
  const input = new PassThrough();
  const output = new PassThrough();
  const lines: Array<Record<string, unknown>> = [];
  output.on('data', (chunk: Buffer) => {
    for (const l of chunk.toString('utf8').split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
  });
  const done = runSession(input, output, svc);
  const send = (r: object | string) => input.write(`${typeof r === 'string' ? r : JSON.stringify(r)}\n`);
  const text = 'def add(a, b):\n    return a + b\n\ndef mul(a, b):\n    \n';
  send({ op: 'open', path: 'm.py', text, id: 1 });
  send({ op: 'complete', path: 'm.py', line: 4, col: 4, maxTokens: 8, id: 2, options: { completionCache: false } });
  send({ op: 'edit', path: 'm.py', edits: [{ start: [4, 4], end: [4, 4], text: 'return ' }], id: 3 });
  send({ op: 'complete', path: 'm.py', line: 4, col: 11, maxTokens: 8, id: 4, options: { completionCache: false, mode: 'line' } });
  send('not json');
  send({ op: 'stats', id: 5 });
  send({ op: 'close', path: 'm.py', id: 6 });
  send({ op: 'complete', path: 'm.py', line: 0, col: 0, id: 7 });
  send({ op: 'stats', id: 8 });
  input.end();
  await done;
  await svc.shutdown();

  assert.equal(lines.length, 9, JSON.stringify(lines));
  assert.deepEqual(lines[0], { id: 1, ok: true });
  const c1 = lines[1];
  assert.equal(c1.id, 2);
  assert.equal(typeof c1.completion, 'string');
  const t1 = c1.timings as Record<string, number>;
  for (const k of ['loadMs', 'encodeMs', 'firstTokenMs', 'totalMs', 'tokens', 'tokensPerSecond']) assert.equal(typeof t1[k], 'number', k);
  assert.ok(t1.loadMs > 0, 'the first request paid for the load');
  assert.equal(c1.reusedTokens, 0);
  assert.ok((c1.encodedTokens as number) > 10);
  assert.deepEqual(lines[2], { id: 3, ok: true });
  const c2 = lines[3];
  assert.equal((c2.timings as Record<string, number>).loadMs, 0);
  assert.ok((c2.reusedTokens as number) > 10, 'the text before the edit is reused');
  assert.ok((c2.encodedTokens as number) < (c1.encodedTokens as number));
  assert.match(String(lines[4].error), /malformed JSON/);
  assert.equal(lines[5].id, 5);
  assert.equal(lines[5].documents, 1);
  assert.equal(lines[5].loaded, true);
  assert.ok((lines[5].cachedTokens as number) > 0);
  assert.deepEqual(lines[6], { id: 6, ok: true });
  assert.match(String(lines[7].error), /unknown document/);
  assert.equal(lines[8].documents, 0);
});

test('a bad checkpoint is an error per request, not the end of the session', async () => {
  const svc = new CompletionService({ modelDir: '/nonexistent/model' });
  const p = new SessionProtocol(svc);
  await p.handle('{"op":"open","path":"a.py","text":"x"}');
  const r = await p.handle('{"op":"complete","path":"a.py","line":0,"col":1}');
  assert.match(String(r?.error), /nonexistent/);
  assert.deepEqual(await p.handle('{"op":"stats"}').then((s) => s?.loaded), false);
  await svc.shutdown();
});
