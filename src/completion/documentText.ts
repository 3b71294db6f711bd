// Document text in VS Code's coordinates: zero-based lines, UTF-16 columns, lines broken by
// \r\n, \n or a lone \r. Positions past the end of a line or of the document are clamped, as
// TextDocument.validatePosition does.

import type { DocumentEdit } from './types';

/** Line starts of a text: offsets (UTF-16) where each line begins; [0] is always 0. */
export class LineIndex {
  /** [lineCount] UTF-16 offset of each line's first character. */
  readonly starts: number[];

  /** `starts` when the caller already knows them (see edited()); otherwise they are scanned. */
  constructor(
    readonly text: string,
    starts?: number[],
  ) {
    if (starts) {
      this.starts = starts;
      return;
    }
    starts = [0];
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

  /**
   * The index of `next`, the text after one change of `sorted` edits (offsets into this index's
   * text, ascending, non-overlapping; from sortedOffsetEdits). Line starts outside the edited
   * ranges are shifted, not rescanned: whether offset p starts a line depends only on the
   * characters at p − 1 and p (a \n before it, or a \r before it not followed by \n), so only
   * offsets whose p − 1 or p falls in an edit's new text — [start, start + text.length] in new
   * coordinates — are looked at again. O(lines) number moves plus the inserted text, instead of
   * a scan of the whole document on every keystroke.
   */
  edited(next: string, sorted: readonly OffsetEdit[]): LineIndex {
    const old = this.starts;
    // Pass 1: per edit, the old starts it drops ([dropFrom, dropTo)) and the starts rescanned in its new text.
    const plan: Array<{ dropFrom: number; dropTo: number; found: number[]; delta: number }> = [];
    let k = 0;
    let delta = 0;
    let scanned = -1;
    let total = old.length;
    for (const e of sorted) {
      while (k < old.length && old[k] < e.start) k++;
      const dropFrom = k;
      while (k < old.length && old[k] <= e.end) k++;
      const from = e.start + delta;
      const to = from + e.text.length;
      const found: number[] = [];
      for (let p = Math.max(from, scanned + 1); p <= to; p++) if (startsLine(next, p)) found.push(p);
      scanned = to;
      delta += e.text.length - (e.end - e.start);
      plan.push({ dropFrom, dropTo: k, found, delta });
      total += found.length - (k - dropFrom);
    }
    // Pass 2: one write per start into an array of the final size (pushing 10⁵ numbers costs more).
    const out = new Array<number>(total);
    let w = 0;
    let r = 0;
    let shift = 0;
    for (const step of plan) {
      for (; r < step.dropFrom; r++) out[w++] = old[r] + shift;
      for (const p of step.found) out[w++] = p;
      r = step.dropTo;
      shift = step.delta;
    }
    for (; r < old.length; r++) out[w++] = old[r] + shift;
    return new LineIndex(next, out);
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
 * Offsets of one change's edits (all referring to the ORIGINAL text, as in one VS Code change
 * event), ascending; insertions at the same offset keep the order given. Throws RangeError on
 * overlapping ranges.
 */
export function sortedOffsetEdits(index: LineIndex, edits: readonly DocumentEdit[]): OffsetEdit[] {
  const resolved = toOffsetEdits(index, edits)
    .map((e, order) => ({ ...e, order }))
    .sort((a, b) => a.start - b.start || a.order - b.order);
  let at = 0;
  for (const e of resolved) {
    if (e.start < at) throw new RangeError(`overlapping edits at offset ${e.start}`);
    at = e.end;
  }
  return resolved.map(({ start, end, text }) => ({ start, end, text }));
}

/** The text after sorted, non-overlapping offset edits. */
function spliceText(text: string, sorted: readonly OffsetEdit[]): string {
  const parts: string[] = [];
  let at = 0;
  for (const e of sorted) {
    parts.push(text.slice(at, e.start), e.text);
    at = e.end;
  }
  parts.push(text.slice(at));
  return parts.join('');
}

/**
 * Applies one change made of several edits. Every range refers to the ORIGINAL text (as in one
 * VS Code change event) and ranges do not overlap; insertions at the same offset land in the
 * order given. Throws RangeError on overlapping ranges.
 */
export function applyEdits(text: string, edits: readonly DocumentEdit[], index: LineIndex = new LineIndex(text)): string {
  if (edits.length === 0) return text;
  return spliceText(text, sortedOffsetEdits(index, edits));
}

/** applyEdits, also returning the new text's line index (updated, not rebuilt) and the resolved offsets. */
export function applyChange(index: LineIndex, edits: readonly DocumentEdit[]): { text: string; index: LineIndex; offsets: OffsetEdit[] } {
  const offsets = sortedOffsetEdits(index, edits);
  const text = spliceText(index.text, offsets);
  return { text, index: index.edited(text, offsets), offsets };
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

/** Whether a line starts at offset p of `text` (0 < p ≤ length: after \n, or after a \r not followed by \n). */
function startsLine(text: string, p: number): boolean {
  if (p === 0) return true;
  const c = text.charCodeAt(p - 1);
  return c === 10 || (c === 13 && text.charCodeAt(p) !== 10);
}
