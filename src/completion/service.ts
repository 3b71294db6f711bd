// The completion service behind the editor provider, the CLI session and the benchmarks.
//
// complete() reads top to bottom: guards → model (loaded once, lazily) → document session
// update (prompt encoding) → greedy generation → post-processing → result with timings.
// Requests on one document run one at a time: a new request aborts the one before it and waits
// for it to let go of the document's cache. Closing a document aborts its request and frees
// its cache once that request has let go.

import type { FimLayout, TokenizerLike } from '../engine/types';
import { generate, type GenerationStop } from '../decoding/generate';
import { generationConfig, type BlockContext } from '../decoding/generationConfig';
import { banIdsFrom, type LogitsProcessor } from '../decoding/logitsProcessors';
import { lexSyntaxFor } from '../decoding/monitors/lexer';
import { stoppingCriteria } from '../decoding/stopping';
import { afterTail, healingProcessor, healingTail, stripTail } from '../decoding/tokenHealing';
import { Speculation, speculativeGenerate } from '../decoding/speculation/index';
import { tokenizerFingerprint } from '../decoding/speculation/recyclingStore';
import { multiDraftGenerate, type Draft } from '../decoding/superposed/index';
import { languageIdForPath } from '../analysis/grammars';
import { checkDocument, DEFAULT_GUARD_LIMITS } from './documentGuards';
import { applyEdits } from './documentText';
import { cacheUpdater, DocumentSession, fullReencode, pieUpdate, prefixReuse, type CacheUpdater, type SessionModel } from './documentSession';
import { Monitoring, withinBudget, type MonitoringLimits } from './monitoring';
import { DEFAULT_FILTERS, postprocess, type CompletionFilter } from './postprocess';
import { DEFAULT_PROMPT_BUDGET } from './prompt';
import { WorkspaceNgrams } from './ngrams/workspace';
import type {
  CacheMode,
  CompletionBackend,
  CompletionRequest,
  CompletionResult,
  CompletionTimings,
  DocumentEdit,
  EngineState,
  Logger,
  ServiceStats,
} from './types';
import { MAX_DRAFTS } from './types';

/** What a loader hands the service: a model it owns from then on, and its tokenizer. */
export interface LoadedModel {
  model: SessionModel & { dispose(): void | Promise<void> };
  tokenizer: TokenizerLike;
  /** The prompt order the model prefers (its folder's generation_config.json); requests may override it. */
  fimLayout?: FimLayout;
}

export interface ModelLoadRequest {
  /** onnxruntime intra-op threads; undefined = the engine's default. */
  threads?: number;
  /** Block-quantized linear weights (engine GraphOptions.weightBits); undefined = fp32. */
  weightBits?: 4 | 8;
  /** Folder for the on-disk cache of built graphs; undefined = none. */
  graphCacheDir?: string;
}

export type ModelLoader = (modelDir: string, opts: ModelLoadRequest) => Promise<LoadedModel>;

export interface CompletionServiceOptions {
  modelDir: string;
  /** onnxruntime intra-op threads; 0 or undefined = the engine's default. */
  threads?: number;
  /** Block-quantized linear weights, 8 or 4 bits; undefined = fp32 (the checkpoint's exact values). */
  weightBits?: 4 | 8;
  /** Prompt + generation limit, tokens. Default 2048. */
  maxContextTokens?: number;
  /** Documents larger than this (UTF-8 bytes) are skipped. Default 1 000 000. */
  maxDocumentBytes?: number;
  /** Documents with more lines are skipped. Default 20 000. */
  maxDocumentLines?: number;
  /** Tokens generated when a request gives no maxTokens. Default 64. */
  maxTokens?: number;
  graphCacheDir?: string;
  log?: Logger;
  /** Receives every state change (the status bar draws it). */
  onState?: (state: EngineState) => void;
  /** Default: loadCheckpoint + Model.load (onnxruntime on the CPU). */
  loader?: ModelLoader;
  /** Cache update strategies by CacheMode; missing modes fall back to 'prefix'. */
  cacheUpdaters?: Partial<Record<CacheMode, CacheUpdater>>;
  /** Post-processing pipeline. Default DEFAULT_FILTERS. */
  filters?: readonly CompletionFilter[];
  /** Bounds of the workspace analysis behind the monitors. */
  monitoring?: MonitoringLimits;
  /**
   * How long a request waits for its static analysis once the prompt is encoded, ms (default
   * 25); a request whose analysis is later runs without monitors.
   */
  monitorBudgetMs?: number;
  /** Folder where speculative decoding keeps its per-workspace state (the token recycling matrix); undefined = memory only. */
  speculationStateDir?: string;
  /** Folder for the workspace n-gram model's token lists (drafts); default speculationStateDir; undefined = memory only. */
  ngramStateDir?: string;
}

