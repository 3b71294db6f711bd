// The greedy generation loop: choose → check stopping → embed → forward one step → append → repeat.
//
// The cache is borrowed: it holds the prompt on entry, generated slots are appended while the
// loop runs, and on every exit (stop, cancellation, error) it is truncated back to the prompt in
// `finally`, so the next request on the document starts from a valid prompt cache.

import type { KvCache } from '../engine/kvCache';
import { Utf8StreamDecoder } from '../engine/tokenizer';
import type { ForwardRequest, ForwardResult, TokenizerLike } from '../engine/types';
import type { GenerationConfig } from './generationConfig';
import type { LogitsProcessor } from './logitsProcessors';
import { greedyChooser, type TokenChooser } from './sampling';
import { checkStopping, stoppingCriteria, type GenerationProgress, type StopKind, type StoppingCriterion } from './stopping';

/** The part of engine/model.ts's Model that decoding needs (tests substitute a scripted one). */
export interface StepModel {
  /** [n, hidden] embedding rows of the tokens. */
  embed(tokens: ArrayLike<number>): Float32Array;
  /** Runs new rows against the cache's past without changing the cache. */
  forward(cache: KvCache, req: ForwardRequest): Promise<ForwardResult>;
}

export interface GenerateOptions {
  /** Turns ids into bytes for the streamed text. */
  tokenizer: Pick<TokenizerLike, 'tokenBytes'>;
  /** Checked after every forward; an abort ends the loop with stop 'cancelled'. */
  signal?: AbortSignal;
  /** Used by the default chooser (greedy). */
  processors?: readonly LogitsProcessor[];
  /** Default: greedy after `processors`. */
  chooser?: TokenChooser;
  /** Default: stoppingCriteria(config). */
  criteria?: readonly StoppingCriterion[];
  /** Called after each accepted token (before the stopping check cuts the text). */
  onToken?: (token: number, progress: GenerationProgress) => void;
}

export type GenerationStop = StopKind | 'cancelled';

export interface GenerationResult {
  /** The completion text, already cut where the stopping rule said. */
  text: string;
  /** Every token chosen, the one that triggered the stop included. */
  tokens: number[];
  stop: GenerationStop;
  /** Forward passes run (one per token after the first: the first comes from the prompt's logits). */
  forwards: number;
}

/**
 * The bookkeeping every decoding loop shares: the chosen tokens, the streamed text (end and
 * control tokens silent), the onToken callback and the stopping check after each token. Greedy
 * and speculative decoding push the same tokens through it, so they stop and cut identically.
 */
export class GenerationRecorder {
  /** Every token chosen so far, the one that triggered a stop included. */
  readonly tokens: number[] = [];
  text = '';
  forwards = 0;
  private readonly decoder = new Utf8StreamDecoder();
  // End and control tokens stop generation; their text ("<|endoftext|>") must not leak into the completion.
  private readonly silent: Set<number>;
  private readonly criteria: readonly StoppingCriterion[];

  constructor(
    config: GenerationConfig,
    private readonly options: Pick<GenerateOptions, 'tokenizer' | 'criteria' | 'onToken'>,
  ) {
    this.silent = new Set([...config.eosTokenIds, ...config.stopTokenIds]);
    this.criteria = options.criteria ?? stoppingCriteria(config);
  }

  /** Records one chosen token; returns the finished result when a stopping rule fires, else null. */
  push(token: number): GenerationResult | null {
    this.tokens.push(token);
    if (!this.silent.has(token)) this.text += this.decoder.push(this.options.tokenizer.tokenBytes(token));
    const progress: GenerationProgress = { tokens: this.tokens, text: this.text };
    this.options.onToken?.(token, progress);
    const verdict = checkStopping(this.criteria, progress);
    // Bytes still held by the decoder are an unfinished character: dropped, not shown as U+FFFD.
    return verdict ? { text: this.text.slice(0, verdict.keep), tokens: this.tokens, stop: verdict.kind, forwards: this.forwards } : null;
  }

  cancelled(): GenerationResult {
    return { text: this.text, tokens: this.tokens, stop: 'cancelled', forwards: this.forwards };
  }
}

/**
 * Greedy decoding from `firstLogits` ([vocab], the logits of the cache's last slot).
 * New tokens take positions cache.nextPosition(), nextPosition() + 1, ...
 */
export async function generate(
  model: StepModel,
  cache: KvCache,
  firstLogits: Float32Array,
  config: GenerationConfig,
  options: GenerateOptions,
): Promise<GenerationResult> {
  const { signal } = options;
  const chooser = options.chooser ?? greedyChooser(options.processors ?? []);
  const out = new GenerationRecorder(config, options);
  const promptLength = cache.length;
  let logits = firstLogits;

  try {
    if (signal?.aborted) return out.cancelled();
    for (;;) {
      const position = cache.nextPosition();
      const token = chooser(logits, { position, generated: out.tokens });
      const done = out.push(token);
      if (done) return done;

      let step: ForwardResult;
      try {
        step = await model.forward(cache, { embeds: model.embed([token]), positions: [position], signal });
      } catch (e) {
        if (signal?.aborted) return out.cancelled();
        throw e;
      }
      out.forwards++;
      cache.append(step.newKeys, step.newValues, [token], [position]);
      if (signal?.aborted) return out.cancelled();
      logits = step.logits;
    }
  } finally {
    cache.truncate(promptLength);
  }
}
