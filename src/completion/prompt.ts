// The fill-in-the-middle prompt, in the layouts the default model is trained on:
//
//   psm  <|file_sep|>{path}\n<|fim_prefix|>{before}<|fim_suffix|>{after}<|fim_middle|>
//   spm  <|file_sep|>{path}\n<|fim_prefix|><|fim_suffix|>{after}<|fim_middle|>{before}
//
// Control tokens are inserted as ids; the three text parts are tokenized separately as plain
// text (so a file that contains "<|fim_prefix|>" cannot forge a marker).
//
// The prompt itself is kept incrementally per document by pie/documentPrompt.ts; this module
// holds the layout's names, the budget settings and how a path is shown.

import type { TokenizerLike } from '../engine/types';

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

/** One prompt as the cache holds it. */
export interface FimPrompt {
  tokens: number[];
  /** Token indices of the control tokens (fileSep is 0). */
  markers: { fileSep: number; prefix: number; suffix: number; middle: number };
  /** Token index just past the text before the cursor (psm: the <|fim_suffix|> marker; spm: the prompt's end). */
  beforeEnd: number;
  /**
   * The document text the prompt covers: before = text[start, cursor − hidden), after =
   * text[cursor, end) (hidden: characters left out for token healing, usually 0).
   */
  before: string;
  after: string;
  /** Characters of the document between `before` and `after` left out of the prompt (token healing). */
  hidden: number;
  /** UTF-16 offsets of the covered range in the document. */
  start: number;
  end: number;
  window: PromptWindow;
  /** True when the prompt does not cover the whole document. */
  truncated: boolean;
}

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
