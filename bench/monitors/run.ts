// Dereference benchmark for monitor-guided decoding, on held-out real files.
//
//   slipstream bench monitors [--data DIR] [--limit N] [--per-file N] [--model DIR] [--model-examples N]
//                              [--prefix-tokens N] [--suffix-tokens N] [--threads N] [--out FILE]
//
// Examples: every `x.member` (Python attribute, JS/TS member expression, C `.`/`->` field) whose
// receiver the analysis resolves, with the member defined in the same file or package. The
// document is the file with the member removed (text up to the dot + the suffix after the
// member), the cursor right after the dot — what the editor sees when the user has just typed it.
//
// Always reported (no model needed): how often the analysis knows the receiver, and how often
// its legal set would have excluded the true member (a false mask: must be ~0).
// With a model (--model DIR, or models/default when present): greedy FIM completions with and
// without monitors; next-identifier exact match, rate of identifiers that are not members, and
// the monitors' per-token overhead (median over examples of monitor ms / forward ms per token).

import { mkdirSync, readdirSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Node } from 'web-tree-sitter';
import { analysisLangFor, WorkspaceAnalysis } from '../../src/analysis/index';
import { languageIdForPath } from '../../src/analysis/grammars';
import type { DocumentAnalysis } from '../../src/analysis/document';
import { createMonitors, receiverStartsStatement } from '../../src/decoding/monitors/index';
import { generate } from '../../src/decoding/generate';
import { generationConfig } from '../../src/decoding/generationConfig';
import type { LogitsProcessor } from '../../src/decoding/logitsProcessors';
import { loadCheckpoint } from '../../src/engine/checkpoint';
import { Model } from '../../src/engine/model';

interface HeldoutRecord {
  path: string;
  lang: string;
  text: string;
}

interface Example {
  path: string;
  languageId: string;
  receiver: string;
  member: string;
  /** Offset just after the dot (or `->`) in the original text. */
  dotEnd: number;
  memberEnd: number;
  legal: Set<string>;
}

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

function num(args: string[], name: string, dflt: number): number {
  const v = flag(args, name);
  return v === undefined ? dflt : Number(v);
}

function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const r3 = (x: number): number => Math.round(x * 1000) / 1000;

function readHeldout(dir: string): HeldoutRecord[] {
  if (!existsSync(dir)) return [];
  const out: HeldoutRecord[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.jsonl.gz')).sort()) {
    const text = gunzipSync(readFileSync(join(dir, f))).toString('utf8');
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      const r = JSON.parse(line) as Partial<HeldoutRecord>;
      if (typeof r.path === 'string' && typeof r.text === 'string') out.push({ path: r.path, lang: String(r.lang ?? ''), text: r.text });
    }
  }
  return out;
}

/** Member accesses in a tree: receiver node, member node, and the separator's end. */
function memberAccesses(root: Node, grammar: string): { receiver: Node; member: Node; sepEnd: number }[] {
  const lang = analysisLangFor(grammar);
  const type = lang === 'python' ? 'attribute' : lang === 'ecmascript' ? 'member_expression' : lang === 'c' ? 'field_expression' : null;
  if (!type) return [];
  const out: { receiver: Node; member: Node; sepEnd: number }[] = [];
  for (const n of root.descendantsOfType(type)) {
    const receiver = n.childForFieldName(lang === 'c' ? 'argument' : 'object');
    const member = n.childForFieldName(lang === 'python' ? 'attribute' : lang === 'c' ? 'field' : 'property');
    if (!receiver || !member) continue;
    if (lang === 'ecmascript' && member.type !== 'property_identifier' && member.type !== 'private_property_identifier') continue;
    // Only `a.b` with nothing between the separator and the member (no comments or newlines).
    const between = n.text.slice(receiver.endIndex - n.startIndex, member.startIndex - n.startIndex);
    if (!/^\s*(\?\.|\.|->)$/.test(between)) continue;
    out.push({ receiver, member, sepEnd: member.startIndex });
  }
  return out;
}

/** Deterministic sample: every k-th item. */
function sample<T>(xs: T[], n: number): T[] {
  if (xs.length <= n) return xs;
  const step = xs.length / n;
  return Array.from({ length: n }, (_, i) => xs[Math.floor(i * step)]);
}

