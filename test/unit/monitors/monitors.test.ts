// Per language: after a receiver, a member that does not exist is masked and the right one is
// allowed; names not in scope are masked in use positions; brackets and strings stay balanced;
// the monitors never mask every token.
import { strict as assert } from 'node:assert';
import { after, test } from 'node:test';
import { WorkspaceAnalysis } from '../../../src/analysis/index';
import { createMonitors, type Monitors } from '../../../src/decoding/monitors/index';
import { fixture, fixtureTokenizer } from './helpers';

const workspace = new WorkspaceAnalysis();
after(() => workspace.dispose());

/** Opens `file` with `insert` placed at the marker line `at` (inserted after that text), cursor at the end of `insert`. */
async function monitorsAt(name: string, languageId: string, at: string, insert: string, path = `/ws/${name}`): Promise<Monitors> {
  const text = fixture(name);
  const i = text.indexOf(at);
  assert.ok(i >= 0, `${at} in ${name}`);
  const cut = i + at.length;
  const doc = await workspace.open(path, text.slice(0, cut) + insert + text.slice(cut), languageId);
  assert.ok(doc);
  const m = await createMonitors({ analysis: workspace.index, tokenizer: fixtureTokenizer(), document: doc, cursorOffset: cut + insert.length, languageId });
  assert.ok(m, 'monitors apply');
  return m;
}

/** Logits that prefer the first token of `bad`, then `good`'s. */
function logitsPreferring(bad: string, good: string): { logits: Float32Array; badId: number; goodId: number } {
  const tok = fixtureTokenizer();
  const logits = new Float32Array(tok.size).fill(-5);
  const badId = tok.encode(bad)[0];
  const goodId = tok.encode(good)[0];
  assert.notEqual(badId, goodId);
  logits[badId] = 10;
  logits[goodId] = 8;
  return { logits, badId, goodId };
}

function argmax(a: Float32Array): number {
  let b = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[b]) b = i;
  return b;
}

const DEREF_CASES = [
  { lang: 'python', file: 'inventory.py', at: '    def total(self) -> int:\n', insert: '        return self.', good: 'items', bad: 'weight' },
  { lang: 'python', file: 'inventory.py', at: 'inv = Inventory("main")\n', insert: '    h = inv.', good: 'history', bad: 'weight' },
  { lang: 'typescript', file: 'shapes.ts.txt', at: '  describe(): string {\n', insert: '    return this.', good: 'label', bad: 'size' },
  { lang: 'typescript', file: 'shapes.ts.txt', at: 'export function area(): number {\n', insert: '  return defaults.', good: 'height', bad: 'depth' },
  { lang: 'typescriptreact', file: 'view.tsx.txt', at: 'const [open, setOpen] = useState(false);\n', insert: '  const t = props.', good: 'title', bad: 'name' },
  { lang: 'javascript', file: 'queue.js.txt', at: '  peek() {\n', insert: '    return this.', good: 'items', bad: 'buffer' },
  { lang: 'c', file: 'list.c', at: 'int total = 0;\n', insert: '  total += l->head->', good: 'value', bad: 'data' },
];

for (const c of DEREF_CASES) {
  test(`${c.lang}: dereference masks '${c.bad}' and allows '${c.good}' after '${c.insert.trim()}'`, async () => {
    const m = await monitorsAt(c.file, c.lang, c.at, c.insert);
    const { logits, badId, goodId } = logitsPreferring(c.bad, c.good);
    const step = m.apply(0, logits, '');
    assert.deepEqual(step.monitors, ['dereference']);
    assert.equal(logits[badId], Number.NEGATIVE_INFINITY, 'non-existent member masked');
    assert.equal(logits[goodId], 8, 'real member allowed');
    assert.equal(argmax(logits), goodId);
    assert.ok(step.intervened);
  });
}

test('python: dereference in the generated text, with the member split across tokens', async () => {
  const m = await monitorsAt('inventory.py', 'python', '    def total(self) -> int:\n', '        ');
  const tok = fixtureTokenizer();
  const logits = new Float32Array(tok.size).fill(0);
  // After "return self.hist" only continuations of "history" (or a break after it) survive.
  const step = m.apply(0, logits, 'return self.hist');
  assert.deepEqual(step.monitors, ['dereference']);
  const dec = new TextDecoder();
  for (let id = 0; id < tok.size; id++) {
    if (logits[id] === Number.NEGATIVE_INFINITY) continue;
    const t = dec.decode(tok.tokenBytes(id));
    if (tok.eosIds.includes(id) || t.startsWith('<|')) continue;
    const word = /^\w*/.exec(t)?.[0] ?? '';
    assert.ok('history'.startsWith('hist' + word) && (word === t || 'hist' + word === 'history'), `allowed ${JSON.stringify(t)}`);
  }
});

test('unknown receivers are not constrained', async () => {
  const m = await monitorsAt('inventory.py', 'python', 'def build(names):\n', '    names.');
  const { logits } = logitsPreferring('weight', 'items');
  const before = Float32Array.from(logits);
  const step = m.apply(0, logits, '');
  assert.equal(step.masked, 0);
  assert.deepEqual(logits, before);
});

