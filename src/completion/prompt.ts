// The fill-in-the-middle prompt, in the layout the default model is trained on:
//
//   <|file_sep|>{path}\n<|fim_prefix|>{before}<|fim_suffix|>{after}<|fim_middle|>
//
// Control tokens are inserted as ids; the three text parts are tokenized separately as plain
// text (so a file that contains "<|fim_prefix|>" cannot forge a marker).
//
// When the document does not fit the context, the prompt covers a window of whole lines around
// the cursor, more before than after. The window is sticky: a request reuses the previous
// window while it still fits, because moving its first line changes the first prompt tokens
// and throws the whole KV cache away. A new window leaves slack before the cursor so that
// typing does not move it again at once.

import type { TokenizerLike } from '../engine/types';
import { LineIndex } from './documentText';

export const FIM_FILE_SEP = '<|file_sep|>';
export const FIM_PREFIX = '<|fim_prefix|>';
export const FIM_SUFFIX = '<|fim_suffix|>';
export const FIM_MIDDLE = '<|fim_middle|>';

export interface FimTokenIds {
  fileSep: number;
  prefix: number;
  suffix: number;
  middle: number;
}

/** The FIM control ids of a tokenizer; throws naming the tokens it lacks. */
export function fimTokenIds(tokenizer: Pick<TokenizerLike, 'specialId'>): FimTokenIds {
  const names = [FIM_FILE_SEP, FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE];
  const ids = names.map((n) => tokenizer.specialId(n));
  const missing = names.filter((_, i) => ids[i] === undefined);
  if (missing.length > 0) throw new Error(`the model's tokenizer has no ${missing.join(', ')}: it is not a fill-in-the-middle model`);
  const [fileSep, prefix, suffix, middle] = ids as number[];
  return { fileSep, prefix, suffix, middle };
}

/** Lines [startLine, endLine) of the document the prompt covers; the cursor line is always inside. */
export interface PromptWindow {
  startLine: number;
  /** Exclusive; lineCount = to the end of the document. */
  endLine: number;
}

export interface PromptBudget {
  /** Prompt + generated tokens must fit in this many (the `slipstream.maxContextTokens` setting). Default 2048. */
  maxContextTokens: number;
  /** Room kept for generation, in tokens (the request's maxTokens). Default 64. */
  reserveTokens: number;
  /** Share of the text budget for the text before the cursor. Default 0.75. */
  beforeShare: number;
  /** A new window fills at most this share of the before-cursor budget, leaving room for typing. Default 0.875. */
  beforeFill: number;
}

export const DEFAULT_PROMPT_BUDGET: Readonly<PromptBudget> = {
  maxContextTokens: 2048,
  reserveTokens: 64,
  beforeShare: 0.75,
  beforeFill: 0.875,
};

export interface PromptInput {
  /** Shown after <|file_sep|>: a relative path or a basename (see promptPath). */
  path: string;
  text: string;
  /** UTF-16 offset of the cursor in `text`. */
  cursor: number;
}

export interface FimPrompt {
  tokens: number[];
  /** Token indices of the control tokens (fileSep is 0). */
  markers: { fileSep: number; prefix: number; suffix: number; middle: number };
  /** The document text the prompt covers: before = text[start, cursor), after = text[cursor, end). */
  before: string;
  after: string;
  /** UTF-16 offsets of the covered range in the document. */
  start: number;
  end: number;
  window: PromptWindow;
  /** True when the prompt does not cover the whole document. */
  truncated: boolean;
}

/** Control tokens in a prompt: file_sep, prefix, suffix, middle. */
const CONTROL_TOKENS = 4;

/** Above this many characters per token of budget, a text is taken not to fit without tokenizing it. */
const MAX_CHARS_PER_TOKEN = 8;

/**
 * What the prompt shows as the file's path: relative paths as given (with '/'), absolute paths
 * and URIs by their last segment.
 */