async function collect(records: HeldoutRecord[], limit: number, perFile: number): Promise<{ examples: Example[]; stats: Record<string, number> }> {
  const stats = { files: 0, accesses: 0, resolved: 0, falseMasks: 0, legalSetSizeSum: 0, analysisMsSum: 0 };
  const examples: Example[] = [];
  // Files grouped by package (first path segment) form one workspace, so imports resolve.
  const byPackage = new Map<string, HeldoutRecord[]>();
  for (const r of records) {
    const pkg = r.path.split('/')[0];
    const list = byPackage.get(pkg) ?? [];
    list.push(r);
    byPackage.set(pkg, list);
  }
  const falseMaskSamples: string[] = [];
  for (const [, files] of byPackage) {
    const ws = new WorkspaceAnalysis();
    try {
      for (const f of files) ws.index.addFile('/' + f.path, f.text);
      for (const f of files) {
        if (examples.length >= limit) break;
        const languageId = languageIdForPath(f.path);
        if (!languageId) continue;
        const doc = await ws.open('/' + f.path, f.text, languageId);
        if (!doc) continue;
        const tree = doc.parseNow();
        if (!tree) continue;
        stats.files++;
        const accesses = sample(memberAccesses(tree.rootNode, doc.grammar), perFile);
        const found: Example[] = [];
        const spans = accesses.map((a) => ({ receiver: a.receiver.text, member: a.member.text, dotEnd: a.sepEnd, memberEnd: a.member.endIndex }));
        for (const a of spans) {
          // The monitor leaves statement-opening receivers alone (they may define the member).
          if (analysisLangFor(doc.grammar) !== 'c' && receiverStartsStatement(f.text, a.dotEnd - a.receiver.length - 1)) continue;
          stats.accesses++;
          const t0 = performance.now();
          // The editor's view: the member not typed yet.
          doc.editOffsets([{ start: a.dotEnd, end: a.memberEnd, text: '' }]);
          await ws.index.prepare(doc);
          const legal = ws.index.legalMembers(doc, a.dotEnd, a.receiver);
          doc.editOffsets([{ start: a.dotEnd, end: a.dotEnd, text: a.member }]);
          stats.analysisMsSum += performance.now() - t0;
          if (!legal) continue;
          stats.resolved++;
          stats.legalSetSizeSum += legal.size;
          if (!legal.has(a.member)) {
            stats.falseMasks++;
            if (falseMaskSamples.length < 10) falseMaskSamples.push(`${f.path}: ${a.receiver}.${a.member}`);
            continue;
          }
          found.push({ path: '/' + f.path, languageId, receiver: a.receiver, member: a.member, dotEnd: a.dotEnd, memberEnd: a.memberEnd, legal });
        }
        examples.push(...found.slice(0, Math.max(0, limit - examples.length)));
        ws.close('/' + f.path);
      }
    } finally {
      ws.dispose();
    }
    if (examples.length >= limit) break;
  }
  if (falseMaskSamples.length > 0) console.error(`false masks (first ${falseMaskSamples.length}):\n  ${falseMaskSamples.join('\n  ')}`);
  return { examples, stats };
}

