// Token healing through the completion service, with a BPE tokenizer (`.items`, ` =` are single
// tokens) and an "oracle" model that continues the cursor line as the intended text says, as
// read back from its KV cache:
// - the healed completion is exactly the text after the editor's cursor (prompts ending in a
//   lone `.`, mid-identifier, mid-operator; after whitespace nothing is healed), in both layouts;
// - the model really saw the prompt without the tail;
// - healing composes with the dereference monitor: the first token starts with `.` and the
//   member is a legal one;
// - across requests that move the cursor back and forth (healed and not) and type, the PIE
//   cache gives what a fresh cache gives;
// - with the real tiny model: when the tail cannot be part of a longer token nothing changes,
//   and in the spm layout the healed prompt plus the tail token is the unhealed prompt.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CompletionService, type LoadedModel, type ModelLoader } from '../../../src/completion/service';
import { DocumentSession, pieUpdate } from '../../../src/completion/documentSession';
import { DEFAULT_PROMPT_BUDGET } from '../../../src/completion/prompt';
import { healingTail } from '../../../src/decoding/tokenHealing';
import type { KvCache } from '../../../src/engine/kvCache';
import type { ForwardRequest, ForwardResult, TokenizerLike } from '../../../src/engine/types';
import type { CompletionOptions } from '../../../src/completion/types';
import { ScriptedModel } from '../decoding/fakes';
import { fixtureTokenizer } from '../monitors/helpers';
import { disposeTiny, loadTiny } from '../decoding/tinyModel';

const tok = fixtureTokenizer();
const id = (t: string): number => {
  const x = tok.specialId(t);
  assert.ok(x !== undefined, t);
  return x;
};
const FP = id('<|fim_prefix|>');
const FS = id('<|fim_suffix|>');
const FM = id('<|fim_middle|>');
const EOS = tok.eosIds[0];

const services: CompletionService[] = [];
after(async () => {
  for (const s of services) await s.shutdown();
  await disposeTiny();
});

/** The text before the cursor as the prompt holds it, and the generated text (psm and spm). */
function readPrompt(seq: readonly number[]): { before: string; generated: string; promptKey: number } | null {
  const m = seq.lastIndexOf(FM);
  const p = seq.indexOf(FP);
  const s = seq.indexOf(FS);
  if (m < 0 || p < 0 || s < 0) return null;
  // A checksum of everything up to <|fim_middle|>: a cache that drifted answers differently.
  let promptKey = 0;
  for (let i = 0; i <= m; i++) promptKey = (promptKey * 31 + seq[i] + 1) % 9973;
  if (s === p + 1) return { before: '', generated: tok.decode(seq.slice(m + 1)), promptKey };
  return { before: tok.decode(seq.slice(p + 1, s)), generated: tok.decode(seq.slice(m + 1)), promptKey };
}

/**
 * A model that continues the cursor line with one of `lines` (the first that the line so far is
 * a prefix of gets score 1, the next 0.5, ...), then `#<prompt checksum>`, a newline and the end.
 * It reads the sequence back from the cache as the attention bias lets the last row see it, in
 * position order, and checks that those positions are 0, 1, 2, ... (PIE keeps them natural).
 */
class OracleModel extends ScriptedModel {
  /**
   * Per forward: the text before the cursor plus what was generated, as the last row asked for
   * saw it. With one forward per token (speculation off) the request that gave `r` starts
   * `r.timings.tokens` forwards back.
   */
  readonly contexts: string[] = [];

  constructor(private readonly lines: string[]) {
    super(() => EOS, { vocab: tok.size });
  }

  /** What the prompt held before the cursor in the request that gave `r` (run with speculation off). */
  promptSeen(r: { timings: { tokens: number } }): string | undefined {
    return this.contexts[this.contexts.length - r.timings.tokens];
  }

