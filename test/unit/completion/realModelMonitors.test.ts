// Regression cases with the REAL default model (models/default), found by bench/monitors' search
// over the held-out files: at a real member access, with the member removed and the cursor after
// the separator, the model (token healing on, spm layout) writes a member the receiver does not
// have; with the monitors it writes the real one. The legal set comes from the same analysis the
// monitors use, so "does not exist" is checked, not assumed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { WorkspaceAnalysis } from '../../../src/analysis/index';
import { CompletionService } from '../../../src/completion/service';

const ROOT = join(__dirname, '../../..');
const MODEL = join(ROOT, 'models/default');
const HAVE_MODEL = existsSync(join(MODEL, 'config.json'));

interface Case {
  /** Path inside bench/data/heldout (the record's `path`). */
  path: string;
  languageId: string;
  receiver: string;
  separator: '.' | '->';
  member: string;
  /** Offset just after the separator in the held-out file. */
  dotEnd: number;
  /** Held-out files under this folder are the workspace (what the file imports); default: the file alone. */
  workspace?: string;
}

const CASES: Case[] = [
  { path: 'include/python3.12/cpython/code.h', languageId: 'c', receiver: 'word', separator: '.', member: 'op', dotEnd: 1656 },
  { path: 'include/python3.12/internal/pycore_gc.h', languageId: 'c', receiver: 'gc', separator: '->', member: '_gc_next', dotEnd: 803 },
  { path: 'requests/api.py', languageId: 'python', receiver: '_t', separator: '.', member: 'UriType', dotEnd: 4827, workspace: 'requests/' },
  { path: 'mobx/src/core/computedvalue.ts', languageId: 'typescript', receiver: 'this', separator: '.', member: 'requiresReaction_', dotEnd: 10751 },
  { path: 'mobx/src/types/observableset.ts', languageId: 'typescript', receiver: 'this', separator: '.', member: 'dehancer', dotEnd: 2146 },
];

const IDENT = /^[A-Za-z_$#][\w$]*/;

let records: Map<string, string>;
let svc: CompletionService;
const analysis = new WorkspaceAnalysis();

before(() => {
  records = new Map();
  if (!HAVE_MODEL) return;
  for (const f of ['python', 'typescript', 'c']) {
    const lines = gunzipSync(readFileSync(join(ROOT, 'bench/data/heldout', `${f}.jsonl.gz`))).toString('utf8').split('\n');
    for (const line of lines) {
      if (!line.trim()) continue;
      const r = JSON.parse(line) as { path: string; text: string };
      if (CASES.some((c) => c.path === r.path || (c.workspace && r.path.startsWith(c.workspace)))) records.set(r.path, r.text);
    }
  }
  svc = new CompletionService({ modelDir: MODEL, threads: 1, maxContextTokens: 1024, monitorBudgetMs: 10_000 });
});

after(async () => {
  analysis.dispose();
  await svc?.shutdown();
});

for (const c of CASES) {
  test(`${c.languageId} ${c.path}: the default model's non-existent member after '${c.receiver}${c.separator}' becomes '${c.member}' with monitors`, { skip: !HAVE_MODEL && 'models/default is not in this checkout' }, async () => {
    const original = records.get(c.path);
    assert.ok(original !== undefined, `${c.path} in the held-out data`);
    assert.equal(original.slice(c.dotEnd - c.receiver.length - c.separator.length, c.dotEnd + c.member.length), `${c.receiver}${c.separator}${c.member}`);
    const text = original.slice(0, c.dotEnd) + original.slice(c.dotEnd + c.member.length);
    const lines = text.slice(0, c.dotEnd).split('\n');
    const [line, col] = [lines.length - 1, lines[lines.length - 1].length];
    // The workspace as the editor's background indexer hands it over.
    for (const [p, t] of records) {
      if (!c.workspace || !p.startsWith(c.workspace) || p === c.path) continue;
      svc.addWorkspaceFile(`/${p}`, t);
      analysis.index.addFile(`/${p}`, t);
    }
    await Promise.all([svc.indexWorkspace(), analysis.index.indexPending()]);
    // The receiver's members as the analysis knows them (the monitors' legal set).
    const doc = await analysis.open(`/${c.path}`, text, c.languageId);
    assert.ok(doc);
    await analysis.index.prepare(doc);
    const legal = analysis.index.legalMembers(doc, c.dotEnd, c.receiver);
    assert.ok(legal && legal.has(c.member), 'the analysis resolves the receiver and knows the member');

    const path = `/${c.path}`;
    svc.open(path, text, c.languageId);
    const options = { mode: 'line' as const, promptLayout: 'spm' as const, completionCache: false };
    const off = await svc.complete({ path, line, col, maxTokens: 12, options: { ...options, monitors: false } });
    const wrong = IDENT.exec(off.completion)?.[0] ?? '';
    assert.ok(wrong !== '' && !legal.has(wrong), `unconstrained, the model writes a member that does not exist (got ${JSON.stringify(off.completion)})`);
    const on = await svc.complete({ path, line, col, maxTokens: 12, options });
    assert.equal(IDENT.exec(on.completion)?.[0], c.member, `with monitors: ${JSON.stringify(on.completion)}`);
    assert.ok((on.monitorInterventions ?? 0) >= 1);
    svc.close(path);
  });
}
