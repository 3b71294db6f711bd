// Post-processing: small verb-named filters, each taking the completion and returning a (maybe
// shorter) one, composed in a list. '' means "show nothing"; later filters then see ''.

import { endOfFirstLine } from '../decoding/stopping';

export interface PostprocessContext {
  /** Text of the cursor line before the cursor. */
  linePrefix: string;
  /** Document text after the cursor (at least the rest of the line and a few lines more). */
  suffix: string;
  mode: 'line' | 'block';
}

export type CompletionFilter = (completion: string, ctx: PostprocessContext) => string;

/** Single-line mode keeps the first line with visible text (leading line breaks stay). */
export const keepFirstLine: CompletionFilter = (completion, ctx) =>
  ctx.mode === 'line' ? completion.slice(0, endOfFirstLine(completion)) : completion;

const OPEN_OF: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
const CLOSE_OF: Record<string, string> = { '(': ')', '[': ']', '{': '}' };

/**
 * Cuts the completion before a closer it should not emit: one that does not match the bracket
 * the completion itself opened last, or one that closes a bracket from before the cursor when
 * the suffix already starts with that closer (the editor cannot insert "a)" and skip the ")"
 * that is already there, so "a)" + ")" would end up doubled).
 */
export const trimToBalancedBrackets: CompletionFilter = (completion, ctx) => {
  const stack: string[] = [];
  const suffixClosers = leadingClosers(ctx.suffix);
  let outer = 0; // closers of brackets opened before the cursor, emitted so far
  let quote = '';
  for (let i = 0; i < completion.length; i++) {
    const c = completion[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote || c === '\n') quote = '';
      continue;
    }
    if (c === '"' || c === "'" || c === '`') quote = c;
    else if (c in CLOSE_OF) stack.push(c);
    else if (c in OPEN_OF) {
      if (stack.length > 0) {
        if (stack[stack.length - 1] !== OPEN_OF[c]) return completion.slice(0, i);
        stack.pop();
      } else {
        if (suffixClosers[outer] === c) return completion.slice(0, i);
        outer++;
      }
    }
  }
  return completion;
};

/** The run of closing brackets the suffix starts with (spaces and tabs between them skipped). */
function leadingClosers(suffix: string): string {
  let out = '';
  for (const c of suffix) {
    if (c === ' ' || c === '\t') continue;
    if (!(c in OPEN_OF)) break;
    out += c;
  }
  return out;
}

/**
 * Cuts the end of a one-line completion that repeats the start of the rest of the cursor line.
 * The editor inserts at the cursor, so `foo();` typed before a `;` that is already there would
 * leave `foo();;`, and `hello"` inside `"…"` a doubled quote. Cut: the whole rest of the line, or
 * an overlap without letters, digits or `_`/`$` (so a name that merely ends the way the suffix
 * starts stays); never a bracket (trimToBalancedBrackets knows which closers are the
 * completion's own), and a quote only when the completion has an odd number of it (it closes a
 * string opened before the cursor).
 */
export const trimLineSuffixOverlap: CompletionFilter = (completion, ctx) => {
  if (completion.includes('\n')) return completion;
  const nl = ctx.suffix.indexOf('\n');
  const rest = (nl < 0 ? ctx.suffix : ctx.suffix.slice(0, nl)).replace(/\s+$/, '');
  if (rest.trim() === '') return completion;
  const body = completion.replace(/\s+$/, '');
  for (let k = Math.min(rest.length, body.length); k > 0; k--) {
    const overlap = rest.slice(0, k);
    if (!body.endsWith(overlap) || /[()[\]{}]/.test(overlap)) continue;
    if (k < rest.length && /[\p{L}\p{N}_$]/u.test(overlap)) continue;
    // an even count of a quote in the completion: the overlap's quote closes the completion's own string
    const ownQuote = [...new Set(overlap.replace(/[^"'`]/g, ''))].some((q) => (body.split(q).length - 1) % 2 === 0);
    if (ownQuote) continue;
    return body.slice(0, body.length - k);
  }
  return completion;
};

/** Trailing spaces, tabs and blank lines add nothing but stray whitespace to the document. */
export const trimTrailingWhitespace: CompletionFilter = (completion) => completion.replace(/\s+$/, '');

/**
 * Drops a completion that only repeats what already follows the cursor (the rest of the line,
 * or the next lines), compared with whitespace runs collapsed.
 */
export const dropSuffixRepeat: CompletionFilter = (completion, ctx) => {
  const c = collapseWhitespace(completion);
  if (c === '') return completion;
  return collapseWhitespace(ctx.suffix).startsWith(c) ? '' : completion;
};

/** Nothing but whitespace is not worth showing. */
export const dropBlank: CompletionFilter = (completion) => (completion.trim() === '' ? '' : completion);

function collapseWhitespace(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

/** The default pipeline, in order. */
export const DEFAULT_FILTERS: readonly CompletionFilter[] = [
  keepFirstLine,
  trimToBalancedBrackets,
  trimLineSuffixOverlap,
  trimTrailingWhitespace,
  dropSuffixRepeat,
  dropBlank,
];

export function postprocess(completion: string, ctx: PostprocessContext, filters: readonly CompletionFilter[] = DEFAULT_FILTERS): string {
  let out = completion;
  for (const filter of filters) {
    if (out === '') break;
    out = filter(out, ctx);
  }
  return out;
}