const IDENT = /^[A-Za-z_$#][\w$]*/;

async function withModel(modelDir: string, records: HeldoutRecord[], examples: Example[], args: string[]): Promise<object> {
  const ck = await loadCheckpoint(modelDir);
  const model = await Model.load(ck, { threads: num(args, 'threads', 2) });
  const tok = ck.tokenizer;
  const [pre, suf, mid] = ['<|fim_prefix|>', '<|fim_suffix|>', '<|fim_middle|>'].map((s) => tok.specialId(s));
  if (pre === undefined || suf === undefined || mid === undefined) throw new Error('the model has no FIM tokens');
  const prefixTokens = num(args, 'prefix-tokens', 768);
  const suffixTokens = num(args, 'suffix-tokens', 128);
  const byPath = new Map(records.map((r) => ['/' + r.path, r]));
  const ws = new WorkspaceAnalysis();
  for (const r of records) ws.index.addFile('/' + r.path, r.text);
  const rows: { base: string; mon: string; member: string; legal: Set<string>; overhead: number; interventions: number }[] = [];
  try {
    for (const ex of examples) {
      const rec = byPath.get(ex.path);
      if (!rec) continue;
      const docText = rec.text.slice(0, ex.dotEnd) + rec.text.slice(ex.memberEnd);
      const doc: DocumentAnalysis | null = await ws.open(ex.path, docText, ex.languageId);
      if (!doc) continue;
      const prompt = [pre, ...tok.encode(docText.slice(0, ex.dotEnd)).slice(-prefixTokens), suf, ...tok.encode(docText.slice(ex.dotEnd)).slice(0, suffixTokens), mid];
      const cache = model.createCache();
      const first = await model.forward(cache, { embeds: model.embed(prompt), positions: prompt.map((_, i) => i) });
      cache.append(first.newKeys, first.newValues, prompt, prompt.map((_, i) => i));
      const config = generationConfig(tok, { maxNewTokens: 8, mode: 'line' });
      const run = async (processors: LogitsProcessor[]): Promise<{ text: string; ms: number; tokens: number }> => {
        const t0 = performance.now();
        const r = await generate(model, cache, Float32Array.from(first.logits), config, { tokenizer: tok, processors });
        return { text: r.text, ms: performance.now() - t0, tokens: Math.max(1, r.tokens.length) };
      };
      const base = await run([]);
      const monitors = await createMonitors({ analysis: ws.index, tokenizer: tok, document: doc, cursorOffset: ex.dotEnd, languageId: ex.languageId });
      const mon = await run(monitors ? [monitors.processor] : []);
      const monitorMsPerToken = (monitors?.stats.ms ?? 0) / mon.tokens;
      const forwardMsPerToken = Math.max(1e-6, (mon.ms - (monitors?.stats.ms ?? 0)) / mon.tokens);
      rows.push({
        base: IDENT.exec(base.text)?.[0] ?? '',
        mon: IDENT.exec(mon.text)?.[0] ?? '',
        member: ex.member,
        legal: ex.legal,
        overhead: monitorMsPerToken / forwardMsPerToken,
        interventions: monitors?.stats.interventions ?? 0,
      });
      ws.close(ex.path);
    }
  } finally {
    ws.dispose();
    await model.dispose();
  }
  const n = Math.max(1, rows.length);
  const em = (k: 'base' | 'mon'): number => rows.filter((r) => r[k] === r.member).length / n;
  const nonExistent = (k: 'base' | 'mon'): number => rows.filter((r) => r[k] !== '' && !r.legal.has(r[k])).length / n;
  return {
    examples: rows.length,
    nextIdentifierMatch: { without: r3(em('base')), with: r3(em('mon')), deltaPoints: r3(100 * (em('mon') - em('base'))) },
    nonExistentIdentifierRate: { without: r3(nonExistent('base')), with: r3(nonExistent('mon')) },
    perTokenOverheadMedian: r3(median(rows.map((r) => r.overhead))),
    examplesWithIntervention: rows.filter((r) => r.interventions > 0).length,
  };
}

export async function run(args: string[]): Promise<object> {
  const root = resolve(__dirname, '../..');
  const dataDir = resolve(flag(args, 'data') ?? join(root, 'bench/data/heldout'));
  const records = readHeldout(dataDir);
  const limit = num(args, 'limit', 400);
  const perFile = num(args, 'per-file', 40);
  const t0 = performance.now();
  const { examples, stats } = await collect(records, limit, perFile);
  const byLang: Record<string, number> = {};
  for (const e of examples) byLang[e.languageId] = (byLang[e.languageId] ?? 0) + 1;
  const report: Record<string, unknown> = {
    data: dataDir,
    records: records.length,
    analysis: {
      files: stats.files,
      memberAccesses: stats.accesses,
      receiverResolvedRate: r3(stats.resolved / Math.max(1, stats.accesses)),
      /** Resolved receivers whose legal set lacked the true member: the monitor would have masked a correct name. */
      falseMaskRate: r3(stats.falseMasks / Math.max(1, stats.resolved)),
      meanLegalSetSize: r3(stats.legalSetSizeSum / Math.max(1, stats.resolved)),
      meanAnalysisMsPerAccess: r3(stats.analysisMsSum / Math.max(1, stats.accesses)),
      examples: examples.length,
      examplesByLanguage: byLang,
      seconds: r3((performance.now() - t0) / 1000),
    },
  };
  const modelDir = flag(args, 'model') ?? (existsSync(join(root, 'models/default/config.json')) ? join(root, 'models/default') : undefined);
  const modelExamples = num(args, 'model-examples', 100);
  if (modelDir) report.model = { dir: modelDir, ...(await withModel(modelDir, records, sample(examples, modelExamples), args)) };
  else report.model = 'skipped: no model (pass --model DIR or add models/default)';
  const out = flag(args, 'out');
  if (out) {
    mkdirSync(dirname(resolve(out)), { recursive: true });
    writeFileSync(resolve(out), JSON.stringify(report, null, 2));
  }
  return report;
}
