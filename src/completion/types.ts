// The request/answer shapes shared by the CLI `session` protocol, the editor provider and the benchmarks.

export type CacheMode = 'pie' | 'full' | 'prefix' | 'conflict';
export type SpeculationMode = 'off' | 'copyspec' | 'recycling' | 'auto';

export type DraftMethodOption = 'chains' | 'superposed' | 'independent' | 'sampled';

/** Most drafts one request may ask for. */
export const MAX_DRAFTS = 8;

/** Per-request switches; later capabilities add theirs here. All optional, defaults documented. */
export interface CompletionOptions {
  /** How the document's KV cache follows edits (default 'pie'). */
  cache?: CacheMode;
  /** Re-encode exactly the last W tokens before the cursor (default 0 = off). */
  refreshWindow?: number;
  /** Speculative decoding (default 'auto'). */
  speculation?: SpeculationMode;
  /**
   * Number of alternative completions (default 1 = plain greedy decoding; the editor's
   * `slipstream.drafts` setting sends 3). Up to MAX_DRAFTS; the answer's `completions` lists the
   * distinct post-processed drafts, best first.
   */
  drafts?: number;
  /**
   * How the drafts are decoded (decoding/superposed/): 'chains' (k exact chains from the k best
   * first tokens, decoded together; the default, chosen by bench/superposed) or 'superposed'
   * (Superposed Decoding); 'independent' (the same chains one after another) and 'sampled' (k
   * sampled runs, temperature 0.8) are the baselines bench/superposed compares with. For
   * comparisons; the product leaves it unset.
   */
  draftMethod?: DraftMethodOption;
  /** 'superposed' only: 'exact' (verify and finish each draft exactly, default) or 'superposed' (the paper's way to the end). */
  draftFinish?: 'exact' | 'superposed';
  /** Monitor-guided decoding (default true). */
  monitors?: boolean;
  /**
   * Token healing (default true): a prompt ending inside what would be a longer token (`self.`,
   * `self.ite`, `=`) backs off by that token, whose text the model writes again (decoding/tokenHealing.ts).
   */
  tokenHealing?: boolean;
  /**
   * Fill-in-the-middle part order; default: the model's own (`fim_layout` in its
   * generation_config.json: 'spm' for the embedded model), else 'psm'. See completion/pie/documentPrompt.ts.
   */
  promptLayout?: 'psm' | 'spm';
  /** Members of the receiver at the cursor from another source (the editor's language server), unioned with the analysis. */
  memberHints?: MemberHints;
  /** 'line' stops at end of line, 'block' at the end of the enclosing block, 'auto' decides from the cursor. */
  mode?: 'line' | 'block' | 'auto';
  /**
   * Front ends only (editor provider, CLI session): may the answer come from their completion
   * cache when the user typed into a shown completion? Default true; benchmarks set false.
   */
  completionCache?: boolean;
}

/**
 * Legal members for the member access at the cursor, from outside the static analysis (the
 * editor asks VS Code's completion providers: editor/memberOracle.ts).
 */
export interface MemberHints {
  /** Zero-based line / UTF-16 column where the receiver expression ends (its `.` or `->` starts there). */
  receiverEnd: { line: number; col: number };
  names: string[];
}

/** A text edit in zero-based (line, UTF-16 column) coordinates, as VS Code reports them. */
export interface DocumentEdit {
  start: [number, number];
  end: [number, number];
  text: string;
}

export interface CompletionRequest {
  path: string;
  line: number;
  col: number;
  maxTokens?: number;
  options?: CompletionOptions;
  signal?: AbortSignal;
}

export interface CompletionTimings {
  /** Model load time paid by this request (0 when already loaded). */
  loadMs: number;
  /** Bringing the document's cache up to date (prompt encoding). */
  encodeMs: number;
  /** Request start to first generated token. */
  firstTokenMs: number;
  totalMs: number;
  tokens: number;
  tokensPerSecond: number;
  /** Time the monitors spent masking logits, ms (set when monitors ran). */
  monitorMs?: number;
}

export interface CompletionResult {
  /** Best completion (post-processed); '' when nothing useful. */
  completion: string;
  /** All alternatives, best first (completions[0] === completion when non-empty). */
  completions: string[];
  timings: CompletionTimings;
  /** Prompt tokens whose K/V were reused from the document's cache. */
  reusedTokens: number;
  /** Prompt tokens encoded for this request. */
  encodedTokens: number;
  /** Mean accepted tokens per forward when speculation ran. */
  acceptedPerForward?: number;
  /**
   * Number of generated positions where a monitor changed the model's choice; set when the
   * monitors ran for this request (undefined: off, unsupported language, or analysis not ready).
   */
  monitorInterventions?: number;
  /** Why generation stopped. */
  stopReason: 'eos' | 'stop' | 'maxTokens' | 'cancelled' | 'skipped';
  /** Set when the document was skipped (too large, binary). */
  skippedReason?: string;
}

/** What the status bar draws: one state, set through one method. */
export type EngineState =
  | { kind: 'idle' }
  | { kind: 'loading'; modelDir: string }
  | { kind: 'ready' }
  | { kind: 'generating' }
  | { kind: 'error'; message: string };

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface ServiceStats {
  modelDir: string;
  loaded: boolean;
  documents: number;
  cachedTokens: number;
  cacheBytes: number;
  residentBytes: number;
}

/**
 * The completion service as its users (editor provider, CLI session, benchmarks) see it.
 * Documents are identified by path (the editor uses the URI string).
 */
export interface CompletionBackend {
  /** Loads the model if needed; resolves when ready. Safe to call concurrently. */
  ensureLoaded(signal?: AbortSignal): Promise<void>;
  open(path: string, text: string, languageId?: string): void;
  edit(path: string, edits: DocumentEdit[]): void;
  close(path: string): void;
  complete(req: CompletionRequest): Promise<CompletionResult>;
  /** Monitors: a workspace file for the symbol index (bounded; returns whether it was taken). */
  addWorkspaceFile?(path: string, text: string, languageId?: string): boolean | Promise<boolean>;
  removeWorkspaceFile?(path: string): void;
  /** Monitors: parses the workspace files added so far in short slices, until done or aborted. */
  indexWorkspace?(signal?: AbortSignal): Promise<number>;
  stats(): ServiceStats;
  dispose(): void;
}
