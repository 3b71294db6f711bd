// Incremental tokenization of one prompt segment (a contiguous slice of the document).
//
// Invariant kept (and fuzz-tested): after every update, `tokens` equals
// `tokenizer.encode(text)` exactly. It holds because we only re-tokenize windows whose
// two ends are *pre-token boundaries*: the start of the segment, its end, or the start of
// a line that has a non-whitespace character. For Qwen2/GPT-style split regexes, a
// whitespace run that contains newlines is matched up to its last newline, and a
// punctuation run swallows only the newlines right after it, so a non-blank line always
// starts a fresh pre-token; BPE never merges across pre-tokens. A window boundary must
// also be a token boundary in the cached tokens (checked), and text on both sides of it
// must be unchanged (the window is grown by one margin line each side).

import type { TokenizerLike } from '../../engine/types.js';

/** Char-level edit of a segment's text: replace [start, end) (old UTF-16 offsets) with `text`. */
export interface TextEdit {
  start: number;
  end: number;
  text: string;
}

/** Token-level edit in OLD token coordinates: replace tokens [start, end) with `tokens`. */
export interface TokenSplice {
  start: number;
  end: number;
  tokens: number[];
}

/** A window end: UTF-16 offset, UTF-8 byte offset and token index, all in the old text. */
interface Boundary {
  char: number;
  byte: number;
  token: number;
}

export class SegmentTokens {
  private textValue: string;
  private tokenIds: number[];
  /** [tokens + 1] UTF-8 byte offset of each token's start; last entry = total bytes. */
  private byteStarts: number[];

  constructor(
    private readonly tokenizer: TokenizerLike,
    text: string,
  ) {
    this.textValue = text;
    this.tokenIds = tokenizer.encode(text);
    this.byteStarts = this.computeByteStarts(this.tokenIds, 0);
  }

  get text(): string {
    return this.textValue;
  }

  get tokens(): readonly number[] {
    return this.tokenIds;
  }

  /**
   * Applies non-overlapping edits given against the current text (any order) and returns
   * the minimal token splices, ascending and non-overlapping, in the old token coordinates.
   */
  applyEdits(edits: readonly TextEdit[]): TokenSplice[] {
    if (edits.length === 0) return [];
    const old = this.textValue;
    const sorted = [...edits].sort((x, y) => x.start - y.start);
    for (let k = 0; k < sorted.length; k++) {
      const e = sorted[k];
      if (e.start < 0 || e.end > old.length || e.start > e.end) throw new Error(`edit [${e.start},${e.end}) outside segment of ${old.length} chars`);
      if (k > 0 && e.start < sorted[k - 1].end) throw new Error('overlapping edits');
    }
    // Windows on the OLD text, merged where they overlap or touch; each keeps its edits.
    const windows: Array<{ left: Boundary; right: Boundary; edits: TextEdit[] }> = [];
    for (const e of sorted) {
      const left = this.leftBoundary(e.start);
      const right = this.rightBoundary(e.end);
      const last = windows[windows.length - 1];
      if (last && left.char <= last.right.char) {
        if (right.char > last.right.char) last.right = right;
        last.edits.push(e);
      } else windows.push({ left, right, edits: [e] });
    }

    const splices: TokenSplice[] = [];
    const newTokens: number[] = [];
    const newStarts: number[] = [];
    const pieces: string[] = [];
    let oldToken = 0;
    let oldChar = 0;
    let byteShift = 0;
    for (const w of windows) {
      // Unchanged run before the window: same tokens, byte offsets shifted by earlier growth.
      for (let t = oldToken; t < w.left.token; t++) {
        newTokens.push(this.tokenIds[t]);
        newStarts.push(this.byteStarts[t] + byteShift);
      }
      pieces.push(old.slice(oldChar, w.left.char));
      let windowText = '';
      let cur = w.left.char;
      for (const e of w.edits) {
        windowText += old.slice(cur, e.start) + e.text;
        cur = e.end;
      }
      windowText += old.slice(cur, w.right.char);
      pieces.push(windowText);

      const windowTokens = windowText.length > 0 ? this.tokenizer.encode(windowText) : [];
      const windowStarts = this.computeByteStarts(windowTokens, w.left.byte + byteShift);
      for (let i = 0; i < windowTokens.length; i++) {
        newTokens.push(windowTokens[i]);
        newStarts.push(windowStarts[i]);
      }
      splices.push(trimSplice(this.tokenIds, w.left.token, w.right.token, windowTokens));
      byteShift = windowStarts[windowTokens.length] - this.byteStarts[w.right.token];
      oldToken = w.right.token;
      oldChar = w.right.char;
    }
    for (let t = oldToken; t <= this.tokenIds.length; t++) {
      if (t < this.tokenIds.length) newTokens.push(this.tokenIds[t]);
      newStarts.push(this.byteStarts[t] + byteShift);
    }
    pieces.push(old.slice(oldChar));
    this.textValue = pieces.join('');
    this.tokenIds = newTokens;
    this.byteStarts = newStarts;
    return splices.filter((s) => s.start !== s.end || s.tokens.length > 0);
  }

