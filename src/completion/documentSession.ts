// One open document: its text, the prompt its KV cache currently holds, and the cache itself.
//
// update(cursor) builds the FIM prompt for the cursor and brings the cache to it through a
// CacheUpdater, the one replaceable piece: the longest-common-prefix strategy here re-encodes
// everything after the first changed token; PIE (completion/pie) will splice only the edited
// tokens. Updaters get what either needs: the cache, the target prompt, the prompt the cache
// was last brought to, and the text edits made since.

import type { KvCache } from '../engine/kvCache';
import type { TokenizerLike } from '../engine/types';
import type { StepModel } from '../decoding/generate';
import { applyEdits, countLineBreaks, LineIndex } from './documentText';
import { buildFimPrompt, promptPath, type FimPrompt, type PromptBudget, type PromptWindow } from './prompt';
import type { DocumentEdit } from './types';

/** A model that can also make caches (engine/model.ts's Model is one). */
export interface SessionModel extends StepModel {
  createCache(): KvCache;
}

export interface CacheUpdateContext {
  model: StepModel;
  /** The document's cache; on return it must hold exactly `target.tokens`. */
  cache: KvCache;
  target: FimPrompt;
  /**
   * The prompt the cache was last brought to (generated slots are always truncated away again).
   * Undefined when unknown: first update, or the last one failed or was cancelled; the cache
   * then holds some valid prefix state that only its own tokens() and positions() describe.
   */
  previous: FimPrompt | undefined;
  /** Changes applied to the document since `previous` was built, oldest first; each refers to the text before it. */
  changes: readonly (readonly DocumentEdit[])[];
  signal?: AbortSignal;
}

export interface CacheUpdateOutcome {
  /** [vocab] logits of the prompt's last position (what the first generated token is chosen from). */
  logits: Float32Array;
  /** Prompt tokens whose K/V were kept. */
  reusedTokens: number;
  /** Prompt tokens run through the model. */
  encodedTokens: number;
}

/**
 * Brings a cache to a target prompt. On abort it throws, leaving the cache valid for whatever
 * tokens it holds (only whole forwards are ever appended). Updaters are shared by all documents;
 * state that belongs to one document can live in a WeakMap keyed by `ctx.cache` (one cache per
 * document, replaced when the document's cache is freed).
 */
export interface CacheUpdater {
  readonly name: string;
  update(ctx: CacheUpdateContext): Promise<CacheUpdateOutcome>;
}

/** Tokens per forward while encoding a prompt: bounds the [q, past + q] bias and gives cancellation points. */
export const ENCODE_CHUNK = 512;

/**
 * Appends `tokens` at positions start, start + 1, ... in chunks; returns the logits of the last
 * one ([vocab]). Throws the abort reason after any forward once `signal` is aborted.
 */
export async function encodeInto(
  model: StepModel,
  cache: KvCache,
  tokens: readonly number[],
  start: number,
  signal?: AbortSignal,
  chunk = ENCODE_CHUNK,
): Promise<Float32Array> {
  if (tokens.length === 0) throw new RangeError('encodeInto: nothing to encode');
  let logits: Float32Array | undefined;
  for (let i = 0; i < tokens.length; i += chunk) {
    signal?.throwIfAborted();
    const part = tokens.slice(i, i + chunk);
    const positions = part.map((_, j) => start + i + j);
    const out = await model.forward(cache, { embeds: model.embed(part), positions, logitRows: 'last', signal });
    cache.append(out.newKeys, out.newValues, part, positions);
    logits = out.logits;
    signal?.throwIfAborted();
  }
  return logits as Float32Array;
}

/**
 * Keeps the longest common prefix of the cached and target tokens (slot i must also sit at
 * position i), truncates the rest and encodes the target from there. At least the last token is
 * always encoded: its logits start generation.
 */
export const prefixReuse: CacheUpdater = {
  name: 'prefix',
  async update({ model, cache, target, signal }) {
    const want = target.tokens;
    const have = cache.tokens();
    const pos = cache.positions();
    const limit = Math.min(have.length, want.length - 1);
    let n = 0;
    while (n < limit && have[n] === want[n] && pos[n] === n) n++;
    cache.truncate(n);
    const logits = await encodeInto(model, cache, want.slice(n), n, signal);
    return { logits, reusedTokens: n, encodedTokens: want.length - n };
  },
};

/** Re-encodes the whole prompt every time: the baseline the other strategies are measured against. */
export const fullReencode: CacheUpdater = {
  name: 'full',
  async update({ model, cache, target, signal }) {
    cache.truncate(0);
    const logits = await encodeInto(model, cache, target.tokens, 0, signal);
    return { logits, reusedTokens: 0, encodedTokens: target.tokens.length };
  },
};

