// The multi-draft decoders on the fixture model and (when present) the default model: one
// draft is greedy decoding exactly; chains are exact greedy continuations of the k best first
// tokens, with or without speculation; superposed drafts are distinct, and after the exact
// finish every token past the kept superposed prefix is the exact greedy choice; monitors-like
// processors apply per draft; cancellation returns cleanly with the prompt cache restored.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeInto } from '../../../../src/completion/pie/cacheUpdate';
import { loadCheckpoint } from '../../../../src/engine/checkpoint';
import { Model } from '../../../../src/engine/model';
import type { TokenizerLike } from '../../../../src/engine/types';
import { generate, type StepModel } from '../../../../src/decoding/generate';
import { generationConfig, type GenerationConfig } from '../../../../src/decoding/generationConfig';
import { banIdsFrom, type LogitsProcessor } from '../../../../src/decoding/logitsProcessors';
import { greedyChooser } from '../../../../src/decoding/sampling';
import { Speculation } from '../../../../src/decoding/speculation/index';
import { multiDraftGenerate, type MultiDraftOptions } from '../../../../src/decoding/superposed/index';
import { topK } from '../../../../src/decoding/superposed/superposed';
import { NgramCounts } from '../../../../src/completion/ngrams/counts';
import { InterpolatedNgrams } from '../../../../src/completion/ngrams/interpolate';
import { disposeTiny, loadTiny } from '../tinyModel';
import { prefixPureBan, type CacheModel } from '../speculation/equivalence';

const ROOT = join(__dirname, '../../../..');
after(disposeTiny);

/** Greedy decoding with the first `forced.length` tokens forced (then the chooser as usual). */
async function greedyAfter(model: CacheModel, cache: ReturnType<CacheModel['createCache']>, first: Float32Array, config: GenerationConfig, tokenizer: TokenizerLike, processors: LogitsProcessor[], forced: readonly number[]) {
  const greedy = greedyChooser(processors);
  return generate(model, cache, first.slice(), config, {
    tokenizer,
    processors,
    chooser: (logits, ctx) => {
      const i = ctx.generated.length;
      if (i < forced.length) {
        greedy(logits, ctx);
        return forced[i];
      }
      return greedy(logits, ctx);
    },
  });
}