/** Tokens of the prompt's end the n-gram model sees before a draft's own tokens. */
const NGRAM_CONTEXT = 8;

/** Characters after the cursor the post-processor compares completions with. */
const SUFFIX_CONTEXT_CHARS = 2000;

const silentLogger: Logger = { info() {}, warn() {}, error() {} };

interface OpenDocument {
  path: string;
  languageId?: string;
  /** Text until the model is loaded; then the session owns it. */
  text: string;
  session?: DocumentSession;
  /** Bumped by every open/edit: keys the guard verdict. */
  version: number;
  closed: boolean;
  /** The running request's controller. */
  current?: AbortController;
  /** Settles when every request queued on this document has finished. */
  tail: Promise<void>;
  guard?: { version: number; reason: string | null };
}

export class CompletionService implements CompletionBackend {
  private readonly opts: CompletionServiceOptions;
  private readonly log: Logger;
  private readonly loader: ModelLoader;
  private readonly updaters: Record<CacheMode, CacheUpdater>;
  private readonly docs = new Map<string, OpenDocument>();
  private loaded: LoadedModel | undefined;
  private loading: Promise<LoadedModel> | undefined;
  private active = 0;
  private disposed = false;
  private released: Promise<void> | undefined;
  private stateValue: EngineState = { kind: 'idle' };
  /** Incremental trees of the open documents + the workspace symbol index (monitors). */
  private readonly monitoring: Monitoring;
  /** Speculative decoding's cross-request state (created with the first speculative request). */
  private speculation: Speculation | undefined;
  /** Workspace n-gram counts that rank superposed drafts (open documents + workspace files). */
  private readonly ngrams: WorkspaceNgrams;

  constructor(opts: CompletionServiceOptions) {
    this.opts = opts;
    this.log = opts.log ?? silentLogger;
    this.monitoring = new Monitoring(opts.monitoring, (message) => this.log.warn(message));
    this.loader = opts.loader ?? loadOnnxModel;
    this.ngrams = new WorkspaceNgrams({ stateDir: opts.ngramStateDir ?? opts.speculationStateDir, log: this.log });
    this.updaters = {
      prefix: prefixReuse,
      full: fullReencode,
      pie: pieUpdate,
      conflict: cacheUpdater('conflict'),
      ...definedEntries(opts.cacheUpdaters ?? {}),
    };
  }

  get state(): EngineState {
    return this.stateValue;
  }

  async ensureLoaded(signal?: AbortSignal): Promise<void> {
    await this.model(signal);
  }

  open(path: string, text: string, languageId?: string): void {
    this.checkAlive();
    const doc = this.docs.get(path);
    this.monitoring.open(path, text, languageId ?? doc?.languageId);
    const lid = languageId ?? doc?.languageId ?? languageIdForPath(path);
    if (lid) this.ngrams.open(path, text, lid);
    if (doc) {
      if (doc.session) doc.session.setText(text);
      else doc.text = text;
      doc.version++;
      return;
    }
    this.docs.set(path, { path, languageId, text, version: 0, closed: false, tail: Promise.resolve() });
  }

  edit(path: string, edits: DocumentEdit[]): void {
    const doc = this.document(path);
    // Before the model loads there is no session yet; the text is kept current all the same.
    if (doc.session) doc.session.applyEdits(edits);
    else doc.text = applyEdits(doc.text, edits);
    doc.version++;
    this.monitoring.edit(path, edits);
    this.ngrams.edit(path, edits);
  }

