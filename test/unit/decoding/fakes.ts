// Test doubles for decoding and completion tests that do not need a real network:
// - ByteTokenizer: ids 0..255 are bytes, then the Qwen2.5-Coder control tokens.
// - ScriptedModel: a "model" whose next token is a function of the whole token sequence, read
//   back from the KvCache it is given, so a cache that drifted from the prompt shows up as a
//   different answer. It also checks that positions continue the cache.

import { KvCache } from '../../../src/engine/kvCache';
import { ropeSpec } from '../../../src/engine/rope';
import type { ForwardRequest, ForwardResult, TokenizerLike } from '../../../src/engine/types';
import type { SessionModel } from '../../../src/completion/documentSession';

export const SPECIALS = ['<|endoftext|>', '<|fim_prefix|>', '<|fim_suffix|>', '<|fim_middle|>', '<|file_sep|>', '<|fim_pad|>', '<|repo_name|>'];

export class ByteTokenizer implements TokenizerLike {
  readonly size = 256 + SPECIALS.length;
  readonly eosIds = [256];
  private readonly enc = new TextEncoder();
  private readonly dec = new TextDecoder();

  encode(text: string): number[] {
    return [...this.enc.encode(text)];
  }

  decode(ids: ArrayLike<number>): string {
    const parts: number[] = [];
    for (let i = 0; i < ids.length; i++) parts.push(...this.tokenBytes(ids[i]));
    return this.dec.decode(Uint8Array.from(parts));
  }

  tokenBytes(id: number): Uint8Array {
    if (id < 256) return Uint8Array.of(id);
    return this.enc.encode(SPECIALS[id - 256]);
  }

  specialId(text: string): number | undefined {
    const i = SPECIALS.indexOf(text);
    return i < 0 ? undefined : 256 + i;
  }
}

export const EOS = 256;
export const FIM_MIDDLE = 259;
export const FILE_SEP = 260;

/** Next token from the whole sequence (prompt + generated so far). */
export type NextToken = (sequence: readonly number[]) => number;

/** After <|fim_middle|>, emit `reply(prompt)`'s bytes then <|endoftext|>. */
export function replyAfterMiddle(reply: (prompt: readonly number[]) => string): NextToken {
  const enc = new TextEncoder();
  return (seq) => {
    const m = seq.lastIndexOf(FIM_MIDDLE);
    if (m < 0) return EOS;
    const bytes = enc.encode(reply(seq.slice(0, m + 1)));
    const k = seq.length - m - 1;
    return k < bytes.length ? bytes[k] : EOS;
  };
}

export interface ScriptedModelOptions {
  vocab?: number;
  /** Awaited before every forward; `n` counts forwards from 0. */
  beforeForward?: (n: number) => void | Promise<void>;
}

export class ScriptedModel implements SessionModel {
  readonly vocab: number;
  forwards = 0;
  /** Rows run through forward(), all calls together. */
  rows = 0;

  constructor(
    public next: NextToken,
    private readonly opts: ScriptedModelOptions = {},
  ) {
    this.vocab = opts.vocab ?? 256 + SPECIALS.length;
  }

  createCache(): KvCache {
    return new KvCache({ numLayers: 1, numKvHeads: 1, headDim: 2 }, ropeSpec({ headDim: 2, ropeTheta: 10000, ropeScalingFactor: 1, ropeLayout: 'rotate-half' }), { chunk: 16 });
  }

  /** hidden = 1: the row is the token id itself. */
  embed(tokens: ArrayLike<number>): Float32Array {
    return Float32Array.from(tokens);
  }

  async forward(cache: KvCache, req: ForwardRequest): Promise<ForwardResult> {
    const n = this.forwards++;
    await this.opts.beforeForward?.(n);
    req.signal?.throwIfAborted();
    const q = req.positions.length;
    const next = cache.nextPosition();
    const seqs = this.sequences(cache, req);
    for (let i = 0; i < q; i++) {
      const expected = next + seqs.all[i].length - cache.length - 1;
      if (req.positions[i] !== expected) throw new Error(`ScriptedModel: position ${req.positions[i]} at row ${i}, expected ${expected}`);
    }
    this.rows += q;
    const logits = new Float32Array(seqs.rows.length * this.vocab);
    seqs.rows.forEach((seq, j) => {
      logits[j * this.vocab + this.next(seq)] = 1;
    });
    const fresh = [...req.embeds].map((x) => Math.round(x));
    const keys = new Float32Array(2 * q);
    const values = new Float32Array(2 * q);
    for (let i = 0; i < q; i++) {
      values[2 * i] = fresh[i];
      values[2 * i + 1] = req.positions[i];
    }
    return { logits, rows: seqs.rows.length, newKeys: [keys], newValues: [values] };
  }

  /**
   * The sequence each new row sees (past + the new rows its bias leaves open: causal without a
   * bias, a draft tree's ancestors with one), for every row (`all`) and for the logit rows asked
   * for, in order (`rows`).
   */
  sequences(cache: KvCache, req: ForwardRequest): { all: number[][]; rows: number[][] } {
    const q = req.positions.length;
    const past = [...cache.tokens()];
    const fresh = [...req.embeds].map((x) => Math.round(x));
    const W = past.length + q;
    const all = fresh.map((_, r) => [...past, ...fresh.filter((_, j) => (req.bias ? req.bias[r * W + past.length + j] === 0 : j <= r))]);
    const picked = req.logitRows === 'all' ? all.map((_, i) => i) : Array.isArray(req.logitRows) ? req.logitRows : [q - 1];
    return { all, rows: picked.map((r) => all[r]) };
  }

  dispose(): void {}
}
