// Document text in VS Code's coordinates: zero-based lines, UTF-16 columns, lines broken by
// \r\n, \n or a lone \r. Positions past the end of a line or of the document are clamped, as
// TextDocument.validatePosition does.

import type { DocumentEdit } from './types';

/** Line starts of a text: offsets (UTF-16) where each line begins; [0] is always 0. */
export class LineIndex {
  /** [lineCount] UTF-16 offset of each line's first character. */
  readonly starts: number[];

  constructor(readonly text: string) {
    const starts = [0];
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 10) starts.push(i + 1);
      else if (c === 13) {
        if (text.charCodeAt(i + 1) === 10) i++;
        starts.push(i + 1);
      }
    }
    this.starts = starts;
  }

  get lineCount(): number {
    return this.starts.length;
  }

  /** Offset where the line's content ends (before its line break). */
  lineEnd(line: number): number {
    if (line + 1 >= this.starts.length) return this.text.length;
    const next = this.starts[line + 1];
    return this.text.charCodeAt(next - 1) === 10 && this.text.charCodeAt(next - 2) === 13 ? next - 2 : next - 1;
  }

  /** UTF-16 offset of a (line, column) position, clamped into the document. */
  offsetAt(line: number, col: number): number {
    if (line < 0) return 0;
    if (line >= this.starts.length) return this.text.length;
    const start = this.starts[line];
    return start + Math.min(Math.max(0, col), this.lineEnd(line) - start);
  }

  /** Zero-based (line, column) of an offset. */
  positionAt(offset: number): [number, number] {
    const o = Math.min(Math.max(0, offset), this.text.length);
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid] <= o) lo = mid;
      else hi = mid - 1;
    }
    return [lo, Math.min(o, this.lineEnd(lo)) - this.starts[lo]];
  }
}

/** An edit resolved to UTF-16 offsets of the text it applies to. */
export interface OffsetEdit {
  start: number;
  end: number;
  text: string;
}

/** Offsets of edits that all refer to `index`'s text (start ≤ end after normalising). */
export function toOffsetEdits(index: LineIndex, edits: readonly DocumentEdit[]): OffsetEdit[] {
  return edits.map((e) => {
    const a = index.offsetAt(e.start[0], e.start[1]);
    const b = index.offsetAt(e.end[0], e.end[1]);
    return { start: Math.min(a, b), end: Math.max(a, b), text: e.text };
  });
}

/**
 * Applies one change made of several edits. Every range refers to the ORIGINAL text (as in one
 * VS Code change event) and ranges do not overlap; insertions at the same offset land in the
 * order given. Throws RangeError on overlapping ranges.
 */
export function applyEdits(text: string, edits: readonly DocumentEdit[], index: LineIndex = new LineIndex(text)): string {
  if (edits.length === 0) return text;
  const resolved = toOffsetEdits(index, edits)
    .map((e, order) => ({ ...e, order }))
    .sort((a, b) => a.start - b.start || a.order - b.order);
  const parts: string[] = [];
  let at = 0;
  for (const e of resolved) {
    if (e.start < at) throw new RangeError(`overlapping edits at offset ${e.start}`);
    parts.push(text.slice(at, e.start), e.text);
    at = e.end;
  }
  parts.push(text.slice(at));
  return parts.join('');
}

/** Number of line breaks (\r\n counted once) in a string. */
export function countLineBreaks(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 10) n++;
    else if (c === 13) {
      n++;
      if (s.charCodeAt(i + 1) === 10) i++;
    }
  }
  return n;
}
