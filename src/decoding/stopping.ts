// Stopping criteria: small units, each answering "stop here?" after every accepted token, and
// where to cut the text when it does. A token can carry more than the rule wants ("a)\n    b"),
// so a verdict names how many characters of the text to keep rather than which token to drop.

import type { BlockContext, GenerationConfig } from './generationConfig';
import { initialLexState, inCode, lexChar, type LexSyntax } from './monitors/lexer';

export type StopKind = 'eos' | 'stopToken' | 'stopString' | 'endOfLine' | 'endOfBlock' | 'suffixLine' | 'maxTokens';

/** What the criteria see after each accepted token. */
export interface GenerationProgress {
  /** Every generated token so far, the new one last. */
  readonly tokens: readonly number[];
  /**
   * Decoded text of those tokens, complete characters only (a character split across tokens
   * appears once its last byte arrives). End and control tokens contribute no text.
   */
  readonly text: string;
}

export interface StopVerdict {
  kind: StopKind;
  /** UTF-16 length of the prefix of `text` that is the completion. */
  keep: number;
}

/** One rule; null = keep going. */
export type StoppingCriterion = (progress: GenerationProgress) => StopVerdict | null;

/** Ends at a token that finishes the middle (<|endoftext|>, config eos). */
export function stopAtEos(ids: readonly number[]): StoppingCriterion {
  const set = new Set(ids);
  return ({ tokens, text }) => (set.has(tokens[tokens.length - 1]) ? { kind: 'eos', keep: text.length } : null);
}

/** Ends at a control token (<|file_sep|>, <|fim_*|>): the model left the middle. */
export function stopAtControlTokens(ids: readonly number[]): StoppingCriterion {
  const set = new Set(ids);
  return ({ tokens, text }) => (set.has(tokens[tokens.length - 1]) ? { kind: 'stopToken', keep: text.length } : null);
}

/** Ends before the first occurrence of any stop string. */
export function stopAtStrings(stops: readonly string[]): StoppingCriterion {
  const nonEmpty = stops.filter((s) => s.length > 0);
  return ({ text }) => {
    let keep = -1;
    for (const s of nonEmpty) {
      const i = text.indexOf(s);
      if (i >= 0 && (keep < 0 || i < keep)) keep = i;
    }
    return keep < 0 ? null : { kind: 'stopString', keep };
  };
}

/** Ends after `max` tokens. */
export function stopAtMaxTokens(max: number): StoppingCriterion {
  return ({ tokens, text }) => (tokens.length >= max ? { kind: 'maxTokens', keep: text.length } : null);
}

/**
 * Single-line mode: ends at the first newline that follows visible text. Newlines before any
 * visible text are kept, so at the end of a line the completion can be the next line.
 */
export function stopAtEndOfLine(): StoppingCriterion {
  return ({ text }) => {
    const keep = endOfFirstLine(text);
    return keep < text.length ? { kind: 'endOfLine', keep } : null;
  };
}

/** Index of the newline that ends the first line with visible text; text.length when there is none yet. */
export function endOfFirstLine(text: string): number {
  let seenVisible = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') {
      if (seenVisible) return i > 0 && text[i - 1] === '\r' ? i - 1 : i;
    } else if (c !== ' ' && c !== '\t' && c !== '\r') {
      seenVisible = true;
    }
  }
  return text.length;
}

/**
 * Multi-line mode: ends before a later line that leaves the cursor's block, i.e. a line whose
 * indentation falls below the cursor line's (or back to it, when the cursor line opens the
 * block), or a line that closes a bracket opened before the cursor. The first line continues
 * the cursor line, so neither rule applies to it (an unmatched closer there is the
 * post-processor's business: it knows whether the suffix already has that closer).
 */
export function stopAtEndOfBlock(block: BlockContext): StoppingCriterion {
  return ({ text }) => {
    const keep = endOfBlock(text, block);
    return keep < 0 ? null : { kind: 'endOfBlock', keep };
  };
}

/**
 * Multi-line mode: ends before a later generated line that equals (trimmed) the first non-blank
 * line after the cursor's line, once that line is complete: the completion has reached code the
 * document already has. The first line continues the cursor line and is not compared (a
 * completion that only repeats the suffix is the post-processor's business).
 */
export function stopAtSuffixLine(resumeLine: string): StoppingCriterion {
  const want = resumeLine.trim();
  return ({ text }) => {
    if (want === '') return null;
    let lineStart = text.indexOf('\n') + 1;
    if (lineStart === 0) return null;
    for (;;) {
      const nl = text.indexOf('\n', lineStart);
      if (nl < 0) return null;
      if (text.slice(lineStart, nl).trim() === want) return { kind: 'suffixLine', keep: lineBreakBefore(text, lineStart) };
      lineStart = nl + 1;
    }
  };
}

