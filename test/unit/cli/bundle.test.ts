// The bundles (dist/cli.js, dist/extension.js) are built with esbuild; tree-sitter must work
// inside them, or every monitor is silently off in the CLI and the editor. Bundles a small entry
// with the build's plugins and runs it in a fresh process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { webTreeSitterCjs } from '../../../scripts/esbuild-plugins.mjs';
import { copyGrammars } from '../../../scripts/copy-grammars.mjs';

const ROOT = join(__dirname, '../../..');

test('tree-sitter grammars load and parse inside a CommonJS bundle built like dist/', async () => {
  copyGrammars({ quiet: true });
  const dir = mkdtempSync(join(tmpdir(), 'slip-bundle-'));
  try {
    const entry = join(dir, 'entry.ts');
    const grammars = join(ROOT, 'src/analysis/grammars.ts');
    writeFileSync(
      entry,
      `import { Parser } from 'web-tree-sitter';\n` +
        `import { loadGrammar, setGrammarDir } from ${JSON.stringify(grammars)};\n` +
        `setGrammarDir(${JSON.stringify(join(ROOT, 'grammars'))});\n` +
        `loadGrammar('python').then((lang) => {\n` +
        `  const parser = new Parser();\n  parser.setLanguage(lang);\n` +
        `  const tree = parser.parse('class A:\\n    x = 1\\n');\n` +
        `  console.log(JSON.stringify({ root: tree?.rootNode.type, error: tree?.rootNode.hasError }));\n` +
        `}, (e) => { console.log(JSON.stringify({ failed: String(e) })); });\n`,
    );
    const out = join(dir, 'bundle.js');
    // The same options as esbuild.mjs's `common`.
    await esbuild.build({ bundle: true, platform: 'node', target: 'node20', format: 'cjs', external: ['vscode', 'onnxruntime-node'], plugins: [webTreeSitterCjs], entryPoints: [entry], outfile: out, logLevel: 'silent', nodePaths: [join(ROOT, 'node_modules')] });
    const result = JSON.parse(execFileSync(process.execPath, [out], { encoding: 'utf8' }).trim()) as Record<string, unknown>;
    assert.deepEqual(result, { root: 'module', error: false });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