async function checkModel(model: CacheModel, tokenizer: TokenizerLike, prompt: number[], base: Partial<GenerationConfig>, opts: { ngram?: boolean } = {}): Promise<void> {
  const cache = model.createCache();
  const first = await encodeInto(model, cache, prompt, 0);
  const spec = new Speculation(tokenizer);
  const counts = new NgramCounts();
  counts.add(prompt);
  const ngram = opts.ngram ? new InterpolatedNgrams(counts) : undefined;
  for (const processors of [[banIdsFrom(tokenizer.size)], [banIdsFrom(tokenizer.size), prefixPureBan]]) {
    const config = generationConfig(tokenizer, base);
    const greedy = await generate(model, cache, first.slice(), config, { tokenizer, processors });
    const run = (o: Partial<MultiDraftOptions>) => multiDraftGenerate(model, cache, first.slice(), config, { tokenizer, processors, k: 3, ngram, ngramContext: prompt.slice(-8), ...o });

    // One draft is greedy, whatever the method.
    for (const method of ['chains', 'superposed'] as const) {
      const one = await run({ k: 1, method });
      assert.equal(one.drafts.length, 1);
      assert.deepEqual(one.drafts[0].tokens, greedy.tokens, `${method} k=1 tokens`);
      assert.equal(one.drafts[0].text, greedy.text);
      assert.equal(one.drafts[0].stop, greedy.stop);
      assert.equal(cache.length, prompt.length, 'prompt cache restored');
    }

    // Chains: greedy first; every chain is the exact greedy continuation of its first token; the
    // same with speculation (per-draft trees in one forward).
    const chains = await run({ method: 'chains' });
    const spec3 = await run({ method: 'chains', drafter: await spec.laneDrafters('auto', 3) });
    assert.deepEqual(chains.drafts[0].tokens, greedy.tokens, 'chains: the first is greedy');
    assert.deepEqual(spec3.drafts.map((d) => d.tokens), chains.drafts.map((d) => d.tokens), 'speculation changes nothing');
    assert.ok(spec3.forwards <= chains.forwards);
    const independent = await run({ method: 'independent' });
    // One after another: the same chains (together, an alternative far longer than the lead is dropped).
    const alone = new Set(independent.drafts.map((d) => d.tokens.join(',')));
    for (const d of chains.drafts) assert.ok(alone.has(d.tokens.join(',')), 'a chain decoded together equals the chain alone');
    assert.deepEqual(independent.drafts[0].tokens, greedy.tokens);
    assert.ok(independent.forwards >= chains.forwards);
    const sampled = await run({ method: 'sampled', seed: 5 });
    const again = await run({ method: 'sampled', seed: 5 });
    assert.deepEqual(sampled.drafts.map((d) => d.tokens), again.drafts.map((d) => d.tokens), 'seeded sampling repeats');
    assert.ok(sampled.drafts.length >= 1 && sampled.drafts.length <= 3);
    const firsts = new Set(chains.drafts.map((d) => d.tokens[0]));
    assert.equal(firsts.size, chains.drafts.length, 'chains start with distinct tokens');
    for (const d of chains.drafts) {
      const exact = await greedyAfter(model, cache, first, config, tokenizer, processors, [d.tokens[0]]);
      assert.deepEqual(d.tokens, exact.tokens, 'a chain is greedy after its first token');
      assert.equal(d.text, exact.text);
    }

    // Superposed, exact finish: distinct drafts; past the kept superposed prefix, exact greedy.
    for (const finish of ['exact', 'superposed'] as const) {
      const sup = await run({ method: 'superposed', finish });
      assert.ok(sup.drafts.length >= 1 && sup.drafts.length <= 3);
      assert.equal(new Set(sup.drafts.map((d) => d.tokens.join(','))).size, sup.drafts.length, `${finish}: distinct`);
      assert.equal(cache.length, prompt.length);
      if (finish === 'superposed') {
        assert.ok(sup.forwards === sup.rows, 'the paper way: one row per forward');
        continue;
      }
      for (const d of sup.drafts) {
        const kept = d.tokens.slice(0, d.superposedTokens);
        const exact = await greedyAfter(model, cache, first, config, tokenizer, processors, kept);
        assert.deepEqual(d.tokens, exact.tokens, `superposed draft after ${d.superposedTokens} kept tokens`);
      }
    }
  }

  // Cancellation in the middle of a draft: clean, cache restored.
  for (const method of ['chains', 'superposed'] as const) {
    const controller = new AbortController();
    let calls = 0;
    const aborting: StepModel = {
      embed: (t) => model.embed(t),
      forward: async (c, req) => {
        if (++calls === 3) controller.abort();
        return model.forward(c, req);
      },
    };
    const config = generationConfig(tokenizer, { ...base, maxNewTokens: 40 });
    const out = await multiDraftGenerate(aborting, cache, first.slice(), config, { tokenizer, processors: [banIdsFrom(tokenizer.size)], k: 3, method, signal: controller.signal });
    assert.equal(out.cancelled, true, `${method}: cancelled`);
    assert.equal(out.drafts.length, 0);
    assert.equal(cache.length, prompt.length);
    assert.deepEqual([...cache.tokens()], prompt);
  }
}

test('topK picks the largest finite values, largest first', () => {
  const row = Float32Array.of(0.5, Number.NEGATIVE_INFINITY, 2, 2, -1, 3);
  assert.deepEqual(topK(row, 3), [5, 2, 3]);
  assert.deepEqual(topK(row, 10), [5, 2, 3, 0, 4]);
});

test('multi-draft decoding on the fixture model', async () => {
  const { model, ckpt } = await loadTiny();
  const tok = ckpt.tokenizer;
  const prompt = tok.encode('def add(a, b):\n    return a + b\n\ndef mul(a, b):\n    return');
  await checkModel(model, tok, prompt, { maxNewTokens: 24, mode: 'block', eosTokenIds: [] }, { ngram: true });
  await checkModel(model, tok, prompt, { maxNewTokens: 12, mode: 'line' });
});

const MODEL = join(ROOT, 'models/default');
let big: Model | undefined;
after(async () => big?.dispose());

test('multi-draft decoding on the default model (spm prompt, line and block mode)', { skip: !existsSync(join(MODEL, 'config.json')) && 'no models/default' }, async () => {
  const ckpt = await loadCheckpoint(MODEL);
  big = await Model.load(ckpt);
  const tok = ckpt.tokenizer;
  const text = readFileSync(join(ROOT, 'test/fixtures/demo/store.py'), 'utf8');
  const cut = text.indexOf('with open(self.path(key), "w") as f:') + 'with open(self.path(key), "w") as f:\n'.length;
  const id = (s: string) => tok.specialId(s) as number;
  const prompt = [id('<|fim_prefix|>'), id('<|fim_suffix|>'), ...tok.encode(text.slice(cut)).slice(0, 200), id('<|fim_middle|>'), ...tok.encode(text.slice(0, cut)).slice(-400), ...tok.encode('            ')];
  await checkModel(big, tok, prompt, { maxNewTokens: 32, mode: 'line' }, { ngram: true });
});
