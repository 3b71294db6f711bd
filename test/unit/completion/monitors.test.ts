// Monitor-guided decoding through the completion service: per language, a model that prefers a
// member the receiver does not have writes it without monitors and the real member with them;
// the result says how often a monitor changed the output; edits and workspace files reach the
// analysis.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CompletionService, type ModelLoader } from '../../../src/completion/service';
import type { KvCache } from '../../../src/engine/kvCache';
import type { ForwardRequest, ForwardResult } from '../../../src/engine/types';
import { ByteTokenizer, FIM_MIDDLE, ScriptedModel, replyAfterMiddle } from '../decoding/fakes';

const tok = new ByteTokenizer();
const FIXTURES = join(__dirname, '../../fixtures/monitors');
const services: CompletionService[] = [];
after(async () => {
  for (const s of services) await s.shutdown();
});

/**
 * A model whose first choice spells `bad` and whose second choice (half the score) spells
 * `good`, byte by byte after <|fim_middle|>, both followed by a newline.
 */
class PreferringModel extends ScriptedModel {
  constructor(
    bad: string,
    private readonly good: string,
  ) {
    super(replyAfterMiddle(() => `${bad}\n`));
  }

  override async forward(cache: KvCache, req: ForwardRequest): Promise<ForwardResult> {
    const rows = this.sequences(cache, req).rows;
    const r = await super.forward(cache, req);
    const second = `${this.good}\n`;
    rows.forEach((seq, row) => {
      const m = seq.lastIndexOf(FIM_MIDDLE);
      const k = seq.length - m - 1;
      if (m >= 0 && k < second.length) r.logits[row * this.vocab + second.charCodeAt(k)] += 0.5;
    });
    return r;
  }
}

function service(bad: string, good: string): CompletionService {
  const model = new PreferringModel(bad, good);
  const loader: ModelLoader = async () => ({ model: Object.assign(model, { dispose() {} }), tokenizer: tok });
  const svc = new CompletionService({ modelDir: '/m', loader, monitorBudgetMs: 5000 });
  services.push(svc);
  return svc;
}

/** The fixture with `insert` placed after the marker text `at`; the cursor at the end of `insert`. */
function docAt(file: string, at: string, insert: string): { text: string; line: number; col: number } {
  const src = readFileSync(join(FIXTURES, file), 'utf8');
  const i = src.indexOf(at);
  assert.ok(i >= 0, `${at} in ${file}`);
  const cut = i + at.length;
  const text = src.slice(0, cut) + insert + src.slice(cut);
  const before = text.slice(0, cut + insert.length).split('\n');
  return { text, line: before.length - 1, col: before[before.length - 1].length };
}

const CASES = [
  { languageId: 'python', file: 'inventory.py', path: '/ws/inventory.py', at: '    def total(self) -> int:\n', insert: '        return self.', good: 'items', bad: 'weight' },
  { languageId: 'typescript', file: 'shapes.ts.txt', path: '/ws/shapes.ts', at: '  describe(): string {\n', insert: '    return this.', good: 'label', bad: 'size' },
  { languageId: 'javascript', file: 'queue.js.txt', path: '/ws/queue.js', at: '  peek() {\n', insert: '    return this.', good: 'items', bad: 'buffer' },
  { languageId: 'c', file: 'list.c', path: '/ws/list.c', at: 'int total = 0;\n', insert: '  total += l->head->', good: 'value', bad: 'data' },
];

for (const c of CASES) {
  test(`${c.languageId}: the model's non-existent member '${c.bad}' becomes '${c.good}' with monitors, and stays without`, async () => {
    const svc = service(c.bad, c.good);
    const { text, line, col } = docAt(c.file, c.at, c.insert);
    svc.open(c.path, text, c.languageId);
    const off = await svc.complete({ path: c.path, line, col, options: { monitors: false, mode: 'line' } });
    assert.equal(off.completion, c.bad, 'unconstrained: the model writes the member that does not exist');
    assert.equal(off.monitorInterventions, undefined);
    const on = await svc.complete({ path: c.path, line, col, options: { mode: 'line' } });
    assert.equal(on.completion, c.good);
    assert.ok((on.monitorInterventions ?? 0) >= 1, 'the intervention is reported');
    assert.ok((on.timings.monitorMs ?? -1) >= 0);
  });
}