  /** A pre-token and token boundary at or before `offset` with one unchanged margin line. */
  private leftBoundary(offset: number): Boundary {
    const text = this.textValue;
    let pos = lineStart(text, offset);
    let margin = 1;
    for (;;) {
      if (pos === 0) return { char: 0, byte: 0, token: 0 };
      if (pos < offset && margin <= 0 && !isBlankLine(text, pos)) {
        const byte = utf8Length(text, 0, pos);
        const token = this.tokenAtByte(byte);
        if (token >= 0) return { char: pos, byte, token };
      }
      margin--;
      pos = lineStart(text, pos - 1);
    }
  }

  /** A pre-token and token boundary after `offset` with one unchanged margin line. */
  private rightBoundary(offset: number): Boundary {
    const text = this.textValue;
    let pos = nextLineStart(text, offset);
    let margin = 1;
    for (;;) {
      if (pos >= text.length) {
        const byte = this.byteStarts[this.byteStarts.length - 1];
        return { char: text.length, byte, token: this.tokenIds.length };
      }
      if (pos > offset && margin <= 0 && !isBlankLine(text, pos)) {
        const byte = utf8Length(text, 0, pos);
        const token = this.tokenAtByte(byte);
        if (token >= 0) return { char: pos, byte, token };
      }
      margin--;
      pos = nextLineStart(text, pos);
    }
  }

  /** Index of the token starting exactly at `byte`, or -1. */
  private tokenAtByte(byte: number): number {
    const s = this.byteStarts;
    let lo = 0;
    let hi = s.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (s[mid] === byte) return mid;
      if (s[mid] < byte) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  private computeByteStarts(tokens: readonly number[], origin: number): number[] {
    const out = new Array<number>(tokens.length + 1);
    let b = origin;
    for (let i = 0; i < tokens.length; i++) {
      out[i] = b;
      b += this.tokenizer.tokenBytes(tokens[i]).length;
    }
    out[tokens.length] = b;
    return out;
  }
}

/** Old tokens [start, end) become `next`; drop the common prefix and suffix. */
function trimSplice(old: readonly number[], start: number, end: number, next: number[]): TokenSplice {
  let p = 0;
  while (p < next.length && start + p < end && old[start + p] === next[p]) p++;
  let q = 0;
  while (q < next.length - p && end - q > start + p && old[end - 1 - q] === next[next.length - 1 - q]) q++;
  return { start: start + p, end: end - q, tokens: next.slice(p, next.length - q) };
}

function lineStart(text: string, offset: number): number {
  // lastIndexOf clamps a negative fromIndex to 0 and would find a '\n' at index 0.
  return offset <= 0 ? 0 : text.lastIndexOf('\n', offset - 1) + 1;
}

function nextLineStart(text: string, offset: number): number {
  const nl = text.indexOf('\n', offset);
  return nl < 0 ? text.length : nl + 1;
}

/** True when the line starting at `pos` has no non-whitespace character. */
function isBlankLine(text: string, pos: number): boolean {
  for (let i = pos; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) return true;
    if (c !== 32 && c !== 9 && c !== 13 && c !== 12 && c !== 11) return false;
  }
  return true;
}

/** UTF-8 byte length of text[from, to) (UTF-16 offsets; a lone surrogate counts 3 bytes as its U+FFFD replacement). */
export function utf8Length(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < to) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}
