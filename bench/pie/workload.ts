// bench/pie's workload: held-out files, cuts of a given token size, a target line to predict, and
// edits like the PIE paper's tasks that lead to the real file.
//
// A sample starts from the POST-edit document = a real file with one non-trivial line's text
// removed after its indentation (the cursor after the indentation, as auto-indent leaves it after
// Enter: single-line infilling, the model's first generated line is compared with the text). The PRE-edit document is made from it by undoing edits: an insertion task's
// pre-edit text lacks 1–5 real lines (the edit types them back), a deletion task's has 1–5 lines
// copied from elsewhere in the file (the edit removes that paste), a multi-place task does 2–4
// such edits of 1–3 lines in one change (a rename, a multi-cursor edit, a format). So the line
// predicted after the edit is always real code in its real context.

import { existsSync } from 'node:fs';
import type { TokenizerLike } from '../../src/engine/types';
import type { TextEdit } from '../../src/completion/pie/segmentTokens';
import { readHeldoutDir, type HeldoutRecord } from '../heldout';

export type { HeldoutRecord };

export type Task = 'insertion' | 'deletion' | 'multi' | 'hard';

/** The held-out records, line ends normalised to \n; throws when there is no data. */
export function readHeldout(dir: string): HeldoutRecord[] {
  if (!existsSync(dir)) throw new Error(`no held-out data at ${dir}`);
  return readHeldoutDir(dir).map((r) => ({ ...r, text: r.text.replace(/\r\n?/g, '\n') }));
}

/** Offsets where each line starts; the last entry is the text length. */
export function lineStarts(text: string): number[] {
  const s = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) s.push(i + 1);
  if (s[s.length - 1] !== text.length) s.push(text.length);
  return s;
}

/** Index of the line holding offset o (starts from lineStarts). */
export function lineOf(starts: readonly number[], o: number): number {
  let a = 0;
  let b = starts.length - 1;
  while (a < b) {
    const m = (a + b + 1) >> 1;
    if (starts[m] <= o) a = m;
    else b = m - 1;
  }
  return a;
}

/** A contiguous run of whole lines of `text` whose tokens fit in `budget` and fill ≥ 85% of it (null when the file is too small). */
export function cutToTokens(tokenizer: TokenizerLike, text: string, budget: number, r: () => number): string | null {
  const starts = lineStarts(text);
  const lines = starts.length - 1;
  const total = tokenizer.encode(text).length;
  if (total < budget) return null;
  const guessLines = Math.ceil((lines * budget) / total);
  const first = Math.floor(r() * Math.max(1, lines - guessLines));
  let last = Math.min(lines, first + guessLines + 8);
  let cut = text.slice(starts[first], starts[last]);
  while (last > first + 1 && tokenizer.encode(cut).length > budget) {
    last = Math.max(first + 1, last - Math.max(1, Math.floor((last - first) / 64)));
    cut = text.slice(starts[first], starts[last]);
  }
  return tokenizer.encode(cut).length >= budget * 0.85 ? cut : null;
}

/**
 * The post-edit document: `text` with the target line's text after its indentation removed, the
 * cursor after the indentation — the editor's state after Enter at the end of the line before
 * (auto-indent), where next-line completion is asked for.
 */
export interface Post {
  text: string;
  cursor: number;
  /** The removed text: the line after its indentation, without its newline. */
  target: string;
  /** The line's indentation, kept in the document before the cursor. */
  indent: string;
  /** Line index of the cursor in the post-edit text. */
  line: number;
}

/**
 * A target line strictly inside [lo, hi) (offsets of `text`) with ≥ 3 non-blank characters that
 * `accept` takes (the bench bounds its length in tokens); null when there is none.
 */
export function pickTarget(text: string, lo: number, hi: number, r: () => number, accept: (line: string) => boolean): Post | null {
  const starts = lineStarts(text);
  const l0 = lineOf(starts, lo);
  const l1 = Math.max(l0 + 1, lineOf(starts, hi));
  const candidates: number[] = [];
  for (let l = l0 + 1; l < l1 - 1 && l < starts.length - 1; l++) {
    const line = text.slice(starts[l], starts[l + 1] - 1);
    if (line.trim().length >= 3 && accept(line)) candidates.push(l);
  }
  if (candidates.length === 0) return null;
  const k = candidates[Math.floor(r() * candidates.length)];
  const line = text.slice(starts[k], starts[k + 1] - 1);
  const indent = /^[ \t]*/.exec(line)?.[0] ?? '';
  const cursor = starts[k] + indent.length;
  return { text: text.slice(0, cursor) + text.slice(starts[k + 1] - 1), cursor, target: line.slice(indent.length), indent, line: k };
}

