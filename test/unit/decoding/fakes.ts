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
    for (let i = 0; i < q; i++) {
      if (req.positions[i] !== next + i) throw new Error(`ScriptedModel: position ${req.positions[i]} at row ${i}, expected ${next + i}`);
    }
    this.rows += q;
    const past = [...cache.tokens()];
    const fresh = [...req.embeds].map((x) => Math.round(x));
    const rows = req.logitRows === 'all' ? fresh.map((_, i) => i) : Array.isArray(req.logitRows) ? req.logitRows : [q - 1];
    const logits = new Float32Array(rows.length * this.vocab);
    rows.forEach((r, j) => {
      const id = this.next([...past, ...fresh.slice(0, r + 1)]);
      logits[j * this.vocab + id] = 1;
    });
    const keys = new Float32Array(2 * q);
    const values = new Float32Array(2 * q);
    for (let i = 0; i < q; i++) {
      values[2 * i] = fresh[i];
      values[2 * i + 1] = req.positions[i];
    }
    return { logits, rows: rows.length, newKeys: [keys], newValues: [values] };
  }

  dispose(): void {}
}
