// Lossless speculative decoding: drafters propose a tree of continuations, one forward verifies
// it (verify.ts), and the output is exactly greedy's.
//
//   copyspec       copy the continuation of an earlier occurrence of the last γ tokens (copyspec.ts)
//   recycling      a tree of the model's own past top-8 successors (recycling.ts)
//   auto           the CopySpec chain merged into the recycling tree; each node kept only when
//                  its estimated acceptance pays for its row on this CPU (planner.ts)
//   prompt-lookup  llama.cpp-style n-gram lookup, the existing-practice baseline (promptLookup.ts)
//
// Speculation owns what outlives a request: the recycling matrix (loaded lazily, persisted per
// workspace), the learnt acceptance rates, and one CopyIndex per document.

import type { TokenizerLike } from '../../engine/types';
import { copyAcceptanceTable, CopyIndex, CopySpecSource, type CopySpecOptions } from './copyspec';
import { defaultForwardCost, PlannedDrafter, type AcceptanceTable, type ForwardCost } from './planner';
import { PromptLookupDrafter } from './promptLookup';
import { recyclingAcceptanceTable, RecyclingSource, type AdjacencyMatrix, type RecyclingOptions } from './recycling';
import { RecyclingStore, tokenizerFingerprint, type StoreLog } from './recyclingStore';
import type { Drafter } from './verify';

export { speculativeGenerate, forwardTree, appendPath, type Drafter, type DraftContext, type SpeculationStats, type SpeculativeResult } from './verify';
export { DraftTree } from './tree';

export type DrafterKind = 'copyspec' | 'recycling' | 'auto' | 'prompt-lookup';

export interface SpeculationOptions {
  /** Folder for the persisted recycling matrix (a workspace's storage); undefined = memory only. */
  stateDir?: string;
  log?: StoreLog;
  /** Forward latency model the planner sizes trees with (default: measured on the dev machine). */
  cost?: ForwardCost;
  /** Most rows per verification forward (default 64). */
  maxRows?: number;
  /** Plan trees against the throughput achieved so far (default true). */
  globalPlanning?: boolean;
  saveDelayMs?: number;
  /** CopySpec's choices (which occurrence, fallback γ, draft length). */
  copy?: CopySpecOptions;
  /** Token Recycling's candidate budget. */
  recycling?: Omit<RecyclingOptions, 'limit'>;
}

export class Speculation {
  private readonly store: RecyclingStore;
  private matrix: Promise<AdjacencyMatrix> | undefined;
  /** Learnt acceptance rates, shared by every document. */
  private readonly copyRates: AcceptanceTable = copyAcceptanceTable();
  private readonly recyclingRates: AcceptanceTable = recyclingAcceptanceTable();
  /** Per drafter kind: decayed tokens and modelled ms of recent forwards (its achieved throughput). */
  private readonly achieved = new Map<string, { tokens: number; ms: number }>();
  private readonly indexes = new WeakMap<object, { primary: CopyIndex; fallback: CopyIndex }>();

  constructor(
    private readonly tokenizer: Pick<TokenizerLike, 'size' | 'tokenBytes'>,
    private readonly opts: SpeculationOptions = {},
  ) {
    this.store = new RecyclingStore({ dir: opts.stateDir, log: opts.log, saveDelayMs: opts.saveDelayMs });
  }

  /** The recycling matrix, loaded on first use. */
  adjacency(): Promise<AdjacencyMatrix> {
    this.matrix ??= this.store.load(this.tokenizer.size, tokenizerFingerprint(this.tokenizer));
    return this.matrix;
  }

  /**
   * A drafter for one request. `document` keys the CopySpec index that follows that document's
   * prompts from request to request (omitted: a fresh index).
   */
  async drafter(kind: DrafterKind, document?: object): Promise<Drafter> {
    if (kind === 'prompt-lookup') return new PromptLookupDrafter();
    const plan = { cost: this.opts.cost, maxRows: this.opts.maxRows, global: this.opts.globalPlanning };
    let achieved = this.achieved.get(kind);
    if (!achieved) {
      achieved = { tokens: 0, ms: 0 };
      this.achieved.set(kind, achieved);
    }
    const copy = (): CopySpecSource => {
      const idx = this.indexesFor(document);
      return new CopySpecSource(idx.primary, this.opts.copy, this.copyRates, idx.fallback);
    };
    if (kind === 'copyspec') return new PlannedDrafter([copy()], plan, kind, achieved);
    const recycling = new RecyclingSource(await this.adjacency(), { ...this.opts.recycling, limit: this.tokenizer.size }, this.recyclingRates);
    return new PlannedDrafter(kind === 'auto' ? [copy(), recycling] : [recycling], plan, kind, achieved);
  }

  /**
   * Drafters for `share` drafts decoded together (decoding/superposed/forest.ts: one forward
   * holds every draft's tree). Each draft gets its own CopySpec index (its own generated
   * text) over the shared matrix and rates, and plans its tree as one share of the forward: a
   * tree of r rows is costed cost(share × r) / share, at most maxRows / share rows.
   */
  async laneDrafters(kind: Exclude<DrafterKind, 'prompt-lookup'>, share: number): Promise<() => Drafter> {
    const matrix = kind === 'copyspec' ? undefined : await this.adjacency();
    const base = this.opts.cost ?? defaultForwardCost;
    const s = Math.max(1, share);
    const plan = { cost: (rows: number, past: number) => base(rows * s, past) / s, maxRows: Math.max(2, Math.floor((this.opts.maxRows ?? 64) / s)), global: this.opts.globalPlanning };
    const key = `${kind}/${s}`;
    let achieved = this.achieved.get(key);
    if (!achieved) {
      achieved = { tokens: 0, ms: 0 };
      this.achieved.set(key, achieved);
    }
    const shared = achieved;
    return () => {
      const idx = this.indexesFor(undefined);
      const copy = new CopySpecSource(idx.primary, this.opts.copy, this.copyRates, idx.fallback);
      if (!matrix) return new PlannedDrafter([copy], plan, kind, shared);
      const recycling = new RecyclingSource(matrix, { ...this.opts.recycling, limit: this.tokenizer.size }, this.recyclingRates);
      return new PlannedDrafter(kind === 'auto' ? [copy, recycling] : [recycling], plan, kind, shared);
    };
  }

  /** A request finished: persist the matrix once it has been quiet for a while. */
  requestDone(): void {
    this.store.touch();
  }

  /** Saves what changed (shutdown). Never throws. */
  async flush(): Promise<void> {
    if (this.matrix) await this.store.flush();
  }

  private indexesFor(document: object | undefined): { primary: CopyIndex; fallback: CopyIndex } {
    const make = () => ({ primary: new CopyIndex(), fallback: new CopyIndex(this.opts.copy?.fallbackGamma || 2) });
    if (!document) return make();
    let idx = this.indexes.get(document);
    if (!idx) {
      idx = make();
      this.indexes.set(document, idx);
    }
    return idx;
  }
}
