// Every shipped grammar loads with the bundled web-tree-sitter (ABI check) and parses a real
// file of its language without syntax errors.
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { LANGUAGE_VERSION, MIN_COMPATIBLE_VERSION, Parser } from 'web-tree-sitter';
import { GRAMMARS, grammarForLanguageId, initTreeSitter, loadGrammar } from '../../../src/analysis/grammars';
import { copyGrammars } from '../../../scripts/copy-grammars.mjs';

const FIXTURES = join(__dirname, '../../fixtures/monitors');
const SAMPLES: Record<string, string[]> = {
  python: ['inventory.py', '/usr/lib/python3.11/json/__init__.py'],
  typescript: ['shapes.ts.txt', join(__dirname, '../../../src/analysis/index.ts')],
  tsx: ['view.tsx.txt'],
  javascript: ['queue.js.txt', join(__dirname, '../../../scripts/copy-grammars.mjs')],
  c: ['list.c'],
  cpp: ['matrix.cpp'],
  java: ['Counter.java'],
  go: ['server.go'],
  rust: ['stack.rs'],
};

before(async () => {
  copyGrammars({ quiet: true });
  await initTreeSitter();
});

test('grammars/ holds every .wasm after the copy step', () => {
  for (const g of GRAMMARS) assert.ok(existsSync(join(__dirname, '../../../grammars', g.file)), g.file);
  assert.ok(existsSync(join(__dirname, '../../../grammars/web-tree-sitter.wasm')));
});

test('language ids map to grammars', () => {
  assert.equal(grammarForLanguageId('typescriptreact')?.name, 'tsx');
  assert.equal(grammarForLanguageId('python')?.name, 'python');
  assert.equal(grammarForLanguageId('plaintext'), undefined);
});

for (const g of GRAMMARS) {
  test(`${g.name}: ABI ${g.abi} loads and parses a real file`, async () => {
    const lang = await loadGrammar(g.name);
    assert.equal(lang.abiVersion, g.abi);
    assert.ok(lang.abiVersion >= MIN_COMPATIBLE_VERSION && lang.abiVersion <= LANGUAGE_VERSION);
    const files = (SAMPLES[g.name] ?? []).map((f) => (f.startsWith('/') ? f : join(FIXTURES, f))).filter((f) => existsSync(f));
    assert.ok(files.length > 0, `a sample file for ${g.name}`);
    const parser = new Parser();
    try {
      parser.setLanguage(lang);
      for (const f of files) {
        const tree = parser.parse(readFileSync(f, 'utf8'));
        assert.ok(tree, f);
        try {
          assert.equal(tree.rootNode.hasError, false, `${f} parses without errors`);
          assert.ok(tree.rootNode.namedChildCount > 0);
        } finally {
          tree.delete();
        }
      }
    } finally {
      parser.delete();
    }
  });
}
