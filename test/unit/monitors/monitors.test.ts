// Per language: after a receiver, a member that does not exist is masked and the right one is
// allowed; names not in scope are masked in use positions; brackets and strings stay balanced;
// the monitors never mask every token.
import { strict as assert } from 'node:assert';
import { after, test } from 'node:test';
import { WorkspaceAnalysis } from '../../../src/analysis/index';
import { createMonitors, receiverStartsStatement, type Monitors } from '../../../src/decoding/monitors/index';
import { fixture, fixtureTokenizer } from './helpers';
import { mulberry32 } from '../../fixtures/tinyModel';

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

test('processor contract: any generated prefix, in any order (branching, backtracking, revisits), gets the mask of a linear run', async () => {
  const tok = fixtureTokenizer();
  const at = '    def total(self) -> int:\n';
  // Paths a draft tree could hold: they share prefixes and branch inside strings, brackets and after receivers.
  const paths = [
    'return self.items.values()',
    'return self.history[0]',
    'return sum(self.items[k] for k in ("a", "b"))',
    'return self.name + " items"',
    "print('x', self.hist",
  ].map((p) => tok.encode(p));
  const rng = mulberry32(7);
  const rowFor = (prefix: readonly number[]): Float32Array => {
    // Deterministic per prefix, so the linear and the shuffled runs see the same logits.
    const r = mulberry32(prefix.reduce((h, t) => (h * 31 + t + 1) >>> 0, 17));
    return Float32Array.from({ length: tok.size }, () => r() * 4);
  };
  // Reference: one fresh monitor per prefix (no history at all).
  const calls: number[][] = [];
  for (const p of paths) for (let i = 0; i <= p.length; i++) calls.push(p.slice(0, i));
  const expected = new Map<string, Float32Array>();
  for (const prefix of calls) {
    const fresh = await monitorsAt('inventory.py', 'python', at, '        ');
    const row = rowFor(prefix);
    fresh.processor(row, { position: 100 + prefix.length, generated: prefix });
    expected.set(prefix.join(','), row);
  }
  // One monitor, walked linearly path by path, then in a shuffled (interleaved) order.
  const linear = await monitorsAt('inventory.py', 'python', at, '        ');
  const shuffled = await monitorsAt('inventory.py', 'python', at, '        ');
  const order = calls.map((c) => [rng(), c] as const).sort((a, b) => a[0] - b[0]).map(([, c]) => c);
  let constrained = 0;
  for (const [m, list] of [[linear, calls], [shuffled, order]] as const) {
    for (const prefix of list) {
      const row = rowFor(prefix);
      m.processor(row, { position: 100 + prefix.length, generated: prefix });
      const want = expected.get(prefix.join(','));
      assert.ok(want);
      assert.deepEqual(row, want, `mask after ${JSON.stringify(tok.decode(prefix))}`);
      if (row.some((x) => x === Number.NEGATIVE_INFINITY)) constrained++;
    }
  }
  assert.ok(constrained > 10, 'the paths exercise masks');
  // Interventions are counted on the accepted path only, whatever else was verified.
  const accepted = paths[1];
  const perStep = accepted.map((_, i) => {
    const row = rowFor(accepted.slice(0, i));
    const best = argmax(row);
    const masked = expected.get(accepted.slice(0, i).join(','));
    return masked !== undefined && masked[best] === Number.NEGATIVE_INFINITY ? 1 : 0;
  });
  assert.equal(shuffled.interventionsAlong(accepted), perStep.reduce((a: number, b: number) => a + b, 0));
});

test('later targets of a tuple assignment define members: not constrained', () => {
  const line = '        self.top_left, self.top_right = iter(line1)';
  assert.ok(receiverStartsStatement(line, line.indexOf('self.top_right')));
  assert.ok(!receiverStartsStatement('        x = f(a, self.top)', 'x = f(a, '.length + 8));
});

test('python: `import logging` inside a package is the top-level module, not the sibling logging.py', async () => {
  const ws = new WorkspaceAnalysis();
  try {
    ws.index.addFile('/ws/pkg/__init__.py', '');
    ws.index.addFile('/ws/pkg/logging.py', 'import logging\nclass RichHandler(logging.Handler):\n    pass\n');
    ws.index.addFile('/ws/pkg/util.py', 'def helper():\n    pass\n');
    const doc = await ws.open('/ws/pkg/main.py', 'import logging\nfrom pkg import util\nlevel = logging.\nutil.\n', 'python');
    assert.ok(doc);
    await ws.index.prepare(doc);
    assert.equal(ws.index.legalMembers(doc, doc.text.indexOf('logging.\n') + 8, 'logging'), null, 'stdlib logging: unknown');
    assert.deepEqual([...(ws.index.legalMembers(doc, doc.text.length - 1, 'util') ?? [])].filter((n) => !n.startsWith('__')), ['helper']);
  } finally {
    ws.dispose();
  }
});

