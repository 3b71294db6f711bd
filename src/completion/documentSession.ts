// One open document: its text, the prompt its KV cache currently holds, and the cache itself.
//
// The prompt is kept token-exact incrementally (pie/documentPrompt.ts): edits and cursor moves
// re-tokenize only small windows. update(cursor) moves the cursor and brings the cache to the
// prompt through a CacheUpdater — the one replaceable piece: PIE (default) splices only the
// changed tokens, 'prefix' and 'full' re-encode (completion/pie/cacheUpdate.ts does all modes).

import type { KvCache } from '../engine/kvCache';
import type { TokenizerLike } from '../engine/types';
import type { StepModel } from '../decoding/generate';
import { applyChange, applyEdits, LineIndex } from './documentText';
import { DocumentPrompt, markersOf, type FimLayout, type WindowPolicy } from './pie/documentPrompt';
import { updateCache } from './pie/cacheUpdate';
import { DEFAULT_PROMPT_BUDGET, promptPath, type FimPrompt, type PromptBudget } from './prompt';
import type { CacheMode, DocumentEdit } from './types';

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

/** A CacheUpdater for one cache mode; `refreshWindow` re-encodes that many tokens before the cursor. */
export function cacheUpdater(mode: CacheMode, refreshWindow = 0): CacheUpdater {
  return {
    name: mode,
    async update({ model, cache, target, signal }) {
      const out = await updateCache(model, cache, target.tokens, { mode, refreshWindow, refreshEnd: target.beforeEnd, signal });
      return { logits: out.logits, reusedTokens: out.reused, encodedTokens: out.encoded };
    },
  };
}

/** Keeps the longest common prefix at natural positions and re-encodes the rest. */
export const prefixReuse: CacheUpdater = cacheUpdater('prefix');

/** Re-encodes the whole prompt every time: the baseline the other strategies are measured against. */
export const fullReencode: CacheUpdater = cacheUpdater('full');

/** PIE: encodes only the changed tokens and re-rotates the keys after each edit. */
export const pieUpdate: CacheUpdater = cacheUpdater('pie');

export interface SessionUpdateOptions {
  updater: CacheUpdater;
  budget: PromptBudget;
  signal?: AbortSignal;
  /** Characters before the cursor the prompt leaves out (token healing; default 0). */
  hide?: number;
  /** Order of the prompt's parts (default 'psm'). */
  layout?: FimLayout;
}

export interface SessionUpdate extends CacheUpdateOutcome {
  prompt: FimPrompt;
}

/** Tokens kept for the `<|file_sep|>path` header when sizing the text budget. */
const HEADER_ALLOWANCE = 32;

/**
 * The prompt window a budget gives: the context minus room for generation, the four control
 * tokens and the path header, split before/after the cursor as the budget says. (Exported so
 * that bench/model lays out its prompts exactly as the editor does.)
 */
export function windowPolicy(budget: PromptBudget): WindowPolicy {
  return {
    maxTokens: Math.max(16, budget.maxContextTokens - budget.reserveTokens - 4 - HEADER_ALLOWANCE),
    beforeShare: budget.beforeShare,
    edgeShare: 1 - budget.beforeFill,
  };
}

export class DocumentSession {
  private textValue: string;
  private index: LineIndex | undefined;
  private cacheValue: KvCache | undefined;
  private lastPrompt: FimPrompt | undefined;
  private prompt: DocumentPrompt | undefined;
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
    // The line index follows the change instead of being rebuilt (O(document)) on the next lookup.
    const { text, index, offsets } = applyChange(this.lines, edits);
    this.textValue = text;
    this.index = index;
    this.versionValue++;
    this.pending.push(edits.map((e) => ({ start: [...e.start], end: [...e.end], text: e.text })));
    this.prompt?.applyEdits(offsets, text);
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

  /**
   * Moves the prompt's cursor (building the prompt on first use) and brings the cache to it.
   * With `hide`, the prompt's text before the cursor ends that many characters earlier.
   */
  async update(cursor: number, opts: SessionUpdateOptions): Promise<SessionUpdate> {
    const prompt = this.fimPrompt(cursor, opts.budget, opts.hide ?? 0, opts.layout ?? 'psm');
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
    return { ...out, prompt };
  }

  private fimPrompt(cursor: number, budget: PromptBudget, hide: number, layout: FimLayout): FimPrompt {
    if (!this.prompt) {
      this.prompt = new DocumentPrompt(this.tokenizer, markersOf(this.tokenizer), promptPath(this.path), this.textValue, cursor, windowPolicy(budget));
    }
    this.prompt.setLayout(layout);
    this.prompt.setCursor(cursor, hide);
    const p = this.prompt;
    const tokens = p.tokens();
    const parts = p.layout();
    const [start, end] = p.window;
    const lines = this.lines;
    return {
      tokens,
      markers: { fileSep: 0, ...parts.markers },
      beforeEnd: parts.beforeEnd,
      before: this.textValue.slice(start, p.cursor),
      after: this.textValue.slice(p.afterStart, end),
      hidden: p.hidden,
      start,
      end,
      window: { startLine: lines.positionAt(start)[0], endLine: lines.positionAt(end)[0] + 1 },
      truncated: start > 0 || end < this.textValue.length,
    };
  }

  /** Frees the cache; the session can still be updated (it starts empty). */
  dispose(): void {
    this.cacheValue = undefined;
    this.lastPrompt = undefined;
    this.prompt = undefined;
  }
}
