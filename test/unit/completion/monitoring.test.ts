// The workspace analysis behind the monitors is bounded: files per workspace, characters per
// file, characters waiting to be parsed; indexing can be aborted and resumed.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setGrammarDir } from '../../../src/analysis/grammars';
import { Monitoring } from '../../../src/completion/monitoring';
import { fixtureTokenizer } from '../monitors/helpers';

const owned: Monitoring[] = [];
after(() => {
  for (const m of owned) m.dispose();
});

function monitoring(limits: ConstructorParameters<typeof Monitoring>[0]): Monitoring {
  const m = new Monitoring(limits);
  owned.push(m);
  return m;
}

const py = (name: string): string => `class ${name}:\n    def f(self):\n        return 1\n`;

test('bounded: file count, file size, text waiting to be parsed; only analysable languages', async () => {
  const m = monitoring({ maxFiles: 2, maxFileChars: 200, maxPendingChars: 60 });
  assert.equal(m.addWorkspaceFile('/ws/a.py', py('A')), true);
  assert.equal(m.addWorkspaceFile('/ws/huge.py', `# ${'x'.repeat(300)}\n`), false, 'over maxFileChars');
  assert.equal(m.addWorkspaceFile('/ws/b.py', py('B')), false, 'the pending text would pass maxPendingChars');
  assert.equal(m.addWorkspaceFile('/ws/notes.txt', 'hello'), false, 'no grammar');
  assert.equal(await m.indexWorkspace(), 1);
  // Parsed files drop their text: room again for pending text, but not for a third file.
  assert.equal(m.addWorkspaceFile('/ws/b.py', py('B')), true);
  assert.equal(m.addWorkspaceFile('/ws/c.py', py('C')), false, 'over maxFiles');
  assert.equal(await m.indexWorkspace(), 1);
});

test('indexing stops when aborted and picks up the rest later', async () => {
  const m = monitoring({});
  for (let i = 0; i < 5; i++) assert.ok(m.addWorkspaceFile(`/ws/m${i}.py`, py(`M${i}`)));
  const ac = new AbortController();
  ac.abort();
  assert.equal(await m.indexWorkspace(ac.signal), 0);
  assert.equal(await m.indexWorkspace(), 5);
  assert.equal(await m.indexWorkspace(), 0, 'nothing left');
});

test('a grammar that cannot load is reported once (the monitors stay off for those documents)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'slip-grammar-'));
  try {
    writeFileSync(join(dir, 'tree-sitter-go.wasm'), 'not wasm');
    setGrammarDir(dir);
    const messages: string[] = [];
    const m = new Monitoring({}, (msg) => messages.push(msg));
    owned.push(m);
    m.open('/ws/a.go', 'package main\n', 'go');
    m.open('/ws/b.go', 'package main\n', 'go');
    const tok = fixtureTokenizer();
    for (const p of ['/ws/a.go', '/ws/b.go']) assert.equal(await m.monitorsFor(p, 'package main\n', 5, tok, new AbortController().signal), null);
    assert.equal(messages.length, 1, messages.join('\n'));
    assert.match(messages[0], /static analysis unavailable/);
  } finally {
    setGrammarDir(join(__dirname, '../../../grammars'));
    rmSync(dir, { recursive: true, force: true });
  }
});
