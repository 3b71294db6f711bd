// The prompt of one document, kept token-exact across edits, in one of the two layouts the
// default model was trained on:
//
//   psm  [<|file_sep|> path "\n"] <|fim_prefix|> before <|fim_suffix|> after <|fim_middle|>
//   spm  [<|file_sep|> path "\n"] <|fim_prefix|> <|fim_suffix|> after <|fim_middle|> before
//
// where before = text[windowStart, cursor) and after = text[cursor + hidden, windowEnd). Text
// edits, cursor moves and window slides all become char edits of the two segments, which
// SegmentTokens turns into exact token updates; the caller diffs the flat token list
// against its KV cache (tokenDiff.ts) to get PIE splices.
//
// `hidden` (token healing, decoding/tokenHealing.ts) leaves the last few characters before the
// editor's cursor out of the prompt, so that the model writes them again as the start of a
// whole token: hiding them is an edit at the end of `before` (one token deleted), not a
// re-encode. The next edit or cursor move first puts them back.

import type { TokenizerLike } from '../../engine/types.js';
import { SegmentTokens, type TextEdit } from './segmentTokens.js';

export interface PromptMarkers {
  fileSep: number | undefined;
  fimPrefix: number;
  fimSuffix: number;
  fimMiddle: number;
}

export interface WindowPolicy {
  /** Most tokens of document text (before + after) the prompt may hold. */
  maxTokens: number;
  /** Share of the budget for text before the cursor when the document does not fit. */
  beforeShare: number;
  /** Re-centre once the cursor is closer than this share of the budget to a window edge. */
  edgeShare: number;
}

export const DEFAULT_WINDOW: WindowPolicy = { maxTokens: 1536, beforeShare: 0.7, edgeShare: 0.1 };

/** Order of the prompt's parts (see the file comment). */
export type { FimLayout } from '../../engine/types';
import type { FimLayout } from '../../engine/types';

/** Token index ranges of the flat prompt's parts. */
export interface PromptLayout {
  beforeStart: number;
  /** Just past the text before the cursor (psm: the <|fim_suffix|> marker; spm: the prompt's end). */
  beforeEnd: number;
  afterStart: number;
  afterEnd: number;
  length: number;
  /** Token indices of the three FIM markers. */
  markers: { prefix: number; suffix: number; middle: number };
}

export function markersOf(tokenizer: TokenizerLike): PromptMarkers {
  const need = (t: string): number => {
    const id = tokenizer.specialId(t);
    if (id === undefined) throw new Error(`the tokenizer has no ${t} token; fill-in-the-middle prompts need it`);
    return id;
  };
  return { fileSep: tokenizer.specialId('<|file_sep|>'), fimPrefix: need('<|fim_prefix|>'), fimSuffix: need('<|fim_suffix|>'), fimMiddle: need('<|fim_middle|>') };
}

export class DocumentPrompt {
  private doc: string;
  /** End of `before` (the editor's cursor minus the hidden characters). */
  private cursorOffset: number;
  /** Characters after `cursorOffset` that neither segment holds (token healing). */
  private hiddenChars = 0;
  private kind: FimLayout = 'psm';
  private windowStart = 0;
  private windowEnd: number;
  private readonly header: number[];
  private readonly before: SegmentTokens;
  private readonly after: SegmentTokens;

  constructor(
    private readonly tokenizer: TokenizerLike,
    private readonly markers: PromptMarkers,
    path: string,
    text: string,
    cursor: number,
    private readonly policy: WindowPolicy = DEFAULT_WINDOW,
  ) {
    this.doc = text;
    this.cursorOffset = clamp(cursor, 0, text.length);
    this.windowEnd = text.length;
    this.header = markers.fileSep === undefined || path === '' ? [] : [markers.fileSep, ...tokenizer.encode(`${path}\n`)];
    const [ws, we] = this.initialWindow();
    this.windowStart = ws;
    this.windowEnd = we;
    this.before = new SegmentTokens(tokenizer, text.slice(ws, this.cursorOffset));
    this.after = new SegmentTokens(tokenizer, text.slice(this.cursorOffset, we));
    this.fitBudget();
    const total = this.before.tokens.length + this.after.tokens.length;
    if ((ws > 0 || we < text.length) && total < UNDERFILL * policy.maxTokens) {
      // The first window was sized from a guessed ratio; use the measured one.
      this.recentre(this.cursorOffset);
      this.fitBudget();
    }
  }

  get text(): string {
    return this.doc;
  }

  /** Where `before` ends: the editor's cursor minus `hidden`. */
  get cursor(): number {
    return this.cursorOffset;
  }

