// Speculation is lossless on the shipped default model too (real code prompts in three
// languages, real tokenizer): every drafter gives greedy's exact output, stops and cancellation
// included. Skipped when the checkout has no models/default.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCheckpoint } from '../../../../src/engine/checkpoint';
import { Model } from '../../../../src/engine/model';
import { Speculation } from '../../../../src/decoding/speculation/index';
import { assertSpeculationIsLossless, type Totals } from './equivalence';

const ROOT = join(__dirname, '../../../..');
const MODEL = join(ROOT, 'models/default');
const present = existsSync(join(MODEL, 'config.json'));
let model: Model | undefined;
after(async () => model?.dispose());

/** A FIM prompt: the file cut at `at` (the text after it is the suffix), at most ~`budget` tokens each side. */
function fimPrompt(tok: { encode(s: string): number[]; specialId(s: string): number | undefined }, file: string, at: string, budget = 400): number[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const i = text.indexOf(at);
  assert.ok(i >= 0, `${at} in ${file}`);
  const cut = i + at.length;
  const before = tok.encode(text.slice(0, cut)).slice(-budget);
  const after = tok.encode(text.slice(cut)).slice(0, budget / 2);
  const id = (s: string) => tok.specialId(s) as number;
  return [id('<|fim_prefix|>'), ...before, id('<|fim_suffix|>'), ...after, id('<|fim_middle|>')];
}

test('every drafter equals greedy on the default model (Python, C, TypeScript prompts)', { skip: !present && 'no models/default in this checkout' }, async () => {
  const ckpt = await loadCheckpoint(MODEL);
  model = await Model.load(ckpt);
  const tok = ckpt.tokenizer;
  const spec = new Speculation(tok);
  const totals: Totals = { runs: 0, forwards: 0, tokens: 0, acceptedDrafts: 0 };
  const prompts = [
    fimPrompt(tok, 'test/fixtures/demo/store.py', '        with open(self.path(key), "w") as f:\n'),
    fimPrompt(tok, 'test/fixtures/monitors/list.c', 'int total = 0;\n'),
    fimPrompt(tok, 'test/fixtures/monitors/shapes.ts.txt', '  describe(): string {\n'),
  ];
  for (const [i, p] of prompts.entries()) {
    await assertSpeculationIsLossless(model, tok, spec, p, { maxNewTokens: 48, mode: 'block', eosTokenIds: [] }, totals, { exhaustive: i === 0 });
  }
  assert.ok(totals.acceptedDrafts > 0, 'drafts were accepted');
  assert.ok(totals.forwards < totals.tokens - totals.runs, `speculation saved forwards (${totals.forwards} for ${totals.tokens} tokens in ${totals.runs} runs)`);
});
