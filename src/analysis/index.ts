// The workspace symbol index: one FileAnalysis per open document (recomputed lazily after each
// edit, from its incremental tree) and per workspace file handed to it (parsed in background
// slices, bounded in count and size). FileAnalysis holds no tree-sitter objects, so analyses
// can be cached freely; trees and parsers stay owned by DocumentAnalysis.
//
// Two questions for the decoder:
//   legalMembers(doc, offset, receiverText) → names that may follow `receiverText.`, or null
//   namesInScope(doc, offset)               → names a reference may use there, or null
// null always means "unknown: do not constrain".

import type { Tree } from 'web-tree-sitter';
import type { DocumentEdit } from '../completion/types';
import { analyzeC } from './c';
import { DocumentAnalysis, DEFAULT_MAX_CHARS } from './document';
import { analyzeEcmascript, JS_GLOBALS, JS_KEYWORDS } from './ecmascript';
import { grammarForLanguageId, languageIdForPath } from './grammars';
import { analyzePython, PY_BUILTINS, PY_KEYWORDS } from './python';
import { namesVisible, Resolver, scopeAt, type AnalysisLang, type FileAnalysis, type ModuleLookup } from './symbols';

export { DocumentAnalysis } from './document';
export type { FileAnalysis } from './symbols';

export function analysisLangFor(grammar: string): AnalysisLang | null {
  switch (grammar) {
    case 'python':
      return 'python';
    case 'typescript':
    case 'tsx':
    case 'javascript':
      return 'ecmascript';
    case 'c':
      return 'c';
    default:
      // C++, Java, Go, Rust: parsed (syntax monitor, stop points) but not symbol-analysed yet.
      return null;
  }
}

export function analyzeTree(path: string, grammar: string, tree: Tree): FileAnalysis | null {
  switch (analysisLangFor(grammar)) {
    case 'python':
      return analyzePython(path, tree);
    case 'ecmascript':
      return analyzeEcmascript(path, tree);
    case 'c':
      return analyzeC(path, tree);
    default:
      return null;
  }
}

/** `a.b.c` (or `a->b` in C) → ['a','b','c']; null for anything that is not a plain name chain. */
export function parseReceiver(text: string, lang: AnalysisLang): string[] | null {
  const t = text.trim();
  const sep = lang === 'c' ? /\s*(?:\.|->)\s*/ : /\s*\.\s*/;
  const parts = t.split(sep);
  const ident = lang === 'ecmascript' ? /^[A-Za-z_$][\w$]*$/ : /^[A-Za-z_]\w*$/;
  return parts.length > 0 && parts.every((p) => ident.test(p)) ? parts : null;
}

interface WorkspaceFile {
  path: string;
  languageId: string;
  text: string | null;
  analysis: FileAnalysis | null;
}

export interface IndexLimits {
  /** Workspace files kept (default 5000). */
  maxFiles?: number;
  /** Largest file analysed, in characters (default 1,000,000). */
  maxChars?: number;
}

export class SymbolIndex implements ModuleLookup {
  private readonly workspace = new Map<string, WorkspaceFile>();
  private readonly open = new Map<string, DocumentAnalysis>();
  private readonly resolver = new Resolver(this);
  private readonly maxFiles: number;
  private readonly maxChars: number;

  constructor(limits: IndexLimits = {}) {
    this.maxFiles = limits.maxFiles ?? 5000;
    this.maxChars = limits.maxChars ?? DEFAULT_MAX_CHARS;
  }

  /** Registers an open document; its analysis follows its edits. The caller keeps owning it. */
  attach(doc: DocumentAnalysis): void {
    if (!this.has(doc.path)) this.resolved.clear();
    this.open.set(doc.path, doc);
  }

  detach(path: string): void {
    this.open.delete(path);
    if (!this.workspace.has(path)) this.resolved.clear();
  }