  /** Characters between `cursor` and the start of `after` that the prompt leaves out. */
  get hidden(): number {
    return this.hiddenChars;
  }

  /** Where `after` starts: the editor's cursor. */
  get afterStart(): number {
    return this.cursorOffset + this.hiddenChars;
  }

  get fimLayout(): FimLayout {
    return this.kind;
  }

  /** Switches the part order; the segments stay as they are (the token diff then moves them). */
  setLayout(kind: FimLayout): void {
    this.kind = kind;
  }

  get window(): [number, number] {
    return [this.windowStart, this.windowEnd];
  }

  /** The whole prompt; generation continues after its last token (psm: <|fim_middle|>; spm: the text before the cursor). */
  tokens(): number[] {
    const { fimPrefix, fimSuffix, fimMiddle } = this.markers;
    if (this.kind === 'spm') return [...this.header, fimPrefix, fimSuffix, ...this.after.tokens, fimMiddle, ...this.before.tokens];
    return [...this.header, fimPrefix, ...this.before.tokens, fimSuffix, ...this.after.tokens, fimMiddle];
  }

  layout(): PromptLayout {
    const h = this.header.length;
    const b = this.before.tokens.length;
    const a = this.after.tokens.length;
    if (this.kind === 'spm') {
      const afterStart = h + 2;
      const afterEnd = afterStart + a;
      const beforeStart = afterEnd + 1;
      return { beforeStart, beforeEnd: beforeStart + b, afterStart, afterEnd, length: beforeStart + b, markers: { prefix: h, suffix: h + 1, middle: afterEnd } };
    }
    const beforeStart = h + 1;
    const beforeEnd = beforeStart + b;
    const afterStart = beforeEnd + 1;
    const afterEnd = afterStart + a;
    return { beforeStart, beforeEnd, afterStart, afterEnd, length: afterEnd + 1, markers: { prefix: h, suffix: beforeEnd, middle: afterEnd } };
  }

  /**
   * Applies non-overlapping document edits (offsets in the current text, any order). The
   * cursor follows the text like an editor's caret: text inserted at the cursor lands before it.
   * `next` is the document after the edits when the caller already built it (a DocumentSession
   * does): building it again is an O(document) copy per keystroke on a long file.
   */
  applyEdits(edits: readonly TextEdit[], next?: string): void {
    if (edits.length === 0) return;
    // Edits are in document offsets, which the hidden characters are part of.
    this.reveal();
    const sorted = [...edits].sort((x, y) => x.start - y.start);
    const ws = this.windowStart;
    const c = this.cursorOffset;
    const we = this.windowEnd;
    const beforeEdits: TextEdit[] = [];
    const afterEdits: TextEdit[] = [];
    for (const e of sorted) {
      // The caret follows typed text, so inserted text lands before the cursor whenever
      // the edit starts at or before it; edits straddling a window edge are repaired below.
      const textToBefore = e.start >= ws && e.start <= c;
      const textToAfter = e.start > c && e.start <= we;
      if (e.start <= c && e.end >= ws) {
        const s0 = Math.max(e.start, ws) - ws;
        const s1 = Math.min(e.end, c) - ws;
        if (s0 !== s1 || textToBefore) beforeEdits.push({ start: s0, end: s1, text: textToBefore ? e.text : '' });
      }
      if (e.end >= c && e.start <= we) {
        const s0 = Math.max(e.start, c) - c;
        const s1 = Math.min(e.end, we) - c;
        if (s0 !== s1 || textToAfter) afterEdits.push({ start: s0, end: s1, text: textToAfter ? e.text : '' });
      }
    }
    const grown = sorted.reduce((n, e) => n + e.text.length - (e.end - e.start), 0);
    if (next !== undefined && next.length !== this.doc.length + grown) throw new RangeError(`DocumentPrompt.applyEdits: the new text has ${next.length} characters, the edits make ${this.doc.length + grown}`);
    if (next === undefined) {
      next = this.doc;
      for (let k = sorted.length - 1; k >= 0; k--) next = next.slice(0, sorted[k].start) + sorted[k].text + next.slice(sorted[k].end);
    }
    const nws = mapOffset(ws, sorted, 'before');
    const nc = mapOffset(c, sorted, 'after');
    const nwe = we === this.doc.length ? next.length : mapOffset(we, sorted, 'after');
    this.before.applyEdits(beforeEdits);
    this.after.applyEdits(afterEdits);
    this.doc = next;
    this.windowStart = nws;
    this.cursorOffset = nc;
    this.windowEnd = nwe;
    // Edits that straddle the window edges can leave a segment that does not match the
    // document slice; repair with one whole-segment edit (rare: huge documents only).
    this.resyncSegment(this.before, nws, nc);
    this.resyncSegment(this.after, nc, nwe);
    this.fitBudget();
  }

