// Held-out loss on plain documents, on exactly the rows the recipe scored on the GPU
// (models/recipe/prep.py `evalsets`, train.py `evaluate`): the group's files sorted by sha1,
// shuffled with Python's random.Random("1234/eval/{group}"), each laid out as
// `<|file_sep|>{path}\n{code}<|endoftext|>` (header and code tokenized separately), packed back to
// back into one stream and cut into 2049-token rows once it holds at least `rows` of them. Each row
// is scored from position 0 (its own fresh context), mean cross-entropy over its 2048 next-token
// predictions; every row the recipe made is scored, so the mean is comparable token for token.

import type { Model } from '../../src/engine/model';
import type { TokenizerLike } from '../../src/engine/types';
import type { Group, HeldoutDoc } from './heldout';
import { PyRandom } from './pyRandom';

/** prep.py: SEED and SEQ_LEN, and evalsets' default --plain-seqs. */
export const RECIPE_SEED = 1234;
export const SEQ_LEN = 2048;
export const RECIPE_PLAIN_ROWS = 32;

export interface PlainRows {
  /** [n][seqLen + 1] token ids (the recipe's seqLen is SEQ_LEN). */
  rows: Int32Array[];
  /** Files that went into the stream, in stream order. */
  files: string[];
}

/** The recipe's plain rows for a group (at least `minRows` of seqLen + 1 tokens, all of them returned). */
export function recipePlainRows(docs: readonly HeldoutDoc[], tokenizer: TokenizerLike, group: Group, minRows = RECIPE_PLAIN_ROWS, seqLen = SEQ_LEN): PlainRows {
  const fileSep = special(tokenizer, '<|file_sep|>');
  const eot = special(tokenizer, '<|endoftext|>');
  const order = [...docs].sort((a, b) => (a.sha < b.sha ? -1 : a.sha > b.sha ? 1 : 0));
  new PyRandom(`${RECIPE_SEED}/eval/${group}`).shuffle(order);
  const need = minRows * (seqLen + 1);
  const stream: number[] = [];
  const files: string[] = [];
  for (const d of order) {
    stream.push(fileSep, ...tokenizer.encode(`${d.path}\n`), ...tokenizer.encode(d.text), eot);
    files.push(d.path);
    if (stream.length >= need) break;
  }
  const n = Math.floor(stream.length / (seqLen + 1));
  const rows = Array.from({ length: n }, (_, r) => Int32Array.from(stream.slice(r * (seqLen + 1), (r + 1) * (seqLen + 1))));
  return { rows, files };
}

export interface RowLoss {
  /** Σ −ln p(target) over the row's predictions, nats. */
  nats: number;
  tokens: number;
  /** The same over targets that are text tokens (special ids excluded), and their UTF-8 bytes. */
  textNats: number;
  textBytes: number;
  textTokens: number;
}

/** Cross-entropy of one row: the model reads row[0 .. L−1) from position 0 and predicts row[1 .. L). */
export async function rowLoss(model: Model, tokenizer: TokenizerLike, row: Int32Array, signal?: AbortSignal): Promise<RowLoss> {
  const inputs = row.subarray(0, row.length - 1);
  const cache = model.createCache();
  const out = await model.forward(cache, { embeds: model.embed(inputs), positions: Array.from(inputs, (_, i) => i), logitRows: 'all', signal });
  const V = model.config.vocabSize;
  const specials = new Set(specialIds(tokenizer));
  let nats = 0;
  let textNats = 0;
  let textBytes = 0;
  let textTokens = 0;
  for (let i = 0; i < inputs.length; i++) {
    const target = row[i + 1];
    const nll = logSumExp(out.logits, i * V, V) - out.logits[i * V + target];
    nats += nll;
    if (!specials.has(target)) {
      textNats += nll;
      textBytes += tokenizer.tokenBytes(target).length;
      textTokens++;
    }
  }
  return { nats, tokens: inputs.length, textNats, textBytes, textTokens };
}

function logSumExp(x: Float32Array, start: number, n: number): number {
  let max = -Infinity;
  for (let i = start; i < start + n; i++) if (x[i] > max) max = x[i];
  let s = 0;
  for (let i = start; i < start + n; i++) s += Math.exp(x[i] - max);
  return max + Math.log(s);
}

function special(tokenizer: TokenizerLike, name: string): number {
  const id = tokenizer.specialId(name);
  if (id === undefined) throw new Error(`the tokenizer has no ${name}`);
  return id;
}

/** Ids of the Qwen2.5-Coder control tokens the tokenizer has (they carry no source bytes). */
export function specialIds(tokenizer: TokenizerLike): number[] {
  const names = ['<|endoftext|>', '<|fim_prefix|>', '<|fim_middle|>', '<|fim_suffix|>', '<|fim_pad|>', '<|file_sep|>', '<|repo_name|>'];
  return names.map((n) => tokenizer.specialId(n)).filter((id): id is number => id !== undefined);
}
