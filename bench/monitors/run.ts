// Dereference benchmark for monitor-guided decoding, on held-out real files.
//
//   slipstream bench monitors [--data DIR] [--per-lang N] [--per-file N] [--model DIR] [--model-examples N]
//                             [--max-tokens N] [--context N] [--threads N] [--out FILE]
//
// Examples: every `x.member` (Python attribute, JS/TS member expression, C `.`/`->` field) whose
// receiver the analysis resolves, with the member defined in the same package (the package's
// files are the workspace); up to N per language, at most --per-file per file. The document is
// the file with the member removed (text up to the dot + the suffix after the member), the
// cursor right after the dot: what the editor sees when the user has just typed it.
//
// Always reported (no model needed): how often the analysis knows the receiver, and how often
// its legal set would have excluded the true member (a false mask: must be ~0).
// With a model (--model DIR, or models/default when present): the CompletionService itself
// (FIM prompt with the suffix, as in the editor) completes each example with and without
// monitors, interleaved (the variant that runs first alternates), after one warm request that
// encodes the prompt. Reported: next-identifier exact match, rate of identifiers that are not
// members of the receiver, both with 95% intervals, and the per-token decode cost of monitors.
// Writes bench/out/monitors.json (or --out FILE).

import { mkdirSync, readdirSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Node } from 'web-tree-sitter';
import { analysisLangFor, WorkspaceAnalysis } from '../../src/analysis/index';
import { grammarForLanguageId, languageIdForPath } from '../../src/analysis/grammars';
import { CompletionService } from '../../src/completion/service';
import { receiverStartsStatement } from '../../src/decoding/monitors/index';

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

type LangKey = 'python' | 'ecmascript' | 'c';

async function collect(records: HeldoutRecord[], perLang: number, perFile: number): Promise<{ examples: Example[]; stats: Record<string, number> }> {
  const stats = { files: 0, accesses: 0, resolved: 0, falseMasks: 0, legalSetSizeSum: 0, analysisMsSum: 0 };
  const examples: Example[] = [];
  const count: Record<LangKey, number> = { python: 0, ecmascript: 0, c: 0 };
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
        const languageId = languageIdForPath(f.path);
        if (!languageId) continue;
        const doc = await ws.open('/' + f.path, f.text, languageId);
        if (!doc) continue;
        const lang = analysisLangFor(doc.grammar);
        if (!lang || count[lang] >= perLang) {
          ws.close('/' + f.path);
          continue;
        }
        const tree = doc.parseNow();
        if (!tree) continue;
        stats.files++;
        const accesses = sample(memberAccesses(tree.rootNode, doc.grammar), perFile);
        const spans = accesses.map((a) => ({ receiver: a.receiver.text, member: a.member.text, dotEnd: a.sepEnd, memberEnd: a.member.endIndex }));
        for (const a of spans) {
          if (count[lang] >= perLang) break;
          // The monitor leaves statement-opening receivers alone (they may define the member).
          if (lang !== 'c' && receiverStartsStatement(f.text, a.dotEnd - a.receiver.length - 1)) continue;
          stats.accesses++;
          const t0 = performance.now();
          await ws.index.prepare(doc);
          // Cheap screen on the whole file; resolved receivers are checked again in the editor's view.
          if (!ws.index.legalMembers(doc, a.dotEnd, a.receiver)) {
            stats.analysisMsSum += performance.now() - t0;
            continue;
          }
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
          examples.push({ path: '/' + f.path, languageId, receiver: a.receiver, member: a.member, dotEnd: a.dotEnd, memberEnd: a.memberEnd, legal });
          count[lang]++;
        }
        ws.close('/' + f.path);
      }
    } finally {
      ws.dispose();
    }
  }
  if (falseMaskSamples.length > 0) console.error(`false masks (first ${falseMaskSamples.length}):\n  ${falseMaskSamples.join('\n  ')}`);
  return { examples, stats };
}

const IDENT = /^[A-Za-z_$#][\w$]*/;

/** Mean and 95% normal-approximation interval of paired differences. */
function meanCi(xs: number[]): { mean: number; ci95: [number, number] } {
  const n = xs.length;
  if (n === 0) return { mean: 0, ci95: [0, 0] };
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, n - 1));
  const h = (1.96 * sd) / Math.sqrt(n);
  return { mean: r3(mean), ci95: [r3(mean - h), r3(mean + h)] };
}