  close(path: string): void {
    const doc = this.docs.get(path);
    if (!doc) return;
    this.docs.delete(path);
    this.monitoring.close(path);
    this.ngrams.close(path);
    doc.closed = true;
    doc.current?.abort();
    // The running request still holds the cache; free it when the request lets go.
    void doc.tail.then(() => doc.session?.dispose());
  }

  /** The current text of an open document (undefined when not open). */
  textOf(path: string): string | undefined {
    const doc = this.docs.get(path);
    return doc ? (doc.session?.text ?? doc.text) : undefined;
  }

  async complete(req: CompletionRequest): Promise<CompletionResult> {
    const doc = this.document(req.path);
    if (!Number.isInteger(req.line) || !Number.isInteger(req.col) || req.line < 0 || req.col < 0) {
      throw new RangeError(`line and col must be non-negative integers (got ${req.line}, ${req.col})`);
    }
    if (req.maxTokens !== undefined && (!Number.isInteger(req.maxTokens) || req.maxTokens < 1)) {
      throw new RangeError(`maxTokens must be a positive integer (got ${req.maxTokens})`);
    }
    const drafts = req.options?.drafts;
    if (drafts !== undefined && (!Number.isInteger(drafts) || drafts < 1 || drafts > MAX_DRAFTS)) {
      throw new RangeError(`drafts must be an integer from 1 to ${MAX_DRAFTS} (got ${drafts})`);
    }
    doc.current?.abort();
    const controller = new AbortController();
    doc.current = controller;
    const forward = () => controller.abort();
    req.signal?.addEventListener('abort', forward, { once: true });
    if (req.signal?.aborted) controller.abort();
    const run = doc.tail.then(() => this.completeNow(doc, req, controller.signal));
    doc.tail = run.then(
      () => undefined,
      () => undefined,
    );
    try {
      return await run;
    } finally {
      req.signal?.removeEventListener('abort', forward);
      if (doc.current === controller) doc.current = undefined;
    }
  }

  /**
   * A workspace file (not necessarily open) for the monitors' symbol index: what other files
   * import from it, the classes it defines. Bounded (see MonitoringLimits); returns whether it was taken.
   */
  addWorkspaceFile(path: string, text: string, languageId?: string): boolean {
    this.checkAlive();
    const lid = languageId ?? languageIdForPath(path);
    const forNgrams = lid ? this.ngrams.addFile(path, text, lid) : false;
    return this.monitoring.addWorkspaceFile(path, text, languageId) || forNgrams;
  }

  removeWorkspaceFile(path: string): void {
    this.monitoring.removeWorkspaceFile(path);
    this.ngrams.removeFile(path);
  }

  /**
   * Parses the workspace files added so far (monitors) and counts their n-grams (drafts; once
   * the model's tokenizer is there), in short time slices, until done or aborted.
   */
  async indexWorkspace(signal?: AbortSignal): Promise<number> {
    this.checkAlive();
    const parsed = await this.monitoring.indexWorkspace(signal);
    if (this.loaded) await this.ngrams.ingest(signal);
    return parsed;
  }

  stats(): ServiceStats {
    let cachedTokens = 0;
    let cacheBytes = 0;
    for (const doc of this.docs.values()) {
      cachedTokens += doc.session?.cachedTokens ?? 0;
      cacheBytes += doc.session?.cacheBytes ?? 0;
    }
    return {
      modelDir: this.opts.modelDir,
      loaded: this.loaded !== undefined,
      documents: this.docs.size,
      cachedTokens,
      cacheBytes,
      residentBytes: process.memoryUsage().rss,
    };
  }

  dispose(): void {
    void this.shutdown();
  }

  /** dispose(), resolving once every request has let go and the model is released. */
  shutdown(): Promise<void> {
    this.released ??= this.release();
    return this.released;
  }

  private async release(): Promise<void> {
    this.disposed = true;
    const tails = [...this.docs.values()].map((doc) => {
      doc.closed = true;
      doc.current?.abort();
      return doc.tail.then(() => doc.session?.dispose());
    });
    this.docs.clear();
    this.monitoring.dispose();
    this.ngrams.dispose();
    // The native session must outlive every forward still running.
    await Promise.all(tails);
    const loaded = this.loaded ?? (await this.loading?.catch(() => undefined));
    this.loaded = undefined;
    await this.speculation?.flush();
    await this.ngrams.flush();
    if (loaded) await loaded.model.dispose();
  }