  /** Adds or replaces a workspace file (not necessarily open); it is parsed on demand or by indexPending(). Returns whether it was taken. */
  addFile(path: string, text: string, languageId = languageIdForPath(path)): boolean {
    if (!languageId || !grammarForLanguageId(languageId) || text.length > this.maxChars) return false;
    if (!this.workspace.has(path) && this.workspace.size >= this.maxFiles) return false;
    if (!this.has(path)) this.resolved.clear();
    this.workspace.set(path, { path, languageId, text, analysis: null });
    return true;
  }

  removeFile(path: string): void {
    this.workspace.delete(path);
    if (!this.open.has(path)) this.resolved.clear();
  }

  /** Parses every not-yet-analysed workspace file, in slices, until done or aborted. */
  async indexPending(signal?: AbortSignal): Promise<number> {
    let n = 0;
    for (const f of this.workspace.values()) {
      if (signal?.aborted) break;
      if (f.analysis || f.text === null) continue;
      await this.analyzeWorkspaceFile(f, signal);
      n++;
    }
    return n;
  }

  /** Makes sure the document and the files it imports (two levels deep) are analysed. */
  async prepare(doc: DocumentAnalysis, signal?: AbortSignal): Promise<void> {
    await doc.getTree({ signal });
    const seen = new Set<string>();
    let frontier: FileAnalysis[] = [];
    const a = this.analysisOf(doc);
    if (a) frontier.push(a);
    for (let depth = 0; depth < 2 && frontier.length > 0; depth++) {
      const next: FileAnalysis[] = [];
      for (const fa of frontier) {
        for (const spec of importSpecs(fa)) {
          const path = this.resolvePath(fa.path, spec, fa.lang);
          if (!path || seen.has(path)) continue;
          seen.add(path);
          const wf = this.workspace.get(path);
          if (wf && !wf.analysis) await this.analyzeWorkspaceFile(wf, signal);
          const target = this.file(path);
          if (target) next.push(target);
          if (signal?.aborted) return;
        }
      }
      frontier = next;
    }
  }

  /** The analysis of an open document's current tree (null if skipped, not yet parsed, or unsupported). */
  analysisOf(doc: DocumentAnalysis): FileAnalysis | null {
    return doc.cached('symbols', () => {
      const tree = doc.currentTree();
      return tree ? analyzeTree(doc.path, doc.grammar, tree) : null;
    });
  }

  legalMembers(doc: DocumentAnalysis, offset: number, receiverText: string): Set<string> | null {
    return this.legalMembersIn(this.analysisOf(doc), doc.text, offset, receiverText);
  }

  /** legalMembers on a snapshot (an analysis and the text it was made from), unaffected by later edits. */
  legalMembersIn(fa: FileAnalysis | null, text: string, offset: number, receiverText: string): Set<string> | null {
    if (!fa) return null;
    const chain = parseReceiver(receiverText, fa.lang);
    if (!chain) return null;
    if (fa.lang === 'python' && chain[0] === 'super') return null;
    if (narrowed(text, chain[0], fa.lang)) return null;
    const set = this.resolver.membersOfChain(fa, offset, chain);
    return set && set.size > 0 ? set : null;
  }

  namesInScope(doc: DocumentAnalysis, offset: number): Set<string> | null {
    return this.namesInScopeIn(this.analysisOf(doc), offset);
  }

  /** namesInScope on a snapshot analysis. */
  namesInScopeIn(fa: FileAnalysis | null, offset: number): Set<string> | null {
    if (!fa || fa.lang === 'c' || fa.moduleDynamic) return null;
    // The identifier being typed at the cursor is allowed to be unexplained; anything else means
    // this file uses names our model cannot see (star imports, injected globals, exec…).
    if (fa.unexplained.some((u) => !(u.start <= offset && offset <= u.end))) return null;
    const names = namesVisible(scopeAt(fa.root, offset));
    const extra = fa.lang === 'python' ? [PY_BUILTINS, PY_KEYWORDS] : [JS_GLOBALS, JS_KEYWORDS];
    for (const set of extra) for (const n of set) names.add(n);
    for (const n of [...names]) if (n.startsWith('\0')) names.delete(n);
    return names;
  }

  // ModuleLookup

  file(path: string): FileAnalysis | null {
    const doc = this.open.get(path);
    if (doc) return this.analysisOf(doc);
    return this.workspace.get(path)?.analysis ?? null;
  }

