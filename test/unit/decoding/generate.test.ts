import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { generate } from '../../../src/decoding/generate';
import { generationConfig } from '../../../src/decoding/generationConfig';
import { banTokens } from '../../../src/decoding/logitsProcessors';
import { argmax } from '../../../src/decoding/sampling';
import { stopAtMaxTokens } from '../../../src/decoding/stopping';
import { encodeInto } from '../../../src/completion/pie/cacheUpdate';
import { ByteTokenizer, EOS, FIM_MIDDLE, ScriptedModel, replyAfterMiddle } from './fakes';
import { disposeTiny, loadTiny } from './tinyModel';

after(disposeTiny);

const tok = new ByteTokenizer();
const PROMPT = [...tok.encode('x = '), FIM_MIDDLE];

async function primed(model: ScriptedModel, prompt = PROMPT) {
  const cache = model.createCache();
  const logits = await encodeInto(model, cache, prompt, 0);
  return { cache, logits };
}

test('stops at eos, hides its text and gives the cache back at prompt length', async () => {
  const model = new ScriptedModel(replyAfterMiddle(() => '42'));
  const { cache, logits } = await primed(model);
  const out = await generate(model, cache, logits, generationConfig(tok), { tokenizer: tok });
  assert.equal(out.text, '42');
  assert.equal(out.stop, 'eos');
  assert.deepEqual(out.tokens, [...tok.encode('42'), EOS]);
  assert.equal(out.forwards, 2);
  assert.equal(cache.length, PROMPT.length);
  assert.deepEqual([...cache.tokens()], PROMPT);
});

test('single-line mode cuts at the end of the line; block mode at the dedent', async () => {
  const reply = 'a + 1\n    b\nc';
  const model = new ScriptedModel(replyAfterMiddle(() => reply));
  const { cache, logits } = await primed(model);
  const line = await generate(model, cache, logits.slice(), generationConfig(tok, { mode: 'line' }), { tokenizer: tok });
  assert.deepEqual([line.text, line.stop], ['a + 1', 'endOfLine']);
  const block = await generate(model, cache, logits.slice(), generationConfig(tok, { mode: 'block', block: { indent: 4, opensBlock: false } }), { tokenizer: tok });
  assert.deepEqual([block.text, block.stop], ['a + 1\n    b', 'endOfBlock']);
  assert.equal(cache.length, PROMPT.length);
});

test('max tokens, stop strings and control tokens', async () => {
  const model = new ScriptedModel(replyAfterMiddle(() => 'abcdef'));
  const { cache, logits } = await primed(model);
  const max = await generate(model, cache, logits.slice(), generationConfig(tok, { maxNewTokens: 3 }), { tokenizer: tok });
  assert.deepEqual([max.text, max.stop, max.tokens.length, max.forwards], ['abc', 'maxTokens', 3, 2]);
  const stop = await generate(model, cache, logits.slice(), generationConfig(tok, { stopStrings: ['cd'] }), { tokenizer: tok });
  assert.deepEqual([stop.text, stop.stop], ['ab', 'stopString']);
  const sep = tok.specialId('<|file_sep|>') as number;
  const ctl = new ScriptedModel((seq) => (seq.length > PROMPT.length ? sep : 'q'.charCodeAt(0)));
  const primedCtl = await primed(ctl);
  const out = await generate(ctl, primedCtl.cache, primedCtl.logits, generationConfig(tok), { tokenizer: tok });
  assert.deepEqual([out.text, out.stop], ['q', 'stopToken']);
});

test('a character split across tokens appears whole; an unfinished one is dropped', async () => {
  const model = new ScriptedModel(replyAfterMiddle(() => 'é€'));
  const { cache, logits } = await primed(model);
  const seen: string[] = [];
  const out = await generate(model, cache, logits.slice(), generationConfig(tok), { tokenizer: tok, onToken: (_, p) => seen.push(p.text) });
  assert.equal(out.text, 'é€');
  assert.deepEqual(seen, ['', 'é', 'é', 'é', 'é€', 'é€']);
  const cut = await generate(model, cache, logits.slice(), generationConfig(tok, { maxNewTokens: 4 }), { tokenizer: tok });
  assert.equal(cut.text, 'é');
});