  private async completeNow(doc: OpenDocument, req: CompletionRequest, signal: AbortSignal): Promise<CompletionResult> {
    const t0 = performance.now();
    const skipped = this.guard(doc);
    if (skipped !== null) return emptyResult('skipped', { totalMs: performance.now() - t0 }, skipped);
    if (signal.aborted || doc.closed) return emptyResult('cancelled', { totalMs: performance.now() - t0 });

    let loaded: LoadedModel;
    let loadMs = 0;
    try {
      if (!this.loaded) {
        const t = performance.now();
        loaded = await this.model(signal);
        loadMs = performance.now() - t;
      } else loaded = this.loaded;
    } catch (e) {
      if (signal.aborted) return emptyResult('cancelled', { loadMs, totalMs: performance.now() - t0 });
      throw e;
    }
    if (signal.aborted || doc.closed) return emptyResult('cancelled', { loadMs, totalMs: performance.now() - t0 });

    this.active++;
    this.setState({ kind: 'generating' });
    try {
      return await this.run(doc, this.sessionOf(doc, loaded), loaded, req, signal, t0, loadMs);
    } finally {
      this.active--;
      if (this.active === 0 && this.loaded && !this.disposed) this.setState({ kind: 'ready' });
    }
  }

  private async run(
    doc: OpenDocument,
    session: DocumentSession,
    loaded: LoadedModel,
    req: CompletionRequest,
    signal: AbortSignal,
    t0: number,
    loadMs: number,
  ): Promise<CompletionResult> {
    const { model, tokenizer } = loaded;
    const text = session.text;
    const cursor = session.offsetAt(req.line, req.col);
    const [line] = session.lines.positionAt(cursor);
    const linePrefix = text.slice(session.lines.starts[line], cursor);
    const lineSuffix = text.slice(cursor, session.lines.lineEnd(line));
    const requested = req.options?.mode ?? 'auto';
    const mode = requested === 'auto' ? chooseMode(linePrefix, lineSuffix) : requested;
    const maxTokens = req.maxTokens ?? this.opts.maxTokens ?? 64;
    const cacheMode = req.options?.cache ?? 'pie';
    const refresh = req.options?.refreshWindow ?? 0;
    const updater = refresh > 0 ? cacheUpdater(cacheMode, refresh) : this.updaters[cacheMode];
    const layout = req.options?.promptLayout ?? loaded.fimLayout ?? 'psm';
    let tail = (req.options?.tokenHealing ?? true) ? requestHealingTail(tokenizer, layout, linePrefix) : '';
    const promptCursor = cursor - tail.length;
    // Static analysis for the monitors runs while the prompt is encoded (off: null at once).
    const useMonitors = req.options?.monitors ?? true;
    const monitorsReady = useMonitors
      ? this.monitoring.monitorsFor(doc.path, text, promptCursor, tokenizer, signal, memberHintsAt(session, req)).catch((e: unknown) => {
          this.log.warn(`monitors unavailable: ${e instanceof Error ? e.message : String(e)}`);
          return null;
        })
      : Promise.resolve(null);

    const tEncode = performance.now();
    let update;
    try {
      update = await session.update(cursor, {
        updater,
        budget: { ...DEFAULT_PROMPT_BUDGET, maxContextTokens: this.opts.maxContextTokens ?? DEFAULT_PROMPT_BUDGET.maxContextTokens, reserveTokens: maxTokens },
        signal,
        hide: tail.length,
        layout,
      });
    } catch (e) {
      if (signal.aborted) return emptyResult('cancelled', { loadMs, encodeMs: performance.now() - tEncode, totalMs: performance.now() - t0 });
      throw e;
    }
    const encodeMs = performance.now() - tEncode;
    // A window that starts inside the tail (a line longer than the whole budget) cannot hide it:
    // then neither the healing nor the monitors (analysed at the healed cursor) apply.
    const healedAsPlanned = update.prompt.hidden === tail.length;
    const monitors = healedAsPlanned ? await withinBudget(monitorsReady, this.opts.monitorBudgetMs ?? 25, signal) : null;
    if (!healedAsPlanned) tail = '';
    const processors: LogitsProcessor[] = [banIdsFrom(tokenizer.size)];
    if (tail !== '') processors.push(healingProcessor(tokenizer, tail));
    if (monitors) processors.push(monitors.processor);

    const config = generationConfig(tokenizer, {
      maxNewTokens: maxTokens,
      mode,
      // With monitors, the block stop point lexes comments and strings as the language does.
      // The line the completion would run into ends it (stopAtSuffixLine).
      block: {
        ...blockContext(text.slice(0, cursor), linePrefix),
        syntax: useMonitors ? lexSyntaxFor(doc.languageId ?? languageIdForPath(doc.path) ?? '') : undefined,
        resumeLine: resumeLineAfter(text, cursor),
      },
    });
    let firstTokenAt = 0;
    const decoding = {
      tokenizer,
      signal,
      processors,
      // The stopping rules judge the text after the healed tail, i.e. from the editor's cursor.
      criteria: afterTail(stoppingCriteria(config), tail),
      onToken: () => {
        if (firstTokenAt === 0) firstTokenAt = performance.now();
      },
    };
    // Speculation changes how many tokens a forward yields, never which tokens.
    const speculation = req.options?.speculation ?? 'auto';
    const k = req.options?.drafts ?? 1;
    const suffix = text.slice(cursor, cursor + SUFFIX_CONTEXT_CHARS);
    const finishDraft = (t: string) => postprocess(stripTail(t, tail), { linePrefix, suffix, mode }, this.opts.filters ?? DEFAULT_FILTERS);
    let gen;
    let acceptedPerForward: number | undefined;
    let completions: string[];
    let drafted: Draft[] | undefined;
    if (k > 1) {
      // Several drafts (decoding/superposed/): the same processors (healing, monitors) per draft.
      if (speculation !== 'off') this.speculation ??= new Speculation(tokenizer, { stateDir: this.opts.speculationStateDir, log: this.log });
      // Drafts decoded together share each forward: their trees are planned as shares of it.
      const together = req.options?.draftMethod !== 'independent' && req.options?.draftMethod !== 'sampled';
      const drafter = speculation === 'off' ? undefined : await this.speculation?.laneDrafters(speculation, together ? k : 1);
      const languageId = doc.languageId ?? languageIdForPath(doc.path);
      const prompt = session.cache.tokens();
      const out = await multiDraftGenerate(model, session.cache, update.logits, config, {
        ...decoding,
        k,
        tail,
        method: req.options?.draftMethod,
        finish: req.options?.draftFinish,
        drafter,
        ngram: languageId ? this.ngrams.model(languageId) : undefined,
        ngramContext: prompt.subarray(Math.max(0, prompt.length - NGRAM_CONTEXT)),
      });
      if (drafter) this.speculation?.requestDone();
      drafted = out.drafts;
      const best = out.drafts[0];
      gen = { tokens: best?.tokens ?? [], stop: out.cancelled ? ('cancelled' as const) : (best?.stop ?? 'eos'), forwards: out.forwards };
      const total = out.drafts.reduce((n, d) => n + d.tokens.length, 0);
      if (out.forwards > 0) acceptedPerForward = (total - out.drafts.length) / out.forwards;
      completions = [...new Set(out.drafts.map((d) => finishDraft(d.text)).filter((c) => c !== ''))];
    } else {
      if (speculation === 'off') gen = await generate(model, session.cache, update.logits, config, decoding);
      else {
        this.speculation ??= new Speculation(tokenizer, { stateDir: this.opts.speculationStateDir, log: this.log });
        const drafter = await this.speculation.drafter(speculation, session);
        gen = await speculativeGenerate(model, session.cache, update.logits, config, { ...decoding, drafter });
        this.speculation.requestDone();
        if (gen.forwards > 0) acceptedPerForward = gen.speculation.tokensPerForward;
      }
      const completion = gen.stop === 'cancelled' ? '' : finishDraft(gen.text);
      completions = completion === '' ? [] : [completion];
    }
    const tEnd = performance.now();
    const decodeSeconds = firstTokenAt > 0 ? (tEnd - firstTokenAt) / 1000 : 0;
    const tokens = drafted ? drafted.reduce((n, d) => n + d.tokens.length, 0) : gen.tokens.length;
    const timings: CompletionTimings = {
      loadMs,
      encodeMs,
      firstTokenMs: firstTokenAt > 0 ? firstTokenAt - t0 : 0,
      totalMs: tEnd - t0,
      // With drafts: every draft's tokens.
      tokens,
      // Decode throughput: the tokens after the first (which comes with the prompt's logits).
      tokensPerSecond: decodeSeconds > 0 ? (tokens - (drafted?.length ?? 1)) / decodeSeconds : 0,
    };
    if (monitors) timings.monitorMs = monitors.stats.ms;
    const counts = { reusedTokens: update.reusedTokens, encodedTokens: update.encodedTokens, ...(acceptedPerForward !== undefined ? { acceptedPerForward } : {}) };
    if (gen.stop === 'cancelled' || doc.closed) return { ...emptyResult('cancelled', timings), ...counts };

    return {
      completion: completions[0] ?? '',
      completions,
      timings,
      ...counts,
      ...(monitors ? { monitorInterventions: monitors.interventionsAlong(gen.tokens) } : {}),
      stopReason: stopReasonOf(gen.stop),
    };
  }