export function promptPath(path: string): string {
  const uri = /^[a-zA-Z][a-zA-Z0-9+.-]+:\/\//.test(path) || /^untitled:/.test(path);
  const p = path.replace(/\\/g, '/');
  const absolute = uri || p.startsWith('/') || /^[a-zA-Z]:\//.test(p);
  if (!absolute) return p.replace(/^\.\//, '');
  const last = p.replace(/[?#].*$/, '').split('/').filter((s) => s !== '').pop() ?? p;
  try {
    return uri ? decodeURIComponent(last.replace(/^untitled:/, '')) : last;
  } catch {
    return last;
  }
}

export function buildFimPrompt(
  input: PromptInput,
  tokenizer: Pick<TokenizerLike, 'encode' | 'decode' | 'specialId'>,
  budget: PromptBudget = DEFAULT_PROMPT_BUDGET,
  previous?: PromptWindow,
  lines: LineIndex = new LineIndex(input.text),
): FimPrompt {
  const ids = fimTokenIds(tokenizer);
  const header = tokenizer.encode(`${input.path}\n`);
  const available = Math.max(1, budget.maxContextTokens - budget.reserveTokens - CONTROL_TOKENS - header.length);
  const { text } = input;
  const cursor = Math.min(Math.max(0, input.cursor), text.length);
  const cursorLine = lines.positionAt(cursor)[0];
  const encode = (s: string) => tokenizer.encode(s);
  const decode = (t: number[]) => tokenizer.decode(t);

  const pick = choosePart(text, cursor, cursorLine, lines, available, budget, previous, encode, decode);
  const tokens = [ids.fileSep, ...header, ids.prefix, ...pick.beforeTokens, ids.suffix, ...pick.afterTokens, ids.middle];
  const prefixAt = 1 + header.length;
  const suffixAt = prefixAt + 1 + pick.beforeTokens.length;
  return {
    tokens,
    markers: { fileSep: 0, prefix: prefixAt, suffix: suffixAt, middle: suffixAt + 1 + pick.afterTokens.length },
    before: pick.before,
    after: pick.after,
    start: pick.start,
    end: pick.end,
    window: pick.window,
    truncated: pick.start > 0 || pick.end < text.length,
  };
}

interface Part {
  before: string;
  after: string;
  beforeTokens: number[];
  afterTokens: number[];
  start: number;
  end: number;
  window: PromptWindow;
}

function choosePart(
  text: string,
  cursor: number,
  cursorLine: number,
  lines: LineIndex,
  available: number,
  budget: PromptBudget,
  previous: PromptWindow | undefined,
  encode: (s: string) => number[],
  decode: (t: number[]) => string,
): Part {
  const lineStart = (l: number) => (l >= lines.lineCount ? text.length : lines.starts[l]);
  const tryWindow = (w: PromptWindow): Part | null => {
    const start = lineStart(w.startLine);
    const end = lineStart(w.endLine);
    const before = text.slice(start, cursor);
    const after = text.slice(cursor, end);
    // Code averages 3–5 characters per token; text over 8 per token of budget is not worth
    // tokenizing just to learn that it does not fit.
    if (before.length + after.length > available * MAX_CHARS_PER_TOKEN) return null;
    const beforeTokens = encode(before);
    const afterTokens = encode(after);
    if (beforeTokens.length + afterTokens.length > available) return null;
    return { before, after, beforeTokens, afterTokens, start, end, window: w };
  };

  const whole = tryWindow({ startLine: 0, endLine: lines.lineCount });
  if (whole) return whole;
  if (previous && previous.startLine <= cursorLine && cursorLine < previous.endLine) {
    const kept = tryWindow(previous);
    if (kept) return kept;
  }
  return newWindow(text, cursor, cursorLine, lines, available, budget, encode, decode, tryWindow);
}

/**
 * A fresh window: walk lines outward from the cursor, counting each line's tokens, until the
 * budget is spent; then check the exact token count of the chosen text and shrink if needed.
 */
function newWindow(
  text: string,
  cursor: number,
  cursorLine: number,
  lines: LineIndex,
  available: number,
  budget: PromptBudget,
  encode: (s: string) => number[],
  decode: (t: number[]) => string,
  tryWindow: (w: PromptWindow) => Part | null,
): Part {
  const lineText = (l: number) => text.slice(lines.starts[l], l + 1 < lines.lineCount ? lines.starts[l + 1] : text.length);
  const headBefore = encode(text.slice(lines.starts[cursorLine], cursor)).length;
  const cursorLineEnd = cursorLine + 1 < lines.lineCount ? lines.starts[cursorLine + 1] : text.length;
  const headAfter = encode(text.slice(cursor, cursorLineEnd)).length;
  const beforeTarget = Math.floor(available * budget.beforeShare);

  // After the cursor: up to its share, line by line.
  let endLine = cursorLine + 1;
  let afterUsed = headAfter;
  const growAfter = (limit: number) => {
    while (endLine < lines.lineCount) {
      const n = encode(lineText(endLine)).length;
      if (afterUsed + n > limit) break;
      afterUsed += n;
      endLine++;
    }
  };
  growAfter(available - beforeTarget);

  // Before the cursor: what is left, minus slack for typing.
  let startLine = cursorLine;
  let beforeUsed = headBefore;
  const beforeLimit = Math.floor((available - afterUsed) * budget.beforeFill);
  while (startLine > 0) {
    const n = encode(lineText(startLine - 1)).length;
    if (beforeUsed + n > beforeLimit) break;
    beforeUsed += n;
    startLine--;
  }
  // A short file head leaves budget unused: give it to the text after the cursor.
  if (startLine === 0) growAfter(available - beforeUsed);

  // Per-line counts can differ from the joined text's count by a token at a seam: verify, shrink.
  for (;;) {
    const part = tryWindow({ startLine, endLine });
    if (part) return part;
    if (startLine < cursorLine) startLine++;
    else if (endLine > cursorLine + 1) endLine--;
    else break;
  }
  return cutInsideLine(text, cursor, cursorLine, lines, available, budget, encode, decode);
}

/**
 * The cursor line alone does not fit (minified code): keep the tokens nearest the cursor. The
 * text parts are then token slices, so they decode to exactly what the model sees.
 */
function cutInsideLine(
  text: string,
  cursor: number,
  cursorLine: number,
  lines: LineIndex,
  available: number,
  budget: PromptBudget,
  encode: (s: string) => number[],
  decode: (t: number[]) => string,
): Part {
  const start = lines.starts[cursorLine];
  const end = cursorLine + 1 < lines.lineCount ? lines.starts[cursorLine + 1] : text.length;
  const allBefore = encode(text.slice(Math.max(start, cursor - available * MAX_CHARS_PER_TOKEN), cursor));
  const allAfter = encode(text.slice(cursor, Math.min(end, cursor + available * MAX_CHARS_PER_TOKEN)));
  const afterTokens = allAfter.slice(0, Math.max(0, Math.min(allAfter.length, available - Math.floor(available * budget.beforeShare))));
  const beforeTokens = allBefore.slice(Math.max(0, allBefore.length - (available - afterTokens.length)));
  // The first/last token may split a character; offsets are then off by that character.
  const before = decode(beforeTokens);
  const after = decode(afterTokens);
  return {
    before,
    after,
    beforeTokens,
    afterTokens,
    start: Math.max(start, cursor - before.length),
    end: Math.min(end, cursor + after.length),
    window: { startLine: cursorLine, endLine: cursorLine + 1 },
  };
}