  resolveModule(fromPath: string, spec: string, lang: AnalysisLang): FileAnalysis | null {
    const p = this.resolvePath(fromPath, spec, lang);
    return p ? this.file(p) : null;
  }

  submodules(file: FileAnalysis): string[] {
    if (!file.path.endsWith('/__init__.py')) return [];
    const dir = file.path.slice(0, -'/__init__.py'.length);
    const out: string[] = [];
    for (const p of this.knownPaths()) {
      if (!p.startsWith(dir + '/')) continue;
      const m = /^([A-Za-z_]\w*)(?:\.py|\/__init__\.py)$/.exec(p.slice(dir.length + 1));
      if (m) out.push(m[1]);
    }
    return out;
  }

  dispose(): void {
    this.workspace.clear();
    this.open.clear();
    this.resolved.clear();
  }

  private *knownPaths(): Iterable<string> {
    yield* this.open.keys();
    for (const p of this.workspace.keys()) if (!this.open.has(p)) yield p;
  }

  private has(path: string): boolean {
    return this.open.has(path) || this.workspace.has(path);
  }

  /**
   * Module path resolutions by (importer, spec, language); cleared whenever the set of known
   * paths changes. An absolute Python import scans every known path, and the monitors resolve
   * the same imports for every request.
   */
  private readonly resolved = new Map<string, string | null>();

  private resolvePath(fromPath: string, spec: string, lang: AnalysisLang): string | null {
    const key = `${lang}\u0000${fromPath}\u0000${spec}`;
    const hit = this.resolved.get(key);
    if (hit !== undefined) return hit;
    const p = lang === 'python' ? this.resolvePython(fromPath, spec) : lang === 'ecmascript' ? this.resolveEcma(fromPath, spec) : null;
    this.resolved.set(key, p);
    return p;
  }

  private resolvePython(fromPath: string, spec: string): string | null {
    const dots = /^\.*/.exec(spec)?.[0].length ?? 0;
    const rest = spec.slice(dots).split('.').filter(Boolean);
    const candidates = (base: string): string[] => {
      const stem = rest.length ? `${base}${base ? '/' : ''}${rest.join('/')}` : base;
      return rest.length ? [`${stem}.py`, `${stem}.pyi`, `${stem}/__init__.py`] : [`${stem}/__init__.py`];
    };
    if (dots > 0) {
      let dir = dirnameOf(fromPath);
      for (let i = 1; i < dots; i++) dir = dirnameOf(dir);
      return candidates(dir).find((c) => this.has(c)) ?? null;
    }
    // Absolute: any known file whose path ends with the module path; nearest to the importer wins.
    const tails = candidates('');
    let best: string | null = null;
    let bestScore = -1;
    for (const p of this.knownPaths()) {
      for (const tail of tails) {
        // `import logging` inside package `pkg` is the top-level module, never `pkg/logging.py`.
        const dir = p === tail ? '' : p.slice(0, p.length - tail.length - 1);
        if ((p === tail || p.endsWith('/' + tail)) && !(dir !== '' && this.has(`${dir}/__init__.py`))) {
          const score = commonPrefix(p, fromPath);
          if (score > bestScore) {
            best = p;
            bestScore = score;
          }
        }
      }
    }
    return best;
  }

  private resolveEcma(fromPath: string, spec: string): string | null {
    if (!spec.startsWith('.')) return null;
    const base = joinPath(dirnameOf(fromPath), spec);
    const stripped = base.replace(/\.(m|c)?js$/, '');
    const exts = ['.ts', '.tsx', '.d.ts', '.js', '.jsx', '.mjs', '.cjs'];
    const candidates = [base, ...exts.map((e) => stripped + e), ...exts.map((e) => `${base}/index${e}`)];
    return candidates.find((c) => this.has(c)) ?? null;
  }