test("the editor's language-server members: used alone for a receiver the analysis does not know, unioned where it does, and only for the receiver at the cursor", async () => {
  const tok = fixtureTokenizer();
  const first = (s: string): number => tok.encode(s)[0];
  const text = fixture('inventory.py');
  const at = text.indexOf('def build(names):\n') + 'def build(names):\n'.length;
  // `names` is a parameter of unknown type: no constraint from the analysis alone.
  const insert = '    x = names.';
  const doc = await workspace.open('/ws/oracle.py', text.slice(0, at) + insert + text.slice(at), 'python');
  assert.ok(doc);
  const cursor = at + insert.length;
  const hinted = await createMonitors({ analysis: workspace.index, tokenizer: tok, document: doc, cursorOffset: cursor, languageId: 'python', cursorMembers: { receiverEnd: cursor - 1, names: ['append', 'extend'] } });
  assert.ok(hinted);
  const row = new Float32Array(tok.size).fill(0);
  const step = hinted.apply(0, row, '');
  assert.deepEqual(step.monitors, ['dereference']);
  assert.equal(row[first('append')], 0);
  assert.equal(row[first('zebra')], Number.NEGATIVE_INFINITY);
  // The hints name the receiver that ends at the cursor's dot, not another one in the completion.
  const later = new Float32Array(tok.size).fill(0);
  assert.equal(hinted.apply(0, later, 'x\n    other.').masked, 0);
  // Elsewhere (another receiver end) they do not apply.
  const elsewhere = await createMonitors({ analysis: workspace.index, tokenizer: tok, document: doc, cursorOffset: cursor, languageId: 'python', cursorMembers: { receiverEnd: cursor - 3, names: ['append'] } });
  assert.ok(elsewhere);
  assert.equal(elsewhere.apply(0, new Float32Array(tok.size), '').masked, 0);

  // A receiver the analysis knows (self in Inventory): the union of both sets.
  const marker = '    def total(self) -> int:\n';
  const j = text.indexOf(marker) + marker.length;
  const selfInsert = '        return self.';
  const opened = await workspace.open('/ws/oracle2.py', text.slice(0, j) + selfInsert + text.slice(j), 'python');
  assert.ok(opened);
  const selfCursor = j + selfInsert.length;
  const union = await createMonitors({ analysis: workspace.index, tokenizer: tok, document: opened, cursorOffset: selfCursor, languageId: 'python', cursorMembers: { receiverEnd: selfCursor - 1, names: ['zebra'] } });
  assert.ok(union);
  const both = new Float32Array(tok.size).fill(0);
  union.apply(0, both, '');
  assert.equal(both[first('items')], 0, 'analysis member');
  assert.equal(both[first('zebra')], 0, 'language-server member');
  assert.equal(both[first('weight')], Number.NEGATIVE_INFINITY);
});

test('the scope monitor never masks when the analysis is unsure: a star import, or a name used elsewhere that nothing binds', async () => {
  const tok = fixtureTokenizer();
  const kappa = tok.encode('kappa')[0];
  const cases: [string, string][] = [
    ['star import', 'from os.path import *\n'],
    ['an injected global used elsewhere', 'print(injected_by_the_host)\n'],
  ];
  for (const [what, extra] of cases) {
    const text = extra + fixture('inventory.py');
    const at = text.indexOf('inv = Inventory("main")\n') + 'inv = Inventory("main")\n'.length;
    const insert = '    return ';
    const doc = await workspace.open(`/ws/unsure-${what.length}.py`, text.slice(0, at) + insert + text.slice(at), 'python');
    assert.ok(doc);
    const m = await createMonitors({ analysis: workspace.index, tokenizer: tok, document: doc, cursorOffset: at + insert.length, languageId: 'python' });
    assert.ok(m);
    const row = new Float32Array(tok.size).fill(0);
    const step = m.apply(0, row, '');
    assert.equal(step.masked, 0, what);
    assert.equal(row[kappa], 0, `${what}: an unknown name stays possible`);
  }
});

test('the completion may not end right after `recv.` or inside a member name; it may after a whole one, and the fallback still lets it end', async () => {
  const tok = fixtureTokenizer();
  const eos = tok.eosIds[0];
  const m = await monitorsAt('inventory.py', 'python', '    def total(self) -> int:\n', '        ', '/ws/owed.py');
  for (const [generated, endAllowed] of [
    ['return self.', false],
    ['return self.hist', false],
    ['return self.history', true],
  ] as const) {
    const row = new Float32Array(tok.size).fill(0);
    row[eos] = 5;
    m.apply(0, row, generated);
    assert.equal(row[eos] > Number.NEGATIVE_INFINITY, endAllowed, generated);
  }
  // Nothing legal left (another processor removed every continuation of "hist"): unconstrained, the end included.
  const row = new Float32Array(tok.size).fill(Number.NEGATIVE_INFINITY);
  row[eos] = 5;
  row[tok.encode('zzz')[0]] = 1;
  const step = m.apply(0, row, 'return self.hist');
  assert.equal(step.masked, 0);
  assert.equal(row[eos], 5);
});
