// One open document's syntax tree, kept current incrementally: each text edit is applied to the
// old tree (tree.edit) and the next parse reuses it. Parsing is lazy (only when someone asks
// for the tree) and time-sliced: web-tree-sitter resumes a parse that a progress callback
// stopped, so a long parse runs in slices with the event loop free in between, and an abort
// throws the partial work away. Documents over `maxChars` are not analysed at all.
//
// Offsets are UTF-16 code units, like JavaScript strings and VS Code; web-tree-sitter parses a
// JS string in the same units, so node.startIndex can be compared with string offsets directly.

import { Edit, Parser, type Language, type Point, type Tree } from 'web-tree-sitter';
import type { DocumentEdit } from '../completion/types';
import { grammarForLanguageId, loadGrammar } from './grammars';

/** Default size limit: a 1 MB file takes ~2 s of single-core parsing, beyond what a keystroke may cost. */
export const DEFAULT_MAX_CHARS = 1_000_000;

/** A replacement of [start, end) (offsets into the text before this edit) by `text`. */
export interface OffsetEdit {
  start: number;
  end: number;
  text: string;
}

export interface ParseBudget {
  /** Milliseconds of parsing per slice before yielding to the event loop (default 8). */
  sliceMs?: number;
  signal?: AbortSignal;
}

/** Row/column of a UTF-16 offset, as tree-sitter's Point. */
export function pointAt(text: string, offset: number): Point {
  let row = 0;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    row++;
    lineStart = i + 1;
  }
  return { row, column: offset - lineStart };
}

/** The point reached after writing `inserted` starting at `start`. */
function pointAfter(start: Point, inserted: string): Point {
  const lastNl = inserted.lastIndexOf('\n');
  if (lastNl === -1) return { row: start.row, column: start.column + inserted.length };
  let rows = 0;
  for (let i = inserted.indexOf('\n'); i !== -1; i = inserted.indexOf('\n', i + 1)) rows++;
  return { row: start.row + rows, column: inserted.length - lastNl - 1 };
}

/** UTF-16 offset of a (line, column) position; columns past the line end clamp to it. */
export function offsetAt(text: string, line: number, col: number): number {
  let offset = 0;
  for (let l = 0; l < line; l++) {
    const nl = text.indexOf('\n', offset);
    if (nl === -1) return text.length;
    offset = nl + 1;
  }
  const nl = text.indexOf('\n', offset);
  const lineEnd = nl === -1 ? text.length : nl;
  return Math.min(offset + col, lineEnd);
}

export class DocumentAnalysis {
  private parser: Parser | null;
  private tree: Tree | null = null;
  /** True when `tree` was edited (tree.edit) but not yet reparsed against the current text. */
  private stale = true;
  private textValue: string;
  private versionValue = 0;
  private parsing: Promise<Tree | null> | null = null;
  /** Caches that depend on one tree version (symbol tables, scope tables); cleared on edit. */
  private readonly derived = new Map<string, unknown>();
  /** Set when the document exceeds the size limit: no tree, every query answers "unknown". */
  skippedReason: string | undefined;

  private constructor(
    readonly path: string,
    readonly languageId: string,
    readonly grammar: string,
    language: Language,
    text: string,
    private readonly maxChars: number,
  ) {
    this.parser = new Parser();
    this.parser.setLanguage(language);
    this.textValue = text;
    this.checkSize();
  }

  /** Null when no grammar is shipped for the language. */
  static async open(path: string, text: string, languageId: string, maxChars = DEFAULT_MAX_CHARS): Promise<DocumentAnalysis | null> {
    const g = grammarForLanguageId(languageId);
    if (!g) return null;
    const language = await loadGrammar(g.name);
    return new DocumentAnalysis(path, languageId, g.name, language, text, maxChars);
  }

  get text(): string {
    return this.textValue;
  }

  /** Bumped on every edit; derived caches are keyed by it. */
  get version(): number {
    return this.versionValue;
  }

  /** Applies edits in order, each in the coordinates of the text left by the previous ones (as VS Code reports content changes). */
  edit(edits: DocumentEdit[]): void {
    for (const e of edits) {
      const start = offsetAt(this.textValue, e.start[0], e.start[1]);
      const end = offsetAt(this.textValue, e.end[0], e.end[1]);
      this.editOffsets([{ start, end, text: e.text }]);
    }
  }