const OPENERS = '([{';
const CLOSERS = ')]}';

/** Cut position of the block rule (see stopAtEndOfBlock), or -1 while the block goes on. */
export function endOfBlock(text: string, block: BlockContext): number {
  if (block.syntax && block.syntax !== 'generic') return endOfBlockLexed(text, block, block.syntax);
  let depth = 0; // brackets opened inside the generated text and still open
  let quote = ''; // the open string's quote character, '' outside strings
  let line = 0;
  let lineStart = 0; // index just after the newline that began the current line
  let visibleSeen = false; // current line has a non-whitespace character before i
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') {
      // Single/double-quoted strings end at a newline whatever the language says.
      if (quote !== '`') quote = '';
      line++;
      lineStart = i + 1;
      visibleSeen = false;
      continue;
    }
    const blank = c === ' ' || c === '\t' || c === '\r';
    // Lines inside a multi-line template literal are text, not code: their indentation says nothing.
    if (line > 0 && !visibleSeen && !blank && quote !== '`') {
      const indent = i - lineStart;
      const outside = block.opensBlock ? indent <= block.indent : indent < block.indent;
      if (outside) return lineBreakBefore(text, lineStart);
    }
    if (!blank) visibleSeen = true;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = '';
      continue;
    }
    if (c === '"' || c === "'" || c === '`') {
      quote = c;
    } else if (OPENERS.includes(c)) {
      depth++;
    } else if (CLOSERS.includes(c)) {
      if (depth > 0) depth--;
      else if (line > 0) {
        // Closes a bracket from before the cursor: the block ends here. A closer that starts its
        // line takes the whole line with it.
        return text.slice(lineStart, i).trim() === '' ? lineBreakBefore(text, lineStart) : i;
      }
    }
  }
  return -1;
}

/**
 * The block rule with the syntax monitor's lexer (see BlockContext.syntax): same cuts as the
 * plain scanner, but comments and strings are the language's own (`#`, `//`, `/* *\/`,
 * triple quotes, template literals), so a `)` in a comment or a dedented docstring line does
 * not end the block.
 */
function endOfBlockLexed(text: string, block: BlockContext, syntax: LexSyntax): number {
  const s = initialLexState();
  let line = 0;
  let lineStart = 0;
  let visibleSeen = false;
  let lineInCode = true; // the current line started in code (not inside a multi-line string or comment)
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') {
      lexChar(s, syntax, c, text, i);
      line++;
      lineStart = i + 1;
      visibleSeen = false;
      lineInCode = inCode(s);
      continue;
    }
    const blank = c === ' ' || c === '\t' || c === '\r';
    if (line > 0 && !visibleSeen && !blank && lineInCode) {
      const indent = i - lineStart;
      const outside = block.opensBlock ? indent <= block.indent : indent < block.indent;
      if (outside) return lineBreakBefore(text, lineStart);
    }
    if (!blank) visibleSeen = true;
    const wasCode = inCode(s);
    const depth = s.stack.length;
    lexChar(s, syntax, c, text, i);
    if (wasCode && s.quote.length === 3) i += 2; // a triple-quote opener is one unit
    if (wasCode && depth === 0 && line > 0 && CLOSERS.includes(c)) {
      return text.slice(lineStart, i).trim() === '' ? lineBreakBefore(text, lineStart) : i;
    }
  }
  return -1;
}

/** Index of the line break (\n or \r\n) that ends just before `lineStart`. */
function lineBreakBefore(text: string, lineStart: number): number {
  const nl = lineStart - 1;
  return nl > 0 && text[nl - 1] === '\r' ? nl - 1 : nl;
}

/** The criteria a config asks for, in priority order (on the same cut, the earlier one names the reason). */
export function stoppingCriteria(config: GenerationConfig): StoppingCriterion[] {
  const list: StoppingCriterion[] = [stopAtEos(config.eosTokenIds), stopAtControlTokens(config.stopTokenIds)];
  if (config.stopStrings.length > 0) list.push(stopAtStrings(config.stopStrings));
  list.push(config.mode === 'line' ? stopAtEndOfLine() : stopAtEndOfBlock(config.block));
  if (config.mode === 'block' && config.block.resumeLine) list.push(stopAtSuffixLine(config.block.resumeLine));
  list.push(stopAtMaxTokens(config.maxNewTokens));
  return list;
}

/** The verdict that cuts earliest; null when no criterion fires. */
export function checkStopping(criteria: readonly StoppingCriterion[], progress: GenerationProgress): StopVerdict | null {
  let best: StopVerdict | null = null;
  for (const criterion of criteria) {
    const v = criterion(progress);
    if (v && (!best || v.keep < best.keep)) best = v;
  }
  return best;
}