  /**
   * Moves the cursor: the text between the old and new cursor changes segment. `hide` leaves
   * that many characters before the cursor out of the prompt (token healing; clamped to the
   * window): `before` then ends at offset - hide and `after` still starts at offset.
   */
  setCursor(offset: number, hide = 0): void {
    const c = clamp(offset, 0, this.doc.length);
    const h = clamp(Math.floor(hide), 0, c);
    if (c - h === this.cursorOffset && h === this.hiddenChars) return;
    this.reveal();
    this.moveCursor(c);
    if (h > 0) this.hide(h);
  }

  /** Puts the hidden characters back at the end of `before`. */
  private reveal(): void {
    if (this.hiddenChars === 0) return;
    const bLen = this.before.text.length;
    const c = this.cursorOffset;
    this.before.applyEdits([{ start: bLen, end: bLen, text: this.doc.slice(c, c + this.hiddenChars) }]);
    this.cursorOffset = c + this.hiddenChars;
    this.hiddenChars = 0;
  }

  /**
   * Drops the last `h` characters of `before` (never past the window start). The budget is not
   * re-checked: the prompt only got shorter, and the next move or edit reveals them first.
   */
  private hide(h: number): void {
    const k = Math.min(h, this.cursorOffset - this.windowStart);
    if (k <= 0) return;
    const bLen = this.before.text.length;
    this.before.applyEdits([{ start: bLen - k, end: bLen, text: '' }]);
    this.cursorOffset -= k;
    this.hiddenChars = k;
  }

  private moveCursor(c: number): void {
    if (c === this.cursorOffset) return;
    if (c < this.windowStart || c > this.windowEnd) {
      // The new window is sized from the old one's chars per token, which may not hold there.
      this.recentre(c);
      this.fitBudget();
      return;
    }
    const old = this.cursorOffset;
    const bLen = this.before.text.length;
    if (c > old) {
      this.before.applyEdits([{ start: bLen, end: bLen, text: this.doc.slice(old, c) }]);
      this.after.applyEdits([{ start: 0, end: c - old, text: '' }]);
    } else {
      this.before.applyEdits([{ start: bLen - (old - c), end: bLen, text: '' }]);
      this.after.applyEdits([{ start: 0, end: 0, text: this.doc.slice(c, old) }]);
    }
    this.cursorOffset = c;
    this.fitBudget();
  }

  private initialWindow(): [number, number] {
    const estimate = this.doc.length / CHARS_PER_TOKEN_GUESS;
    if (estimate <= this.policy.maxTokens * 2) return [0, this.doc.length];
    return this.windowAround(this.cursorOffset, CHARS_PER_TOKEN_GUESS);
  }

  /** Char window around `cursor` holding about the budget, snapped to line starts. */
  private windowAround(cursor: number, charsPerToken: number): [number, number] {
    const beforeChars = Math.floor(this.policy.maxTokens * this.policy.beforeShare * charsPerToken);
    const afterChars = Math.floor(this.policy.maxTokens * (1 - this.policy.beforeShare) * charsPerToken);
    let ws = Math.max(0, cursor - beforeChars);
    let we = Math.min(this.doc.length, cursor + afterChars);
    if (ws === 0) we = Math.min(this.doc.length, cursor + afterChars + (beforeChars - cursor));
    if (we === this.doc.length) ws = Math.max(0, cursor - beforeChars - (cursor + afterChars - this.doc.length));
    ws = Math.min(cursor, nonBlankLineStartAtOrAfter(this.doc, ws));
    we = Math.max(cursor, nonBlankLineStartAtOrAfter(this.doc, we));
    return [ws, we];
  }

  /** Slides the window to centre on `cursor` (segment edits at the window ends). */
  private recentre(cursor: number, refit = true): void {
    const ratio = this.charsPerToken();
    const [ws, we] = this.windowAround(cursor, ratio);
    const oldWs = this.windowStart;
    const oldWe = this.windowEnd;
    const old = this.cursorOffset;
    // Rebuild through edits so the token state stays incremental: overlapping windows
    // keep their common text; disjoint ones replace the segment text wholesale.
    const beforeText = this.doc.slice(ws, cursor);
    const afterText = this.doc.slice(cursor, we);
    if (ws === oldWs && cursor === old && we === oldWe) return;
    this.replaceSegment(this.before, beforeText);
    this.replaceSegment(this.after, afterText);
    this.windowStart = ws;
    this.windowEnd = we;
    this.cursorOffset = cursor;
    // A window sized from a guessed ratio can fill far less than the budget (indented code runs
    // 4+ chars per token): size it once more from the ratio measured on the window itself.
    const total = this.before.tokens.length + this.after.tokens.length;
    const partial = ws > 0 || we < this.doc.length;
    if (refit && partial && total < UNDERFILL * this.policy.maxTokens) this.recentre(cursor, false);
  }