  private async analyzeWorkspaceFile(f: WorkspaceFile, signal?: AbortSignal): Promise<void> {
    if (f.text === null) return;
    const doc = await DocumentAnalysis.open(f.path, f.text, f.languageId, this.maxChars);
    if (!doc) return;
    try {
      const tree = await doc.getTree({ signal });
      if (tree) {
        f.analysis = analyzeTree(f.path, doc.grammar, tree);
        // The analysis replaces the text: keep memory bounded by what the monitors need.
        f.text = null;
      }
    } finally {
      doc.dispose();
    }
  }
}

/**
 * The receiver's type may be narrowed somewhere (`x instanceof Sub`, `isinstance(x, Sub)`, a
 * `hasattr` / `in` probe, a cast): its declared type then under-states its members. We do not
 * follow control flow, so any such test on the name makes it unknown.
 */
function narrowed(text: string, name: string, lang: AnalysisLang): boolean {
  const n = name.replace(/\$/g, '\\$');
  if (lang === 'python') return new RegExp(`(isinstance|hasattr|getattr|cast)\\(\\s*${n}\\b|\\b${n}\\.__class__`).test(text);
  if (lang === 'ecmascript') return new RegExp(`(?<![\\w$.])${n}\\s+(instanceof|as)\\b|\\bin\\s+${n}(?![\\w$])`).test(text);
  return false;
}

function importSpecs(fa: FileAnalysis): string[] {
  const out = new Set<string>();
  const walk = (s: FileAnalysis['root']): void => {
    for (const bs of s.names.values()) {
      for (const b of bs) {
        if (b.kind !== 'import') continue;
        out.add(b.module);
        if (fa.lang === 'python' && b.imported) out.add(b.module.endsWith('.') ? b.module + b.imported : `${b.module}.${b.imported}`);
      }
    }
    for (const c of s.children) walk(c);
  };
  walk(fa.root);
  return [...out];
}

function dirnameOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i <= 0 ? '' : p.slice(0, i);
}

/** Joins a relative specifier onto a directory, resolving `.` and `..` (works for paths and URI strings). */
function joinPath(dir: string, rel: string): string {
  const parts = dir ? dir.split('/') : [];
  for (const seg of rel.split('/')) {
    if (seg === '.' || seg === '') continue;
    if (seg === '..') parts.pop();
    else parts.push(seg);
  }
  return parts.join('/');
}

function commonPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/**
 * Owns one DocumentAnalysis per open document (and so every tree and parser) plus the symbol
 * index. The completion service mirrors its open/edit/close calls here.
 */
export class WorkspaceAnalysis {
  readonly index: SymbolIndex;
  private readonly docs = new Map<string, DocumentAnalysis>();
  private readonly pending = new Map<string, Promise<DocumentAnalysis | null>>();

  constructor(limits: IndexLimits = {}) {
    this.index = new SymbolIndex(limits);
    this.maxChars = limits.maxChars ?? DEFAULT_MAX_CHARS;
  }

  private readonly maxChars: number;

  /** Opens (or reopens with new text) a document; resolves to null when no grammar is shipped for it. */
  async open(path: string, text: string, languageId = languageIdForPath(path)): Promise<DocumentAnalysis | null> {
    if (!languageId) return null;
    this.close(path);
    const p = DocumentAnalysis.open(path, text, languageId, this.maxChars);
    this.pending.set(path, p);
    const doc = await p;
    // Closed or reopened while the grammar loaded: this one is not wanted any more.
    if (this.pending.get(path) !== p) {
      doc?.dispose();
      return this.docs.get(path) ?? null;
    }
    this.pending.delete(path);
    if (doc) {
      this.docs.set(path, doc);
      this.index.attach(doc);
    }
    return doc;
  }

  get(path: string): DocumentAnalysis | undefined {
    return this.docs.get(path);
  }

  edit(path: string, edits: DocumentEdit[]): void {
    this.docs.get(path)?.edit(edits);
  }

  close(path: string): void {
    this.pending.delete(path);
    const doc = this.docs.get(path);
    if (!doc) return;
    this.index.detach(path);
    doc.dispose();
    this.docs.delete(path);
  }

  dispose(): void {
    for (const p of [...this.docs.keys()]) this.close(p);
    this.pending.clear();
    this.index.dispose();
  }
}
