// The tree verifier on the tiny real model: one forward over a tree gives each node the logits
// and K/V that decoding its path one token at a time gives; appending the accepted path builds
// the cache greedy would have built; and speculative generation with every drafter equals greedy.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeInto } from '../../../../src/completion/pie/cacheUpdate';
import { generate } from '../../../../src/decoding/generate';
import { generationConfig } from '../../../../src/decoding/generationConfig';
import { argmax } from '../../../../src/decoding/sampling';
import { stopAtMaxTokens } from '../../../../src/decoding/stopping';
import { DraftTree, Speculation, appendPath, forwardTree, speculativeGenerate } from '../../../../src/decoding/speculation/index';
import { PromptLookupDrafter } from '../../../../src/decoding/speculation/promptLookup';
import { ByteTokenizer, EOS, FIM_MIDDLE, ScriptedModel, replyAfterMiddle } from '../fakes';
import { disposeTiny, loadTiny } from '../tinyModel';
import { assertSpeculationIsLossless, type Totals } from './equivalence';

after(disposeTiny);

const maxDiff = (a: Float32Array, b: Float32Array): number => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

test('one tree forward = decoding each path token by token; the accepted path leaves greedy\'s cache', async () => {
  const { model, ckpt } = await loadTiny();
  const tok = ckpt.tokenizer;
  const prompt = [tok.specialId('<|fim_prefix|>') as number, ...tok.encode('def add(a, b):\n    return a + b\n\ndef sub(a, b):\n'), tok.specialId('<|fim_middle|>') as number];
  const base = model.createCache();
  const first = await encodeInto(model, base, prompt, 0);

  // Greedy reference: 6 tokens decoded one at a time, with each step's logits and the cache they build.
  const ref = base.fork();
  const greedy = [argmax(first)];
  const refLogits: Float32Array[] = [];
  for (let i = 0; i < 5; i++) {
    const p = ref.nextPosition();
    const out = await model.forward(ref, { embeds: model.embed([greedy[i]]), positions: [p] });
    ref.append(out.newKeys, out.newValues, [greedy[i]], [p]);
    refLogits.push(out.logits.slice());
    greedy.push(argmax(out.logits));
  }
  const wrong = (t: number) => (t + 1) % tok.size;

  // Root g0; the right chain g1 g2 g3 with wrong siblings at every level, and a wrong g4.
  const tree = new DraftTree(greedy[0]);
  tree.add(0, wrong(greedy[1]), 0.5);
  const [n1, n2, n3] = tree.addPath(0, [greedy[1], greedy[2], greedy[3]]);
  tree.add(n1, wrong(greedy[2]), 0.5);
  const side = tree.add(n2, wrong(greedy[3]), 0.5);
  tree.add(side, greedy[4], 0.5);
  tree.add(n3, wrong(greedy[4]), 0.5);
  const cache = base.fork();
  const rootPosition = cache.nextPosition();
  const step = await forwardTree(model, cache, tree, rootPosition);
  assert.equal(cache.length, prompt.length, 'forward leaves the cache alone');
  const V = step.logits.length / tree.size;
  const path = [0, n1, n2, n3];
  path.forEach((node, d) => {
    assert.ok(maxDiff(step.logits.subarray(node * V, (node + 1) * V), refLogits[d]) < 1e-4, `logits of the depth-${d} node`);
  });

  // Walk like the verifier: accepted up to g3, bonus g4.
  let node = 0;
  const picked: number[] = [];
  for (;;) {
    const t = argmax(step.logits.subarray(node * V, (node + 1) * V));
    picked.push(t);
    const c = tree.childOf(node, t);
    if (c < 0) break;
    node = c;
  }
  assert.deepEqual(picked, greedy.slice(1, 5));
  assert.deepEqual(tree.pathTo(node), path);
  appendPath(cache, tree, step, path, rootPosition);

  // The cache greedy decoding builds for g0..g3.
  const want = base.fork();
  for (let i = 0; i < 4; i++) {
    const p = want.nextPosition();
    const out = await model.forward(want, { embeds: model.embed([greedy[i]]), positions: [p] });
    want.append(out.newKeys, out.newValues, [greedy[i]], [p]);
  }
  assert.deepEqual([...cache.tokens()], [...want.tokens()]);
  assert.deepEqual([...cache.positions()], [...want.positions()]);
  assert.deepEqual([...cache.encodedPositions()], [...want.encodedPositions()]);
  for (let l = 0; l < model.config.numLayers; l++) {
    assert.ok(maxDiff(cache.keys(l), want.keys(l)) < 1e-4, `keys of layer ${l}`);
    assert.ok(maxDiff(cache.values(l), want.values(l)) < 1e-4, `values of layer ${l}`);
  }
  // And the next step from the compacted cache continues like greedy.
  const next = await model.forward(cache, { embeds: model.embed([greedy[4]]), positions: [cache.nextPosition()] });
  assert.equal(argmax(next.logits), greedy[5]);
});