  editOffsets(edits: OffsetEdit[]): void {
    for (const e of edits) {
      const startPosition = pointAt(this.textValue, e.start);
      const oldEndPosition = pointAt(this.textValue, e.end);
      this.textValue = this.textValue.slice(0, e.start) + e.text + this.textValue.slice(e.end);
      if (this.tree) {
        this.tree.edit(
          new Edit({
            startIndex: e.start,
            oldEndIndex: e.end,
            newEndIndex: e.start + e.text.length,
            startPosition,
            oldEndPosition,
            newEndPosition: pointAfter(startPosition, e.text),
          }),
        );
      }
    }
    this.versionValue++;
    this.stale = true;
    this.derived.clear();
    this.checkSize();
  }

  /** Replaces the whole text (the old tree is dropped: a diff-free reset). */
  setText(text: string): void {
    this.textValue = text;
    this.tree?.delete();
    this.tree = null;
    this.versionValue++;
    this.stale = true;
    this.derived.clear();
    this.checkSize();
  }

  /**
   * The tree for the current text, parsing (incrementally, in slices) if edits are pending.
   * Null when the document is skipped or the parse was aborted. Concurrent callers share one parse.
   */
  async getTree(budget: ParseBudget = {}): Promise<Tree | null> {
    if (this.skippedReason || !this.parser) return null;
    if (!this.stale && this.tree) return this.tree;
    if (!this.parsing) {
      this.parsing = this.parseSliced(budget).finally(() => {
        this.parsing = null;
      });
    }
    return this.parsing;
  }

  /** The tree if it is current, without parsing; null otherwise. For callers on a hot path. */
  currentTree(): Tree | null {
    return this.stale ? null : this.tree;
  }

  /** Parses synchronously in one go (tests, benchmarks, or small documents). */
  parseNow(): Tree | null {
    if (this.skippedReason || !this.parser) return null;
    if (!this.stale && this.tree) return this.tree;
    this.parser.reset();
    const next = this.parser.parse(this.textValue, this.tree);
    this.adopt(next);
    return this.tree;
  }

  /** Memoises a value computed from the current tree version. */
  cached<T>(key: string, compute: () => T): T {
    if (this.derived.has(key)) return this.derived.get(key) as T;
    const v = compute();
    this.derived.set(key, v);
    return v;
  }

  dispose(): void {
    this.tree?.delete();
    this.tree = null;
    this.parser?.delete();
    this.parser = null;
    this.derived.clear();
  }

  private async parseSliced(budget: ParseBudget): Promise<Tree | null> {
    const sliceMs = budget.sliceMs ?? 8;
    const version = this.versionValue;
    const text = this.textValue;
    const parser = this.parser;
    if (!parser) return null;
    parser.reset();
    for (;;) {
      if (budget.signal?.aborted || version !== this.versionValue) {
        parser.reset();
        if (version !== this.versionValue && !budget.signal?.aborted) return this.getTreeAfterRace(budget);
        return null;
      }
      const deadline = performance.now() + sliceMs;
      // Returning true from the progress callback suspends the parse; the next parse() call
      // with the same text resumes it where it stopped.
      const next = parser.parse(text, this.tree, { progressCallback: () => performance.now() > deadline });
      if (next) {
        if (version !== this.versionValue) {
          next.delete();
          continue;
        }
        this.adopt(next);
        return this.tree;
      }
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** The text changed while a sliced parse was suspended: start over on the new text. */
  private getTreeAfterRace(budget: ParseBudget): Promise<Tree | null> {
    return this.parseSliced(budget);
  }

  private adopt(next: Tree | null): void {
    if (!next) return;
    this.tree?.delete();
    this.tree = next;
    this.stale = false;
  }

  private checkSize(): void {
    if (this.textValue.length > this.maxChars) {
      this.skippedReason = `document has ${this.textValue.length} characters (limit ${this.maxChars})`;
      this.tree?.delete();
      this.tree = null;
    } else {
      this.skippedReason = undefined;
    }
  }
}