  /** Single-flight model load; waiting can be aborted, the load itself goes on for the next request. */
  private model(signal?: AbortSignal): Promise<LoadedModel> {
    this.checkAlive();
    if (this.loaded) return Promise.resolve(this.loaded);
    if (!this.loading) {
      const dir = this.opts.modelDir;
      this.setState({ kind: 'loading', modelDir: dir });
      this.log.info(`loading model from ${dir}`);
      const threads = this.opts.threads && this.opts.threads > 0 ? this.opts.threads : undefined;
      this.loading = this.loader(dir, { threads, weightBits: this.opts.weightBits, graphCacheDir: this.opts.graphCacheDir }).then(
        async (loaded) => {
          if (this.disposed) {
            await loaded.model.dispose();
            throw new Error('the completion service was disposed while the model loaded');
          }
          this.loaded = loaded;
          this.loading = undefined;
          // The n-grams count what was opened or handed over so far, in the background.
          const tok = loaded.tokenizer;
          void this.ngrams.attach(tok, tokenizerFingerprint(tok)).catch((e: unknown) => this.log.warn(`n-grams: ${e instanceof Error ? e.message : String(e)}`));
          this.log.info(`model ready: ${dir}`);
          this.setState({ kind: 'ready' });
          return loaded;
        },
        (e: unknown) => {
          // Forget the failure so that a later request (after the user fixed the folder) tries again.
          this.loading = undefined;
          const message = e instanceof Error ? e.message : String(e);
          this.log.error(`model load failed: ${message}`);
          this.setState({ kind: 'error', message });
          throw e;
        },
      );
    }
    return abortable(this.loading, signal);
  }