test('edits made right after open (before the grammar loaded) still reach the analysis', async () => {
  const svc = service('weight', 'items');
  const { text, line, col } = docAt('inventory.py', '    def total(self) -> int:\n', '        return self.');
  // Open without the last line's receiver, then type it: the edit lands before the tree exists.
  const cut = text.lastIndexOf('        return self.');
  svc.open('/ws/edit.py', text.slice(0, cut) + text.slice(cut + '        return self.'.length), 'python');
  svc.edit('/ws/edit.py', [{ start: [line, 0], end: [line, 0], text: '        return self.' }]);
  const r = await svc.complete({ path: '/ws/edit.py', line, col, options: { mode: 'line' } });
  assert.equal(r.completion, 'items');
});

test('workspace files answer imported modules: a member missing from the imported module is masked', async () => {
  const svc = service('nothing_here', 'helper');
  assert.equal(svc.addWorkspaceFile('/ws/pkg/util.py', 'def helper(x):\n    return x\n\nCONST = 1\n'), true);
  assert.equal(svc.addWorkspaceFile('/ws/pkg/big.bin', 'x'), false, 'languages without a symbol extractor are not taken');
  assert.equal(await svc.indexWorkspace(), 1);
  const text = 'from pkg import util\n\n\ndef main():\n    return util.\n';
  svc.open('/ws/pkg/main.py', text, 'python');
  const r = await svc.complete({ path: '/ws/pkg/main.py', line: 4, col: 16, options: { mode: 'line' } });
  assert.equal(r.completion, 'helper');
  assert.ok((r.monitorInterventions ?? 0) >= 1);
  // Without the file the module is unknown: no constraint.
  const svc2 = service('nothing_here', 'helper');
  svc2.open('/ws/pkg/main.py', text, 'python');
  const r2 = await svc2.complete({ path: '/ws/pkg/main.py', line: 4, col: 16, options: { mode: 'line' } });
  assert.equal(r2.completion, 'nothing_here');
  assert.equal(r2.monitorInterventions, 0);
});

test('languages without a grammar complete unconstrained', async () => {
  const svc = service('weight', 'items');
  svc.open('/ws/notes.txt', 'self.', 'plaintext');
  const r = await svc.complete({ path: '/ws/notes.txt', line: 0, col: 5, options: { mode: 'line' } });
  assert.equal(r.completion, 'weight');
  assert.equal(r.monitorInterventions, undefined);
});

test("request memberHints (the editor's language server) constrain a receiver the analysis does not know", async () => {
  const text = 'def main(names):\n    x = names.\n';
  const hints = { receiverEnd: { line: 1, col: 13 }, names: ['append', 'extend'] };
  const svc = service('weight', 'append');
  svc.open('/ws/h.py', text, 'python');
  const plain = await svc.complete({ path: '/ws/h.py', line: 1, col: 14, options: { mode: 'line' } });
  assert.equal(plain.completion, 'weight', 'the analysis alone does not know `names`');
  const hinted = await svc.complete({ path: '/ws/h.py', line: 1, col: 14, options: { mode: 'line', memberHints: hints } });
  assert.equal(hinted.completion, 'append');
  assert.ok((hinted.monitorInterventions ?? 0) >= 1);
  // Hints for another place say nothing about this receiver.
  const other = await svc.complete({ path: '/ws/h.py', line: 1, col: 14, options: { mode: 'line', memberHints: { ...hints, receiverEnd: { line: 0, col: 3 } } } });
  assert.equal(other.completion, 'weight');
});