test('every drafter equals greedy on the tiny model (stop strings, max tokens, line mode, a monitor-like processor, cancellation)', async () => {
  const { model, ckpt } = await loadTiny();
  const tok = ckpt.tokenizer;
  const spec = new Speculation(tok);
  const totals: Totals = { runs: 0, forwards: 0, tokens: 0, acceptedDrafts: 0 };
  const sources = [
    'def add(a, b):\n    return a + b\n\ndef sub(a, b):\n    return a - b\n\ndef mul(a, b):\n',
    'for (let i = 0; i < n; i++) {\n  total += items[i];\n}\nfor (let j = 0; j < n; j++) {\n',
    'int main(void) {\n  printf("hello\\n");\n  return 0;\n}\n',
    'class Point:\n    def __init__(self, x, y):\n        self.x = x\n        self.y = y\n',
  ];
  const fim = (s: string) => [tok.specialId('<|fim_prefix|>') as number, ...tok.encode(s), tok.specialId('<|fim_suffix|>') as number, tok.specialId('<|fim_middle|>') as number];
  for (let round = 0; round < 2; round++) {
    // The second round runs with a warm recycling matrix.
    for (const [i, s] of sources.entries()) {
      await assertSpeculationIsLossless(model, tok, spec, fim(s), { maxNewTokens: 40, mode: 'block', eosTokenIds: [], stopTokenIds: [] }, totals, { exhaustive: round === 1 && i < 2 });
    }
  }
  assert.ok(totals.acceptedDrafts > 0, 'drafts were accepted somewhere');
  assert.ok(totals.forwards < totals.tokens - totals.runs, `speculation saved forwards (${totals.forwards} forwards for ${totals.tokens} tokens in ${totals.runs} runs)`);
});

test('a copy-friendly model: CopySpec verifies the copy in few forwards, with the same output', async () => {
  const tok = new ByteTokenizer();
  const body = 'total = total + price * count\n';
  // The model repeats the line it saw in the prompt, then stops.
  const model = new ScriptedModel(replyAfterMiddle(() => body + body + body));
  const prompt = [...tok.encode(`x = 1\n${body}y = 2\n`), FIM_MIDDLE];
  const cache = model.createCache();
  const first = await encodeInto(model, cache, prompt, 0);
  const config = generationConfig(tok, { maxNewTokens: 200, mode: 'block' });
  const greedy = await generate(model, cache, first.slice(), config, { tokenizer: tok });
  const spec = new Speculation(tok);
  for (const kind of ['copyspec', 'auto'] as const) {
    const out = await speculativeGenerate(model, cache, first.slice(), config, { tokenizer: tok, drafter: await spec.drafter(kind) });
    assert.deepEqual(out.tokens, greedy.tokens);
    assert.equal(out.text, greedy.text);
    assert.equal(out.tokens[out.tokens.length - 1], EOS);
    assert.ok(out.forwards * 3 < greedy.forwards, `${kind}: ${out.forwards} forwards vs greedy's ${greedy.forwards}`);
    assert.ok(out.speculation.tokensPerForward > 3);
    assert.equal(out.speculation.tokensPerForward, (out.tokens.length - 1) / out.forwards);
  }
  // The baseline drafts too, through the same verifier.
  const pl = await speculativeGenerate(model, cache, first.slice(), config, { tokenizer: tok, drafter: new PromptLookupDrafter() });
  assert.deepEqual(pl.tokens, greedy.tokens);
  assert.ok(pl.forwards < greedy.forwards);
});

test('a failing forward propagates, and the cache still goes back to the prompt', async () => {
  const tok = new ByteTokenizer();
  const model = new ScriptedModel(replyAfterMiddle(() => 'abcabcabcabcabc'), {
    beforeForward: (n) => {
      if (n === 3) throw new Error('boom');
    },
  });
  const prompt = [...tok.encode('abcabc'), FIM_MIDDLE];
  const cache = model.createCache();
  const first = await encodeInto(model, cache, prompt, 0);
  const spec = new Speculation(tok);
  await assert.rejects(
    speculativeGenerate(model, cache, first, generationConfig(tok, { maxNewTokens: 40 }), { tokenizer: tok, drafter: await spec.drafter('auto'), criteria: [stopAtMaxTokens(40)] }),
    /boom/,
  );
  assert.equal(cache.length, prompt.length);
});