export interface SessionUpdateOptions {
  updater: CacheUpdater;
  budget: PromptBudget;
  signal?: AbortSignal;
}

export interface SessionUpdate extends CacheUpdateOutcome {
  prompt: FimPrompt;
}

export class DocumentSession {
  private textValue: string;
  private index: LineIndex | undefined;
  private cacheValue: KvCache | undefined;
  private lastPrompt: FimPrompt | undefined;
  private window: PromptWindow | undefined;
  private pending: DocumentEdit[][] = [];
  private versionValue = 0;

  constructor(
    readonly path: string,
    text: string,
    private readonly model: SessionModel,
    private readonly tokenizer: TokenizerLike,
    readonly languageId?: string,
  ) {
    this.textValue = text;
  }

  get text(): string {
    return this.textValue;
  }

  /** Increases with every text change. */
  get version(): number {
    return this.versionValue;
  }

  get lines(): LineIndex {
    this.index ??= new LineIndex(this.textValue);
    return this.index;
  }

  /** The cache (created on first use). It holds the last prompt between requests. */
  get cache(): KvCache {
    this.cacheValue ??= this.model.createCache();
    return this.cacheValue;
  }

  get cachedTokens(): number {
    return this.cacheValue?.length ?? 0;
  }

  get cacheBytes(): number {
    return this.cacheValue?.bytes() ?? 0;
  }

  /** One change: edits against the current text (VS Code semantics, see documentText.applyEdits). */
  applyEdits(edits: readonly DocumentEdit[]): void {
    if (edits.length === 0) return;
    const before = this.lines;
    this.textValue = applyEdits(this.textValue, edits, before);
    this.index = undefined;
    this.versionValue++;
    this.pending.push(edits.map((e) => ({ start: [...e.start], end: [...e.end], text: e.text })));
    if (this.window) this.window = shiftWindow(this.window, edits);
  }

  /** Replaces the whole text (a re-open), recorded as one edit so updaters see it like any other. */
  setText(text: string): void {
    if (text === this.textValue) return;
    const end = this.lines.positionAt(this.textValue.length);
    this.applyEdits([{ start: [0, 0], end, text }]);
  }

  /** UTF-16 offset of a zero-based (line, column), clamped into the document. */
  offsetAt(line: number, col: number): number {
    return this.lines.offsetAt(line, col);
  }

  /** Builds the prompt for the cursor and brings the cache to it. */
  async update(cursor: number, opts: SessionUpdateOptions): Promise<SessionUpdate> {
    const prompt = buildFimPrompt(
      { path: promptPath(this.path), text: this.textValue, cursor },
      this.tokenizer,
      opts.budget,
      this.window,
      this.lines,
    );
    const cache = this.cache;
    const previous = this.lastPrompt;
    const changes = this.pending;
    // Edits arriving while the update runs belong to the next one.
    this.pending = [];
    // Until this update succeeds, nobody knows which prompt the cache holds.
    this.lastPrompt = undefined;
    const out = await opts.updater.update({ model: this.model, cache, target: prompt, previous, changes, signal: opts.signal });
    if (cache.length !== prompt.tokens.length) {
      throw new Error(`cache updater '${opts.updater.name}' left ${cache.length} slots for a ${prompt.tokens.length}-token prompt`);
    }
    this.lastPrompt = prompt;
    this.window = prompt.window;
    return { ...out, prompt };
  }

  /** Frees the cache; the session can still be updated (it starts empty). */
  dispose(): void {
    this.cacheValue = undefined;
    this.lastPrompt = undefined;
  }
}

/**
 * Follows the prompt window through one change so that a line inserted above it does not move
 * its first line (which would invalidate the whole cache). Ranges refer to the text before the
 * change and do not overlap, so the shifts of edits above a line simply add up.
 */
export function shiftWindow(window: PromptWindow, edits: readonly DocumentEdit[]): PromptWindow {
  const shift = (line: number, isEnd: boolean): number => {
    let delta = 0;
    let across: { start: number; text: string } | undefined;
    for (const e of edits) {
      const a = Math.min(e.start[0], e.end[0]);
      const b = Math.max(e.start[0], e.end[0]);
      if (b < line) delta += countLineBreaks(e.text) - (b - a);
      else if (a < line) across = { start: a, text: e.text };
    }
    if (!across) return line + delta;
    // The edit covers the line's start: the window edge moves to the edit's edge.
    return across.start + delta + (isEnd ? countLineBreaks(across.text) + 1 : 0);
  };
  const startLine = Math.max(0, shift(window.startLine, false));
  return { startLine, endLine: Math.max(startLine + 1, shift(window.endLine, true)) };
}