  private scores(seq: readonly number[]): Map<number, number> {
    const out = new Map<number, number>();
    const r = readPrompt(seq);
    if (!r) return out;
    const text = r.before + r.generated;
    const line = text.slice(text.lastIndexOf('\n') + 1);
    const newline = tok.encode('\n')[0];
    let score = 1;
    for (const l of this.lines) {
      const target = `${l} #${r.promptKey}`;
      if (line === '' && r.generated.endsWith('\n')) out.set(EOS, Math.max(out.get(EOS) ?? 0, score));
      else if (line === target) out.set(newline, Math.max(out.get(newline) ?? 0, score));
      else if (target.startsWith(line)) {
        const next = tok.encode(target.slice(line.length))[0];
        if (!out.has(next)) out.set(next, score);
      }
      score /= 2;
    }
    return out;
  }

  override async forward(cache: KvCache, req: ForwardRequest): Promise<ForwardResult> {
    this.forwards++;
    req.signal?.throwIfAborted();
    const q = req.positions.length;
    const past = cache.length;
    const tokens = cache.tokens();
    const positions = cache.positions();
    const fresh = [...req.embeds].map((x) => Math.round(x));
    // Causal rows see everything before them; tree rows (speculation) what their bias row allows.
    const visible = (row: number, j: number): boolean => (req.bias ? req.bias[row * (past + q) + j] === 0 : j < past + row + 1);
    const rows = req.logitRows === 'all' ? [...Array(q).keys()] : Array.isArray(req.logitRows) ? req.logitRows : [q - 1];
    const logits = new Float32Array(rows.length * this.vocab);
    rows.forEach((row, k) => {
      const items: [number, number][] = [];
      for (let j = 0; j < past; j++) if (visible(row, j)) items.push([positions[j], tokens[j]]);
      for (let j = 0; j < q; j++) if (visible(row, past + j)) items.push([req.positions[j], fresh[j]]);
      items.sort((a, b) => a[0] - b[0]);
      items.forEach(([p], i) => {
        if (p !== i) throw new Error(`OracleModel: position ${p} at sequence index ${i}`);
      });
      const seq = items.map(([, t]) => t);
      const scores = this.scores(seq);
      for (const [t, sc] of scores) logits[k * this.vocab + t] = sc;
      if (scores.size === 0) logits[k * this.vocab + EOS] = 1;
      if (k === rows.length - 1) {
        const r = readPrompt(seq);
        this.contexts.push(r ? r.before + r.generated : '');
      }
    });
    return { logits, rows: rows.length, newKeys: [new Float32Array(2 * q)], newValues: [new Float32Array(2 * q)] };
  }
}

function service(model: ScriptedModel, fimLayout?: 'psm' | 'spm'): CompletionService {
  const loaded: LoadedModel = { model: Object.assign(model, { dispose() {} }), tokenizer: tok, fimLayout };
  const loader: ModelLoader = async () => loaded;
  const svc = new CompletionService({ modelDir: '/m', loader, monitorBudgetMs: 5000 });
  services.push(svc);
  return svc;
}

const LINES = ['        return self.items', '        if n == 0:', '        x = foo(a, b)'];

function docWith(linePrefix: string): { text: string; line: number; col: number } {
  const text = `class A:\n    def f(self, n):\n${linePrefix}\n\n    def g(self):\n        pass\n`;
  return { text, line: 2, col: linePrefix.length };
}

const CURSOR_CASES = [
  { what: 'a lone dot', prefix: '        return self.', tail: '.', after: 'items' },
  { what: 'mid-identifier', prefix: '        return self.ite', tail: 'te', after: 'ms' },
  { what: 'mid-operator', prefix: '        if n =', tail: ' =', after: '= 0:' },
  { what: 'an open bracket', prefix: '        x = foo(', tail: '(', after: 'a, b)' },
  { what: 'whitespace (not healed)', prefix: '        return ', tail: '', after: 'self.items' },
];