/** Percentile bootstrap of a statistic over examples (deterministic resampling). */
function bootstrap<T>(rows: T[], stat: (rs: T[]) => number, rounds = 2000): [number, number] {
  let seed = 12345;
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  const vals: number[] = [];
  for (let k = 0; k < rounds; k++) {
    const rs = Array.from({ length: rows.length }, () => rows[Math.floor(rnd() * rows.length)]);
    const v = stat(rs);
    if (Number.isFinite(v)) vals.push(v);
  }
  vals.sort((a, b) => a - b);
  return [r3(vals[Math.floor(0.025 * vals.length)] ?? 0), r3(vals[Math.floor(0.975 * vals.length)] ?? 0)];
}

function p90(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(0.9 * s.length))];
}

interface Row {
  lang: string;
  member: string;
  legal: Set<string>;
  base: string;
  mon: string;
  baseText: string;
  monText: string;
  /** Decode ms per token after the first (forward + choice), per variant. */
  baseMsPerToken: number;
  monMsPerToken: number;
  /** Monitor masking ms per generated token / decode ms per token, within the monitored run. */
  maskShare: number;
  interventions: number;
  monitorsRan: boolean;
}

async function withModel(modelDir: string, records: HeldoutRecord[], examples: Example[], args: string[]): Promise<object> {
  const threads = num(args, 'threads', 2);
  const maxTokens = num(args, 'max-tokens', 12);
  // The bench waits for the analysis (the editor would have parsed the document while it was open);
  // how long the analysis takes is reported separately, under analysis.
  const maxContextTokens = num(args, 'context', 1024);
  const svc = new CompletionService({ modelDir, threads, maxContextTokens, monitorBudgetMs: 5000 });
  const byPath = new Map(records.map((r) => ['/' + r.path, r]));
  // The workspace: every held-out file, parsed up front as the editor's background indexer does.
  const tIndex = performance.now();
  let taken = 0;
  for (const r of records) if (svc.addWorkspaceFile('/' + r.path, r.text)) taken++;
  await svc.indexWorkspace();
  const indexSeconds = (performance.now() - tIndex) / 1000;
  await svc.ensureLoaded();
  const rows: Row[] = [];
  const perTok = (t: { totalMs: number; firstTokenMs: number; tokens: number }): number => (t.totalMs - t.firstTokenMs) / Math.max(1, t.tokens - 1);
  try {
    for (const [i, ex] of examples.entries()) {
      const rec = byPath.get(ex.path);
      if (!rec) continue;
      const docText = rec.text.slice(0, ex.dotEnd) + rec.text.slice(ex.memberEnd);
      const before = docText.slice(0, ex.dotEnd).split('\n');
      const line = before.length - 1;
      const col = before[before.length - 1].length;
      const path = `${ex.path}#${i}`;
      svc.open(path, docText, ex.languageId);
      // Warm: the first request encodes the whole prompt; both measured requests then reuse it.
      await svc.complete({ path, line, col, maxTokens: 1, options: { mode: 'line', monitors: false, completionCache: false } });
      const runOne = (monitors: boolean) => svc.complete({ path, line, col, maxTokens, options: { mode: 'line', monitors, completionCache: false } });
      // Interleaved: alternate which variant runs first.
      let base;
      let mon;
      if (i % 2 === 0) {
        base = await runOne(false);
        mon = await runOne(true);
      } else {
        mon = await runOne(true);
        base = await runOne(false);
      }
      svc.close(path);
      if ((i + 1) % 10 === 0) console.error(`monitors bench: ${i + 1}/${examples.length} examples`);
      const monPerTok = perTok(mon.timings);
      rows.push({
        lang: analysisLangFor(languageIdToGrammar(ex.languageId)) ?? ex.languageId,
        member: ex.member,
        legal: ex.legal,
        base: IDENT.exec(base.completion)?.[0] ?? '',
        mon: IDENT.exec(mon.completion)?.[0] ?? '',
        baseText: base.completion,
        monText: mon.completion,
        baseMsPerToken: perTok(base.timings),
        monMsPerToken: monPerTok,
        maskShare: (mon.timings.monitorMs ?? 0) / Math.max(1, mon.timings.tokens) / Math.max(1e-6, monPerTok),
        interventions: mon.monitorInterventions ?? 0,
        monitorsRan: mon.monitorInterventions !== undefined,
      });
    }
  } finally {
    await svc.shutdown();
  }
  const summarize = (rs: Row[]): Record<string, unknown> => {
    const em = (r: Row, k: 'base' | 'mon'): number => (r[k] === r.member ? 1 : 0);
    const bad = (r: Row, k: 'base' | 'mon'): number => (r[k] !== '' && !r.legal.has(r[k]) ? 1 : 0);
    const rate = (xs: Row[], f: (r: Row) => number): number => xs.reduce((a, r) => a + f(r), 0) / Math.max(1, xs.length);
    const badWithout = rate(rs, (r) => bad(r, 'base'));
    const badWith = rate(rs, (r) => bad(r, 'mon'));
    const reduction = (xs: Row[]): number => {
      const b = rate(xs, (r) => bad(r, 'base'));
      return b > 0 ? 1 - rate(xs, (r) => bad(r, 'mon')) / b : Number.NaN;
    };
    const timed = rs.filter((r) => r.baseMsPerToken > 0 && r.monMsPerToken > 0);
    return {
      examples: rs.length,
      nextIdentifierMatch: {
        without: r3(rate(rs, (r) => em(r, 'base'))),
        with: r3(rate(rs, (r) => em(r, 'mon'))),
        deltaPoints: meanCi(rs.map((r) => 100 * (em(r, 'mon') - em(r, 'base')))),
      },
      nonExistentIdentifierRate: {
        without: r3(badWithout),
        with: r3(badWith),
        relativeReduction: r3(reduction(rs)),
        relativeReductionCi95: bootstrap(rs, reduction),
      },
      examplesWithIntervention: rs.filter((r) => r.interventions > 0).length,
      examplesWhereMonitorsRan: rs.filter((r) => r.monitorsRan).length,
      perToken: {
        timedExamples: timed.length,
        decodeMsPerTokenMedian: { without: r3(median(timed.map((r) => r.baseMsPerToken))), with: r3(median(timed.map((r) => r.monMsPerToken))) },
        /** Median over examples of (ms/token with monitors) / (ms/token without) - 1, paired and interleaved. */
        overheadMedian: r3(median(timed.map((r) => r.monMsPerToken / r.baseMsPerToken - 1))),
        overheadP90: r3(p90(timed.map((r) => r.monMsPerToken / r.baseMsPerToken - 1))),
        /** Median share of a token's decode time spent masking (measured inside the monitored run). */
        maskShareMedian: r3(median(timed.map((r) => r.maskShare))),
        maskShareP90: r3(p90(timed.map((r) => r.maskShare))),
      },
    };
  };
  const byLang: Record<string, unknown> = {};
  for (const lang of [...new Set(rows.map((r) => r.lang))].sort()) byLang[lang] = summarize(rows.filter((r) => r.lang === lang));
  const changed = rows.filter((r) => r.base !== r.mon).slice(0, 12).map((r) => ({ lang: r.lang, member: r.member, without: r.baseText, with: r.monText }));
  return { threads, maxTokens, maxContextTokens, workspaceFilesIndexed: taken, indexSeconds: r3(indexSeconds), ...summarize(rows), byLanguage: byLang, changedSamples: changed };
}

function languageIdToGrammar(languageId: string): string {
  return grammarForLanguageId(languageId)?.name ?? languageId;
}

export async function run(args: string[]): Promise<object> {
  const root = resolve(__dirname, '../..');
  const dataDir = resolve(flag(args, 'data') ?? join(root, 'bench/data/heldout'));
  const records = readHeldout(dataDir);
  const perLang = num(args, 'per-lang', 100);
  const perFile = num(args, 'per-file', 12);
  const t0 = performance.now();
  const { examples, stats } = await collect(records, perLang, perFile);
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
  const modelExamples = num(args, 'model-examples', 3 * perLang);
  if (modelDir) report.model = { dir: modelDir, ...(await withModel(modelDir, records, sample(examples, modelExamples), args)) };
  else report.model = 'skipped: no model (pass --model DIR or add models/default)';
  const out = resolve(flag(args, 'out') ?? join(root, 'bench/out/monitors.json'));
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  return report;
}
