// One typed description of how a completion is generated, with documented defaults, so every
// caller (service, CLI, benchmarks) states the same knobs the same way.

import type { TokenizerLike } from '../engine/types';
import type { LexSyntax } from './monitors/lexer';

/** 'line' ends at the end of the first line, 'block' at the end of the block the cursor is in. */
export type GenerationMode = 'line' | 'block';

/** What the block-mode stopping rule needs to know about the cursor line. */
export interface BlockContext {
  /** Width of the cursor line's leading whitespace, in UTF-16 units (a tab counts as 1). */
  indent: number;
  /**
   * True when the text before the cursor ends by opening a block (`{`, `(`, `[`, `:`): the body
   * is then indented deeper, so a line back at `indent` already ends the block. Otherwise only a
   * line indented less than `indent` does.
   */
  opensBlock: boolean;
  /**
   * The language's comment and string syntax (the syntax monitor's lexer). When set, brackets
   * inside comments and strings do not count, and lines that start inside a multi-line string
   * or block comment say nothing about the block. Default: none (quotes only, any language).
   */
  syntax?: LexSyntax;
  /**
   * The first non-blank line after the cursor's line, trimmed: the code the completion runs into.
   * A later generated line equal to it (trimmed) ends the block before that line, since the
   * document already has it. Models that never end the middle otherwise rewrite the code that
   * follows the cursor. Default: none.
   */
  resumeLine?: string;
}

export interface GenerationConfig {
  /** Most tokens to generate, the token that triggers a stop included. Default 64. */
  maxNewTokens: number;
  /** Default 'line'. */
  mode: GenerationMode;
  /** Generation stops before the first occurrence of any of these strings. Default none. */
  stopStrings: string[];
  /** Ids that mean "the middle is finished" (<|endoftext|>, config eos). Default: the tokenizer's eosIds. */
  eosTokenIds: number[];
  /**
   * Control tokens that end a FIM middle as well (<|file_sep|>, <|fim_*|>, <|repo_name|>): the
   * model moving on to another file or section. Default: those the tokenizer has.
   */
  stopTokenIds: number[];
  /** Only read in 'block' mode. Default { indent: 0, opensBlock: false }. */
  block: BlockContext;
}

export const DEFAULT_MAX_NEW_TOKENS = 64;

/** Qwen2.5-Coder control tokens that never belong inside a generated middle. */
export const FIM_CONTROL_TOKENS: readonly string[] = [
  '<|fim_prefix|>',
  '<|fim_suffix|>',
  '<|fim_middle|>',
  '<|fim_pad|>',
  '<|file_sep|>',
  '<|repo_name|>',
];

/** The ids of FIM_CONTROL_TOKENS the tokenizer has. */
export function controlTokenIds(tokenizer: TokenizerLike): number[] {
  const ids: number[] = [];
  for (const name of FIM_CONTROL_TOKENS) {
    const id = tokenizer.specialId(name);
    if (id !== undefined) ids.push(id);
  }
  return ids;
}

/** A complete config: defaults, the tokenizer's end tokens, then the caller's overrides. */
export function generationConfig(tokenizer: TokenizerLike, overrides: Partial<GenerationConfig> = {}): GenerationConfig {
  const cfg: GenerationConfig = {
    maxNewTokens: DEFAULT_MAX_NEW_TOKENS,
    mode: 'line',
    stopStrings: [],
    eosTokenIds: [...tokenizer.eosIds],
    stopTokenIds: controlTokenIds(tokenizer),
    block: { indent: 0, opensBlock: false },
  };
  for (const [key, value] of Object.entries(overrides) as [keyof GenerationConfig, unknown][]) {
    if (value !== undefined) (cfg as unknown as Record<string, unknown>)[key] = value;
  }
  if (!Number.isInteger(cfg.maxNewTokens) || cfg.maxNewTokens < 1) throw new RangeError(`maxNewTokens must be a positive integer, got ${cfg.maxNewTokens}`);
  return cfg;
}