  private sessionOf(doc: OpenDocument, loaded: LoadedModel): DocumentSession {
    doc.session ??= new DocumentSession(doc.path, doc.text, loaded.model, loaded.tokenizer, doc.languageId);
    return doc.session;
  }

  private guard(doc: OpenDocument): string | null {
    const version = doc.version;
    if (doc.guard && doc.guard.version === version) return doc.guard.reason;
    const reason = checkDocument(doc.session?.text ?? doc.text, {
      maxDocumentBytes: this.opts.maxDocumentBytes ?? DEFAULT_GUARD_LIMITS.maxDocumentBytes,
      maxDocumentLines: this.opts.maxDocumentLines ?? DEFAULT_GUARD_LIMITS.maxDocumentLines,
    });
    doc.guard = { version, reason };
    return reason;
  }

  private document(path: string): OpenDocument {
    this.checkAlive();
    const doc = this.docs.get(path);
    if (!doc) throw new Error(`unknown document: ${path} (open it first)`);
    return doc;
  }

  private checkAlive(): void {
    if (this.disposed) throw new Error('the completion service is disposed');
  }

  private setState(state: EngineState): void {
    this.stateValue = state;
    this.opts.onState?.(state);
  }
}

/**
 * Token healing as a request does it: the prompt stops before the last token's text before the
 * cursor, which the model writes again. Indentation is healed in the spm layout only, where
 * bench/monitors measured it to help. (Exported so that benchmarks take the product path.)
 */
