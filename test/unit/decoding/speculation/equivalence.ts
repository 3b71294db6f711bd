// Shared by the tiny-model and default-model tests: every drafter must give exactly plain greedy
// decoding's result (tokens, text, stop reason) on the same prompt and config, including where
// stop strings, line/block rules and maxTokens cut, under cancellation at a given token, and with
// a prefix-pure logits processor standing in for the monitors. Also restores the prompt cache.

import assert from 'node:assert/strict';
import { encodeInto } from '../../../../src/completion/pie/cacheUpdate';
import type { KvCache } from '../../../../src/engine/kvCache';
import type { TokenizerLike } from '../../../../src/engine/types';
import { generate, type GenerationResult, type StepModel } from '../../../../src/decoding/generate';
import { generationConfig, type GenerationConfig } from '../../../../src/decoding/generationConfig';
import { banIdsFrom, type LogitsProcessor } from '../../../../src/decoding/logitsProcessors';
import { argmax } from '../../../../src/decoding/sampling';
import { Speculation, speculativeGenerate, type DrafterKind } from '../../../../src/decoding/speculation/index';

export const KINDS: readonly DrafterKind[] = ['copyspec', 'recycling', 'auto', 'prompt-lookup'];

export interface CacheModel extends StepModel {
  createCache(): KvCache;
}

/** Totals over every speculative run, so a test can check that drafts were actually accepted. */
export interface Totals {
  runs: number;
  forwards: number;
  tokens: number;
  acceptedDrafts: number;
}

/**
 * A processor that depends on the generated prefix only (like the monitors): at odd lengths it
 * forbids whatever the model ranks first, so the chosen token differs from the plain argmax.
 */
export const prefixPureBan: LogitsProcessor = (logits, ctx) => {
  if (ctx.generated.length % 2 === 1) logits[argmax(logits)] = Number.NEGATIVE_INFINITY;
};

function same(a: GenerationResult, b: GenerationResult, what: string): void {
  assert.deepEqual(b.tokens, a.tokens, `${what}: tokens`);
  assert.equal(b.text, a.text, `${what}: text`);
  assert.equal(b.stop, a.stop, `${what}: stop`);
}

/**
 * Runs greedy and every drafter on `prompt` under a set of configs (the given one, maxTokens
 * 1/2/5, a stop string and a line cut taken from greedy's own output, the prefix-pure
 * processor, cancellation at the 3rd and 8th token) and asserts identical results.
 */
export async function assertSpeculationIsLossless(
  model: CacheModel,
  tokenizer: TokenizerLike,
  spec: Speculation,
  prompt: readonly number[],
  base: Partial<GenerationConfig>,
  totals: Totals,
  opts: { exhaustive?: boolean } = {},
): Promise<void> {
  const cache = model.createCache();
  const first = await encodeInto(model, cache, [...prompt], 0);
  const processors = [banIdsFrom(tokenizer.size)];
  const cfg = generationConfig(tokenizer, base);
  const run = async (name: string, config: GenerationConfig, extra: { processors?: LogitsProcessor[]; abortAt?: number } = {}): Promise<void> => {
    const procs = extra.processors ?? processors;
    const withAbort = () => {
      const controller = new AbortController();
      const onToken = extra.abortAt === undefined ? undefined : (_: number, p: { tokens: readonly number[] }) => p.tokens.length === extra.abortAt && controller.abort();
      return { signal: controller.signal, onToken };
    };
    const g = withAbort();
    const greedy = await generate(model, cache, first.slice(), config, { tokenizer, processors: procs, ...g });
    assert.equal(cache.length, prompt.length, `${name}: greedy restores the prompt cache`);
    for (const kind of KINDS) {
      const s = withAbort();
      const drafter = await spec.drafter(kind, cache);
      const out = await speculativeGenerate(model, cache, first.slice(), config, { tokenizer, processors: procs, drafter, ...s });
      same(greedy, out, `${name} / ${kind}`);
      assert.equal(cache.length, prompt.length, `${name} / ${kind}: the prompt cache is restored`);
      assert.deepEqual([...cache.tokens()], [...prompt]);
      assert.ok(out.forwards <= Math.max(0, greedy.forwards), `${name} / ${kind}: never more forwards than greedy`);
      totals.runs++;
      totals.forwards += out.forwards;
      totals.tokens += out.tokens.length;
      totals.acceptedDrafts += out.speculation.acceptedDrafts;
    }
  };

  await run('plain', cfg);
  const reference = await generate(model, cache, first.slice(), cfg, { tokenizer, processors });
  await run('maxTokens 1', { ...cfg, maxNewTokens: 1 });
  await run('maxTokens 5', { ...cfg, maxNewTokens: 5 });
  if (reference.text.length > 6) {
    // A stop string from the middle of greedy's own output: speculation must cut at the same place.
    const stop = reference.text.slice(Math.floor(reference.text.length / 2), Math.floor(reference.text.length / 2) + 2);
    await run(`stop string ${JSON.stringify(stop)}`, { ...cfg, stopStrings: [stop] });
  }
  await run('cancel at 3', cfg, { abortAt: 3 });
  if (opts.exhaustive) {
    await run('maxTokens 2', { ...cfg, maxNewTokens: 2 });
    await run('line mode', { ...cfg, mode: 'line' });
    await run('prefix-pure processor', cfg, { processors: [...processors, prefixPureBan] });
    await run('cancel at 8', cfg, { abortAt: 8 });
  }
}