for (const layout of ['psm', 'spm'] as const) {
  for (const c of CURSOR_CASES) {
    test(`${layout}: after ${c.what} the healed completion is the text after the cursor`, async () => {
      assert.equal(healingTail(tok, c.prefix), c.tail, 'the tail the rule backs off');
      const model = new OracleModel(LINES);
      const svc = service(model);
      const { text, line, col } = docWith(c.prefix);
      svc.open('/ws/a.py', text, 'python');
      const options: CompletionOptions = { mode: 'line', monitors: false, promptLayout: layout, speculation: 'off' };
      const healed = await svc.complete({ path: '/ws/a.py', line, col, options });
      assert.match(healed.completion, new RegExp(`^${c.after.replace(/[()]/g, '\\$&')} #\\d+$`));
      assert.equal(model.promptSeen(healed), text.slice(0, text.indexOf(c.prefix) + c.prefix.length - c.tail.length), 'the prompt stops before the tail');
      const plain = await svc.complete({ path: '/ws/a.py', line, col, options: { ...options, tokenHealing: false } });
      assert.ok(plain.completion.startsWith(`${c.after} #`), plain.completion);
      assert.equal(model.promptSeen(plain), text.slice(0, text.indexOf(c.prefix) + c.prefix.length), 'without healing the prompt ends at the cursor');
      if (c.tail === '') assert.equal(plain.completion, healed.completion, 'nothing to heal: the same prompt and answer');
      const speculative = await svc.complete({ path: '/ws/a.py', line, col, options: { ...options, speculation: 'auto' } });
      assert.equal(speculative.completion, healed.completion, 'the healing constraint holds at every verified position');
    });
  }
}