export function requestHealingTail(tokenizer: TokenizerLike, layout: FimLayout, linePrefix: string): string {
  return healingTail(tokenizer, linePrefix, { whitespace: layout === 'spm' && linePrefix.trim() === '' });
}

/**
 * 'auto' mode: a whole block when the cursor starts a line (only indentation before it) or
 * follows a block opener, and nothing but closers or punctuation follows on the line; the rest
 * of the line otherwise.
 */
export function chooseMode(linePrefix: string, lineSuffix: string): 'line' | 'block' {
  if (!/^[\s)\]};,]*$/.test(lineSuffix)) return 'line';
  return linePrefix.trim() === '' || /[{([:]\s*$/.test(linePrefix) ? 'block' : 'line';
}

/**
 * Indentation facts for the end-of-block rule. On a blank line right below a block opener, the
 * opener's line is the reference (the body may not be indented yet).
 */
/** The first non-blank line after the cursor's line, trimmed (looks at most 200 lines ahead). */
export function resumeLineAfter(text: string, cursor: number): string | undefined {
  let nl = text.indexOf('\n', cursor);
  for (let n = 0; nl >= 0 && n < 200; n++) {
    const next = text.indexOf('\n', nl + 1);
    const line = text.slice(nl + 1, next < 0 ? text.length : next).trim();
    if (line !== '') return line;
    nl = next;
  }
  return undefined;
}

export function blockContext(textBeforeCursor: string, linePrefix: string): BlockContext {
  const indentOf = (s: string) => s.length - s.trimStart().length;
  const indent = indentOf(linePrefix);
  if (linePrefix.trim() !== '') return { indent, opensBlock: /[{([:]\s*$/.test(linePrefix) };
  const lines = textBeforeCursor.slice(0, textBeforeCursor.length - linePrefix.length).split(/\r?\n|\r/);
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i];
    if (l.trim() === '') continue;
    const prevIndent = indentOf(l);
    if (/[{([:]\s*$/.test(l) && prevIndent >= indent) return { indent: prevIndent, opensBlock: true };
    break;
  }
  return { indent, opensBlock: false };
}

/** The request's member hints (editor oracle) with the receiver's end as a document offset. */
function memberHintsAt(session: DocumentSession, req: CompletionRequest): { receiverEnd: number; names: readonly string[] } | undefined {
  const h = req.options?.memberHints;
  return h && h.names.length > 0 ? { receiverEnd: session.offsetAt(h.receiverEnd.line, h.receiverEnd.col), names: h.names } : undefined;
}

function stopReasonOf(stop: GenerationStop): CompletionResult['stopReason'] {
  switch (stop) {
    case 'eos':
    case 'stopToken':
      return 'eos';
    case 'maxTokens':
      return 'maxTokens';
    case 'cancelled':
      return 'cancelled';
    default:
      return 'stop';
  }
}

function emptyResult(stopReason: 'skipped' | 'cancelled', t: Partial<CompletionTimings>, skippedReason?: string): CompletionResult {
  const timings: CompletionTimings = { loadMs: 0, encodeMs: 0, firstTokenMs: 0, totalMs: 0, tokens: 0, tokensPerSecond: 0, ...t };
  const result: CompletionResult = { completion: '', completions: [], timings, reusedTokens: 0, encodedTokens: 0, stopReason };
  if (skippedReason !== undefined) result.skippedReason = skippedReason;
  return result;
}

/** Rejects with the signal's reason as soon as it aborts; `p` itself keeps running. */
function abortable<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

function definedEntries<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * The real loader. The engine is required lazily (why: onnxruntime-node's native library then
 * loads with the first completion, not when the extension or CLI starts).
 */
const loadOnnxModel: ModelLoader = async (dir, opts) => {
  const { loadCheckpoint } = require('../engine/checkpoint') as typeof import('../engine/checkpoint');
  const { Model } = require('../engine/model') as typeof import('../engine/model');
  const ckpt = await loadCheckpoint(dir);
  const model = await Model.load(ckpt, { threads: opts.threads, weightBits: opts.weightBits, cacheDir: opts.graphCacheDir });
  return { model, tokenizer: ckpt.tokenizer, fimLayout: ckpt.fimLayout };
};