test('a receiver rebound in the generated text is not trusted', async () => {
  const m = await monitorsAt('inventory.py', 'python', 'def build(names):\n', '    inv = Inventory("main")\n');
  const { logits } = logitsPreferring('weight', 'items');
  const step = m.apply(0, logits, '    inv = names\n    inv.');
  assert.equal(step.masked, 0);
});

test('python: a name that is not in scope is masked after `return `', async () => {
  const m = await monitorsAt('inventory.py', 'python', 'inv = Inventory("main")\n', '    return ');
  const { logits, badId, goodId } = logitsPreferring('kappa', 'inv');
  const step = m.apply(0, logits, '');
  assert.deepEqual(step.monitors, ['scope']);
  assert.equal(logits[badId], Number.NEGATIVE_INFINITY);
  assert.equal(logits[goodId], 8);
});

test('scope monitor stays off inside brackets in Python (comprehension targets come later)', async () => {
  const m = await monitorsAt('inventory.py', 'python', 'inv = Inventory("main")\n', '    return [');
  const { logits } = logitsPreferring('zeta', 'inv');
  assert.equal(m.apply(0, logits, '').masked, 0);
  const m2 = await monitorsAt('inventory.py', 'python', 'inv = Inventory("main")\n', '    ');
  const l2 = logitsPreferring('zeta', 'inv');
  const step = m2.apply(0, l2.logits, 'x = sum(a + ');
  assert.ok(!step.monitors.includes('scope'));
  assert.equal(l2.logits[l2.badId], 10);
});

test('syntax: a closer that does not match the innermost opened bracket is masked', async () => {
  const m = await monitorsAt('inventory.py', 'python', 'inv = Inventory("main")\n', '    ');
  const tok = fixtureTokenizer();
  const logits = new Float32Array(tok.size).fill(0);
  const paren = tok.encode(')')[0];
  const bracket = tok.encode(']')[0];
  logits[paren] = 5;
  const step = m.apply(0, logits, 'print(names[1');
  assert.ok(step.monitors.includes('syntax'));
  assert.equal(logits[paren], Number.NEGATIVE_INFINITY);
  assert.equal(logits[bracket], 0);
  assert.ok(step.intervened);
});

test('syntax: a newline cannot end a one-line string the completion opened', async () => {
  const m = await monitorsAt('shapes.ts.txt', 'typescript', 'export function area(): number {\n', '  ');
  const tok = fixtureTokenizer();
  const logits = new Float32Array(tok.size).fill(0);
  const nl = tok.encode('\n')[0];
  const quote = tok.encode("'")[0];
  m.apply(0, logits, "const s = 'abc");
  assert.equal(logits[nl], Number.NEGATIVE_INFINITY);
  assert.equal(logits[quote], 0);
});

test('never masks every token: falls back to unconstrained', async () => {
  const m = await monitorsAt('inventory.py', 'python', '    def total(self) -> int:\n', '        return self.');
  const tok = fixtureTokenizer();
  const logits = new Float32Array(tok.size).fill(Number.NEGATIVE_INFINITY);
  // Only a token no member starts with is still possible (as if another processor masked the rest).
  const only = tok.encode('weight')[0];
  logits[only] = 1;
  const step = m.apply(0, logits, '');
  assert.equal(step.masked, 0);
  assert.equal(logits[only], 1);
  assert.equal(m.stats.fallbacks, 1);
});

test('no monitors inside strings and comments', async () => {
  const text = fixture('inventory.py');
  const doc = await workspace.open('/ws/str.py', text + '\nx = "self.', 'python');
  assert.ok(doc);
  const m = await createMonitors({ analysis: workspace.index, tokenizer: fixtureTokenizer(), document: doc, cursorOffset: doc.text.length, languageId: 'python' });
  assert.equal(m, null);
  const m2 = await monitorsAt('inventory.py', 'python', '    def total(self) -> int:\n', '        ');
  const { logits } = logitsPreferring('weight', 'items');
  assert.equal(m2.apply(0, logits, '# see self.').masked, 0);
});

test('the logits processor decodes generated ids itself', async () => {
  const m = await monitorsAt('inventory.py', 'python', '    def total(self) -> int:\n', '        ');
  const tok = fixtureTokenizer();
  const { logits, badId } = logitsPreferring('weight', 'items');
  m.processor(logits, { position: 10, generated: tok.encode('return self.') });
  assert.equal(logits[badId], Number.NEGATIVE_INFINITY);
  assert.equal(m.stats.interventions, 1);
});

test('a receiver that opens a statement may define a new member: not constrained', async () => {
  const m = await monitorsAt('inventory.py', 'python', '    def total(self) -> int:\n', '        self.');
  const { logits } = logitsPreferring('weight', 'items');
  assert.equal(m.apply(0, logits, '').masked, 0);
});