test('indentation is healed in the spm layout only (where it was measured to help), never mid-line whitespace', async () => {
  const model = new OracleModel(['        return self.items']);
  const svc = service(model);
  const { text } = docWith('        ');
  svc.open('/ws/indent.py', text, 'python');
  const indentTail = healingTail(tok, '        ', { whitespace: true });
  assert.ok(indentTail.length > 0 && indentTail.trim() === '');
  const seen = async (layout: 'psm' | 'spm'): Promise<string | undefined> => {
    const r = await svc.complete({ path: '/ws/indent.py', line: 2, col: 8, options: { mode: 'line', monitors: false, promptLayout: layout, speculation: 'off' } });
    assert.match(r.completion, /^return self\.items #\d+$/, `${layout}: the text after the cursor`);
    return model.promptSeen(r);
  };
  const full = text.slice(0, text.indexOf('        \n') + 8);
  assert.equal(await seen('spm'), full.slice(0, full.length - indentTail.length), 'spm: the indentation token is backed off');
  assert.equal(await seen('psm'), full, 'psm: not healed');
});

test("without promptLayout the model folder's layout decides (else psm); a request's promptLayout overrides it", async () => {
  const { text } = docWith('        ');
  const full = text.slice(0, text.indexOf('        \n') + 8);
  const indentTail = healingTail(tok, '        ', { whitespace: true });
  // Observable through indentation healing, which only the spm layout does.
  const seen = async (fimLayout: 'psm' | 'spm' | undefined, promptLayout?: 'psm' | 'spm'): Promise<string | undefined> => {
    const model = new OracleModel(['        return self.items']);
    const svc = service(model, fimLayout);
    svc.open('/ws/layout.py', text, 'python');
    const r = await svc.complete({ path: '/ws/layout.py', line: 2, col: 8, options: { mode: 'line', monitors: false, speculation: 'off', ...(promptLayout ? { promptLayout } : {}) } });
    assert.match(r.completion, /^return self\.items #\d+$/);
    return model.promptSeen(r);
  };
  assert.equal(await seen('spm'), full.slice(0, full.length - indentTail.length), "the model's spm");
  assert.equal(await seen(undefined), full, 'no preference: psm');
  assert.equal(await seen('spm', 'psm'), full, 'the request overrides the model');
  assert.equal(await seen('psm', 'spm'), full.slice(0, full.length - indentTail.length), 'the request overrides the model');
});

test('healing composes with the dereference monitor: the first token starts with `.` and the member is legal', async () => {
  const src = readFileSync(join(__dirname, '../../fixtures/monitors/inventory.py'), 'utf8');
  const at = src.indexOf('    def total(self) -> int:\n') + '    def total(self) -> int:\n'.length;
  const insert = '        return self.';
  const text = src.slice(0, at) + insert + '\n' + src.slice(at);
  const before = text.slice(0, at + insert.length).split('\n');
  const [line, col] = [before.length - 1, before[before.length - 1].length];
  // The model prefers a member Inventory does not have.
  const model = new OracleModel(['        return self.weight', '        return self.items']);
  const svc = service(model);
  svc.open('/ws/inventory.py', text, 'python');
  for (const layout of ['psm', 'spm'] as const) {
    const off = await svc.complete({ path: '/ws/inventory.py', line, col, options: { mode: 'line', monitors: false, promptLayout: layout, speculation: 'off' } });
    assert.match(off.completion, /^weight #\d+$/);
    const on = await svc.complete({ path: '/ws/inventory.py', line, col, options: { mode: 'line', promptLayout: layout, speculation: 'off' } });
    assert.match(on.completion, /^items #\d+$/, `${layout}: the monitor picks a legal member after the healed dot`);
    assert.ok((on.monitorInterventions ?? 0) >= 1);
    assert.ok(model.promptSeen(on)?.endsWith('return self'), 'the dot was healed');
    // Under speculation the healing and monitor masks apply at every verified position: same answer.
    const speculative = await svc.complete({ path: '/ws/inventory.py', line, col, options: { mode: 'line', promptLayout: layout, speculation: 'auto' } });
    assert.equal(speculative.completion, on.completion, `${layout}: speculation changes nothing`);
  }
});

test('PIE cache stays consistent while the cursor moves back and forth across healed tails and the user types', async () => {
  const { text: start } = docWith('        return self.ite');
  const incremental = service(new OracleModel(LINES));
  incremental.open('/ws/a.py', start, 'python');
  let text = start;
  const lineStart = text.indexOf('        return self.ite');
  // Cursor columns on line 2 (healed ones: after '.', mid-identifier, after ' self'), and typing.
  const steps: ({ col: number } | { type: string; col: number })[] = [
    { col: 20 }, { col: 23 }, { col: 19 }, { col: 20 }, { col: 15 }, { col: 23 },
    { type: 'm', col: 23 }, { col: 24 }, { col: 20 }, { type: 's', col: 24 }, { col: 25 }, { col: 22 }, { col: 25 },
  ];
  for (const layout of ['psm', 'spm'] as const) {
    for (const [k, step] of steps.entries()) {
      if ('type' in step) {
        incremental.edit('/ws/a.py', [{ start: [2, step.col], end: [2, step.col], text: step.type }]);
        const off = lineStart + step.col;
        text = text.slice(0, off) + step.type + text.slice(off);
        continue;
      }
      for (const cache of ['pie', 'full'] as const) {
        const options: CompletionOptions = { mode: 'line', monitors: false, promptLayout: layout, cache };
        const got = await incremental.complete({ path: '/ws/a.py', line: 2, col: step.col, options });
        const fresh = service(new OracleModel(LINES));
        fresh.open('/ws/a.py', text, 'python');
        const want = await fresh.complete({ path: '/ws/a.py', line: 2, col: step.col, options });
        await fresh.shutdown();
        assert.equal(got.completion, want.completion, `${layout} ${cache} step ${k} (col ${step.col})`);
        assert.equal(incremental.textOf('/ws/a.py'), text);
      }
    }
  }
});

test('real tiny model: a tail no longer token starts with changes nothing; in spm the healed prompt + the tail token is the unhealed prompt', async () => {
  const { ckpt, model } = await loadTiny();
  const tiny = ckpt.tokenizer as TokenizerLike;
  const loaded: LoadedModel = { model: Object.assign(Object.create(model) as typeof model, { dispose() {} }), tokenizer: tiny };
  const svc = new CompletionService({ modelDir: '/tiny', loader: async () => loaded });
  services.push(svc);
  // A digit is a token of its own in the Qwen2 pre-tokenizer: nothing to heal.
  const text = 'def f(x):\n    return x + 7\n';
  assert.equal(healingTail(tiny, '    return x + 7'), '');
  svc.open('/ws/t.py', text, 'python');
  const on = await svc.complete({ path: '/ws/t.py', line: 1, col: 16, maxTokens: 6, options: { mode: 'block', monitors: false, cache: 'full' } });
  const off = await svc.complete({ path: '/ws/t.py', line: 1, col: 16, maxTokens: 6, options: { mode: 'block', monitors: false, cache: 'full', tokenHealing: false } });
  assert.deepEqual([on.completion, on.timings.tokens, on.encodedTokens], [off.completion, off.timings.tokens, off.encodedTokens]);

  // spm: after healing `.`, feeding the `.` token reproduces the unhealed prompt's next-token logits.
  const doc = 'class A:\n    def f(self):\n        return self.items\n';
  const cursor = doc.indexOf('.items') + 1;
  const tail = healingTail(tiny, doc.slice(doc.lastIndexOf('\n', cursor) + 1, cursor));
  assert.ok(tail.length > 0, 'the tiny tokenizer heals here');
  const session = new DocumentSession('t.py', doc, model, tiny);
  const budget = { ...DEFAULT_PROMPT_BUDGET };
  const healed = await session.update(cursor, { updater: pieUpdate, budget, hide: tail.length, layout: 'spm' });
  const ids = tiny.encode(doc.slice(doc.lastIndexOf('\n', cursor) + 1, cursor));
  const tailId = ids[ids.length - 1];
  const pos = session.cache.nextPosition();
  const step = await model.forward(session.cache, { embeds: model.embed([tailId]), positions: [pos] });
  const plain = await session.update(cursor, { updater: pieUpdate, budget, layout: 'spm' });
  assert.equal(plain.prompt.tokens.length, healed.prompt.tokens.length + 1);
  assert.deepEqual(plain.prompt.tokens.slice(0, -1), healed.prompt.tokens);
  let maxDiff = 0;
  for (let i = 0; i < step.logits.length; i++) maxDiff = Math.max(maxDiff, Math.abs(step.logits[i] - plain.logits[i]));
  assert.ok(maxDiff < 1e-3, `logits differ by ${maxDiff}`);
  session.dispose();
});

test('a window that cannot hide the tail (one line longer than the whole budget) completes unhealed, as with healing off', async () => {
  const loaded: LoadedModel = { model: Object.assign(new OracleModel(LINES), { dispose() {} }), tokenizer: tok };
  const svc = new CompletionService({ modelDir: '/m', loader: async () => loaded, maxContextTokens: 64 });
  services.push(svc);
  const line = `        return ${'self.items + '.repeat(60)}self.`;
  svc.open('/ws/long.py', `${line}\n`, 'python');
  assert.equal(healingTail(tok, line), '.');
  const on = await svc.complete({ path: '/ws/long.py', line: 0, col: line.length, maxTokens: 8, options: { mode: 'line', monitors: false } });
  const off = await svc.complete({ path: '/ws/long.py', line: 0, col: line.length, maxTokens: 8, options: { mode: 'line', monitors: false, tokenHealing: false } });
  assert.deepEqual([on.completion, on.encodedTokens + on.reusedTokens], [off.completion, off.encodedTokens + off.reusedTokens]);
});