  /** Keeps before + after within the budget and the cursor away from the window edges. */
  private fitBudget(): void {
    const total = this.before.tokens.length + this.after.tokens.length;
    const edge = this.policy.edgeShare * this.policy.maxTokens;
    const nearStart = this.windowStart > 0 && this.before.tokens.length < edge;
    const nearEnd = this.windowEnd < this.doc.length && this.after.tokens.length < edge;
    if (total <= this.policy.maxTokens && !nearStart && !nearEnd) return;
    this.recentre(this.cursorOffset);
    // The estimate can overshoot: drop whole lines from the far ends until it fits.
    for (let guard = 0; guard < 64 && this.before.tokens.length + this.after.tokens.length > this.policy.maxTokens; guard++) {
      const beforeOver = this.before.tokens.length > this.policy.maxTokens * this.policy.beforeShare;
      if (beforeOver || this.after.tokens.length === 0) this.trimBeforeStart();
      else this.trimAfterEnd();
    }
  }

  private trimBeforeStart(): void {
    const text = this.before.text;
    const cut = nonBlankLineStartAtOrAfter(text, Math.max(1, Math.floor(text.length / 8)));
    const k = Math.min(cut, text.length);
    this.before.applyEdits([{ start: 0, end: k, text: '' }]);
    this.windowStart += k;
  }

  private trimAfterEnd(): void {
    const text = this.after.text;
    const from = Math.floor((text.length * 7) / 8);
    const cut = nonBlankLineStartAtOrAfter(text, from);
    const k = cut >= text.length ? from : cut;
    this.after.applyEdits([{ start: k, end: text.length, text: '' }]);
    this.windowEnd = this.cursorOffset + k;
  }

  private charsPerToken(): number {
    const chars = this.before.text.length + this.after.text.length;
    const tokens = this.before.tokens.length + this.after.tokens.length;
    return tokens > 32 ? chars / tokens : CHARS_PER_TOKEN_GUESS;
  }

  private resyncSegment(seg: SegmentTokens, start: number, end: number): void {
    const want = this.doc.slice(start, end);
    if (seg.text !== want) this.replaceSegment(seg, want);
  }

  /** One edit covering the differing middle of the old and new segment text. */
  private replaceSegment(seg: SegmentTokens, text: string): void {
    const old = seg.text;
    if (old === text) return;
    let p = 0;
    const max = Math.min(old.length, text.length);
    while (p < max && old.charCodeAt(p) === text.charCodeAt(p)) p++;
    let q = 0;
    while (q < max - p && old.charCodeAt(old.length - 1 - q) === text.charCodeAt(text.length - 1 - q)) q++;
    seg.applyEdits([{ start: p, end: old.length - q, text: text.slice(p, text.length - q) }]);
  }
}

/** A partial window under this share of the budget is re-sized from its measured chars per token. */
const UNDERFILL = 0.85;

/** Rough code chars per BPE token, used only until the document gives a measured ratio. */
const CHARS_PER_TOKEN_GUESS = 3.2;

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}

/** Maps an offset of the old text through sorted edits; `bias` decides for offsets inside an edit. */
function mapOffset(x: number, sorted: readonly TextEdit[], bias: 'before' | 'after'): number {
  let shift = 0;
  for (const e of sorted) {
    if (e.end < x || (e.end === x && e.start < e.end)) shift += e.text.length - (e.end - e.start);
    else if (e.start <= x) return e.start + shift + (bias === 'after' ? e.text.length : 0);
    else break;
  }
  return x + shift;
}

/** Start of the first non-blank line at or after `offset` (or the text's end). */
function nonBlankLineStartAtOrAfter(text: string, offset: number): number {
  let pos = offset === 0 ? 0 : text.lastIndexOf('\n', offset - 1) + 1;
  if (pos < offset) pos = nextLine(text, pos);
  while (pos < text.length && isBlank(text, pos)) pos = nextLine(text, pos);
  return Math.min(pos, text.length);
}

function nextLine(text: string, pos: number): number {
  const nl = text.indexOf('\n', pos);
  return nl < 0 ? text.length : nl + 1;
}

function isBlank(text: string, pos: number): boolean {
  for (let i = pos; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 10) return true;
    if (ch !== 32 && ch !== 9 && ch !== 13) return false;
  }
  return true;
}