export interface EditSpec {
  task: Task;
  /** Number of places edited in one change, inclusive range. */
  places: [number, number];
  /** Lines per place, inclusive range. */
  lines: [number, number];
  kinds: 'ins' | 'del' | 'mixed';
}

export const TASK_SPECS: Record<Task, EditSpec> = {
  insertion: { task: 'insertion', places: [1, 1], lines: [1, 5], kinds: 'ins' },
  deletion: { task: 'deletion', places: [1, 1], lines: [1, 5], kinds: 'del' },
  multi: { task: 'multi', places: [2, 4], lines: [1, 3], kinds: 'mixed' },
  // The harder setting for 'conflict': many blocks typed back before the next prediction, so the
  // suffix keys are off by hundreds of positions without the rotation.
  hard: { task: 'hard', places: [5, 8], lines: [3, 8], kinds: 'ins' },
};

export interface EditCase {
  task: Task;
  pre: string;
  cursorPre: number;
  /** The change, as edits of the pre-edit text (ascending, non-overlapping). */
  edits: TextEdit[];
  post: Post;
}

const between = (r: () => number, [a, b]: [number, number]): number => a + Math.floor(r() * (b - a + 1));

/**
 * Undoes `spec`'s edits on the post-edit document: places inside lines [lo, hi) of it (line
 * indices of post.text; `region` narrows that to a share, e.g. [0, 0.5) = first half), never at
 * the cursor's own line start, separated by at least one untouched line. `source` gives the lines
 * a deletion task's paste is copied from. Null when the document offers no room.
 */
export function makeEdit(post: Post, source: string, lo: number, hi: number, spec: EditSpec, r: () => number, region: [number, number] = [0, 1]): EditCase | null {
  const ps = lineStarts(post.text);
  const ss = lineStarts(source);
  const lastLine = Math.min(hi, ps.length - 1);
  const r0 = lo + Math.floor(region[0] * (lastLine - lo));
  const r1 = lo + Math.floor(region[1] * (lastLine - lo));
  const places = between(r, spec.places);
  const ops: Array<{ at: number; insertLen: number; extra: string }> = [];
  const used: Array<[number, number]> = [];
  for (let tries = 0; ops.length < places && tries < 60 * places; tries++) {
    const kind = spec.kinds === 'mixed' ? (r() < 0.5 ? 'ins' : 'del') : spec.kinds;
    const n = between(r, spec.lines);
    const a = r0 + Math.floor(r() * Math.max(1, r1 - r0 - (kind === 'ins' ? n : 0)));
    const b = kind === 'ins' ? a + n : a;
    if (a < r0 || b > r1 || b > ps.length - 1 || a === post.line) continue;
    // An insertion block may end at the cursor (typing the lines above it back) but not contain it.
    if (kind === 'ins' && a < post.line && b > post.line) continue;
    if (used.some(([x, y]) => a <= y + 1 && b >= x - 1)) continue;
    if (kind === 'ins') {
      if (!post.text.slice(ps[a], ps[b]).trim()) continue;
      ops.push({ at: ps[a], insertLen: ps[b] - ps[a], extra: '' });
    } else {
      const from = Math.floor(r() * Math.max(1, ss.length - 1 - n));
      const extra = source.slice(ss[from], ss[Math.min(ss.length - 1, from + n)]);
      if (!extra.trim() || !extra.endsWith('\n')) continue;
      ops.push({ at: ps[a], insertLen: 0, extra });
    }
    used.push([a, b]);
  }
  if (ops.length < places) return null;
  ops.sort((x, y) => x.at - y.at);
  let pre = '';
  let last = 0;
  let cursorPre = -1;
  const edits: TextEdit[] = [];
  for (const op of ops) {
    if (cursorPre < 0 && post.cursor < op.at) cursorPre = pre.length + (post.cursor - last);
    pre += post.text.slice(last, op.at);
    if (op.insertLen > 0) {
      edits.push({ start: pre.length, end: pre.length, text: post.text.slice(op.at, op.at + op.insertLen) });
      last = op.at + op.insertLen;
    } else {
      edits.push({ start: pre.length, end: pre.length + op.extra.length, text: '' });
      pre += op.extra;
      last = op.at;
    }
  }
  if (cursorPre < 0) cursorPre = pre.length + (post.cursor - last);
  pre += post.text.slice(last);
  return { task: spec.task, pre, cursorPre, edits, post };
}