test('logits processors and the chooser are pluggable', async () => {
  const model = new ScriptedModel(replyAfterMiddle(() => 'ab'));
  const { cache, logits } = await primed(model);
  const banned = await generate(model, cache, logits.slice(), generationConfig(tok, { maxNewTokens: 2 }), { tokenizer: tok, processors: [banTokens(['a'.charCodeAt(0)])] });
  assert.notEqual(banned.text[0], 'a');
  const calls: Array<[number, number]> = [];
  const custom = await generate(model, cache, logits.slice(), generationConfig(tok, { maxNewTokens: 3 }), {
    tokenizer: tok,
    chooser: (_, ctx) => {
      calls.push([ctx.position, ctx.generated.length]);
      return 'z'.charCodeAt(0);
    },
  });
  assert.equal(custom.text, 'zzz');
  assert.deepEqual(calls, [
    [PROMPT.length, 0],
    [PROMPT.length + 1, 1],
    [PROMPT.length + 2, 2],
  ]);
});

test('cancellation after a forward returns cancelled and restores the prompt cache', async () => {
  const controller = new AbortController();
  const model = new ScriptedModel(replyAfterMiddle(() => 'abcdefgh'), {
    beforeForward: (n) => {
      if (n === 3) controller.abort();
    },
  });
  const { cache, logits } = await primed(model);
  const out = await generate(model, cache, logits, generationConfig(tok), { tokenizer: tok, signal: controller.signal });
  assert.equal(out.stop, 'cancelled');
  assert.equal(cache.length, PROMPT.length);
  assert.deepEqual([...cache.tokens()], PROMPT);
  // Already aborted: no token, no forward.
  const again = await generate(model, cache, new Float32Array(model.vocab), generationConfig(tok), { tokenizer: tok, signal: controller.signal });
  assert.deepEqual([again.stop, again.tokens.length], ['cancelled', 0]);
});

test('a failing forward propagates and still truncates the cache', async () => {
  const model = new ScriptedModel(replyAfterMiddle(() => 'abcdefgh'), {
    beforeForward: (n) => {
      if (n === 2) throw new Error('boom');
    },
  });
  const { cache, logits } = await primed(model);
  await assert.rejects(generate(model, cache, logits, generationConfig(tok), { tokenizer: tok }), /boom/);
  assert.equal(cache.length, PROMPT.length);
});

test('greedy generation equals an argmax loop over full recomputation (tiny real model)', async () => {
  const { model, ckpt } = await loadTiny();
  const tokenizer = ckpt.tokenizer;
  const prompt = [tokenizer.specialId('<|fim_prefix|>') as number, ...tokenizer.encode('def add(a, b):\n    return'), tokenizer.specialId('<|fim_middle|>') as number];
  const steps = 12;

  // Reference: every step re-runs the whole sequence from an empty cache.
  const reference: number[] = [];
  const seq = [...prompt];
  for (let i = 0; i < steps; i++) {
    const fresh = model.createCache();
    const out = await model.forward(fresh, { embeds: model.embed(seq), positions: seq.map((_, j) => j) });
    const next = argmax(out.logits);
    reference.push(next);
    seq.push(next);
  }

  const cache = model.createCache();
  const logits = await encodeInto(model, cache, prompt, 0);
  const out = await generate(model, cache, logits, generationConfig(tokenizer, { eosTokenIds: [], stopTokenIds: [] }), {
    tokenizer,
    criteria: [stopAtMaxTokens(steps)],
  });
  assert.deepEqual(out.tokens, reference);
  assert.equal(out.text, tokenizer.decode(reference).replace(/\uFFFD+$/, ''));
  assert.equal(cache.length, prompt.length);
});
