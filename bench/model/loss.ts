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

/**
 * The recipe's evaluation order of a group's files (sorted by sha1, then shuffled) and the
 * generator in the state the shuffle left it, which the FIM examples then draw from.
 */
export function recipeEvalOrder(docs: readonly HeldoutDoc[], group: Group): { order: HeldoutDoc[]; rng: PyRandom } {
  const order = [...docs].sort((a, b) => (a.sha < b.sha ? -1 : a.sha > b.sha ? 1 : 0));
  const rng = new PyRandom(`${RECIPE_SEED}/eval/${group}`);
  rng.shuffle(order);
  return { order, rng };
}

/** The recipe's plain rows for a group (at least `minRows` of seqLen + 1 tokens, all of them returned). */
export function recipePlainRows(docs: readonly HeldoutDoc[], tokenizer: TokenizerLike, group: Group, minRows = RECIPE_PLAIN_ROWS, seqLen = SEQ_LEN): PlainRows {
  const fileSep = special(tokenizer, '<|file_sep|>');
  const eot = special(tokenizer, '<|endoftext|>');
  const { order } = recipeEvalOrder(docs, group);
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
  /** Targets that are the model's top-1 choice. */
  top1: number;
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
  let top1 = 0;
  for (let i = 0; i < inputs.length; i++) {
    const target = row[i + 1];
    const nll = logSumExp(out.logits, i * V, V) - out.logits[i * V + target];
    nats += nll;
    if (argmax(out.logits, i * V, V) === target) top1++;
    if (!specials.has(target)) {
      textNats += nll;
      textBytes += tokenizer.tokenBytes(target).length;
      textTokens++;
    }
  }
  return { nats, tokens: inputs.length, textNats, textBytes, textTokens, top1 };
}

/** ln Σ exp(x[start .. start + n)): one row's log-partition. */
export function logSumExp(x: Float32Array, start: number, n: number): number {
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

// ---------------------------------------------------------------------------------------------
// FIM middles: prep.py evalsets' second half. For each file in the evaluation order (the same
// generator, continuing after the shuffle): the first ≤ 3000-character piece of the file
// (split_chunks), an editor-like middle drawn by choose_span with kind weights (0, 0, .5, .5)
// — the rest of a line from a column at or after its indentation, or 1–6 whole lines from the
// line start or from its indentation — as PSM
// `<|file_sep|>{path}\n<|fim_prefix|>{pre}<|fim_suffix|>{suf}<|fim_middle|>{mid}<|endoftext|>`,
// skipping empty middles and examples over 2049 tokens, until 128. The loss is over the middle's
// tokens and the <|endoftext|>. Python indexes strings by code point, so the spans are drawn on
// code point arrays; splitlines and isspace follow Python's definitions.
// ---------------------------------------------------------------------------------------------

export const RECIPE_FIM_EXAMPLES = 128;
const FIM_CHUNK_CHARS = 3000;

/** Python's str.splitlines(keepends=True) boundaries. */
const PY_LINE_BREAK = /\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]/g;
/** Python's str.isspace() characters. */
const PY_SPACE = /^[\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/u;

function pySplitLinesKeepEnds(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  for (const m of text.matchAll(PY_LINE_BREAK)) {
    const end = (m.index ?? 0) + m[0].length;
    out.push(text.slice(start, end));
    start = end;
  }
  if (start < text.length) out.push(text.slice(start));
  return out;
}

/** prep.py split_chunks (lengths in code points). */
export function splitChunks(text: string, maxChars: number): string[] {
  const len = (s: string): number => [...s].length;
  if (len(text) <= maxChars) return [text];
  const out: string[] = [];
  let cur: string[] = [];
  let n = 0;
  for (const line of pySplitLinesKeepEnds(text)) {
    const l = len(line);
    if (n + l > maxChars && cur.length > 0) {
      out.push(cur.join(''));
      cur = [];
      n = 0;
    }
    cur.push(line);
    n += l;
  }
  if (cur.length > 0) out.push(cur.join(''));
  return out;
}

/** prep.py choose_span with kind weights (0, 0, .5, .5), on code points: [start, end). */
export function chooseEditorSpan(rng: PyRandom, cps: readonly string[]): [number, number] {
  const n = cps.length;
  const r = rng.random();
  const starts = [0];
  for (let i = 0; i < n; i++) if (cps[i] === '\n' && i + 1 < n) starts.push(i + 1);
  const i = rng.randrange(starts.length);
  const s = starts[i];
  let e = cps.indexOf('\n', s);
  if (e < 0) e = n;
  let indent = 0;
  while (s + indent < e && PY_SPACE.test(cps[s + indent])) indent++;
  const lineLen = e - s;
  if (r < 0.5) {
    const col = lineLen > indent ? rng.randint(indent, lineLen) : lineLen;
    return [s + col, e];
  }
  const k = rng.randint(1, 6);
  const j = Math.min(i + k, starts.length);
  const end = j < starts.length ? starts[j] : n;
  const start = rng.random() < 0.5 ? s + indent : s;
  return [start, Math.max(start, end)];
}

export interface FimExample {
  path: string;
  /** The whole PSM example, middle and <|endoftext|> included. */
  tokens: number[];
  /** Middle tokens + 1 (the <|endoftext|>): the scored targets are the last `scored` tokens. */
  scored: number;
  middle: string;
  /** The example's parts: `<|file_sep|>{path}\n`, prefix and middle token ids. */
  header: number[];
  prefix: number[];
  suffix: number[];
  middleIds: number[];
}

/** The recipe's FIM-middle examples of a group. */
export function recipeFimExamples(docs: readonly HeldoutDoc[], tokenizer: TokenizerLike, group: Group, max = RECIPE_FIM_EXAMPLES, seqLen = SEQ_LEN): FimExample[] {
  const sp = {
    fs: special(tokenizer, '<|file_sep|>'),
    fp: special(tokenizer, '<|fim_prefix|>'),
    fsu: special(tokenizer, '<|fim_suffix|>'),
    fm: special(tokenizer, '<|fim_middle|>'),
    eot: special(tokenizer, '<|endoftext|>'),
  };
  const { order, rng } = recipeEvalOrder(docs, group);
  const out: FimExample[] = [];
  for (const d of order) {
    if (out.length >= max) break;
    const cps = [...splitChunks(d.text, FIM_CHUNK_CHARS)[0]];
    const [a, b] = chooseEditorSpan(rng, cps);
    if (b <= a) continue;
    const mid = cps.slice(a, b).join('');
    const header = [sp.fs, ...tokenizer.encode(`${d.path}\n`)];
    const prefix = tokenizer.encode(cps.slice(0, a).join(''));
    const middleIds = tokenizer.encode(mid);
    const suffix = tokenizer.encode(cps.slice(b).join(''));
    const tokens = [...header, sp.fp, ...prefix, sp.fsu, ...suffix, sp.fm, ...middleIds, sp.eot];
    if (tokens.length > seqLen + 1) continue;
    out.push({ path: d.path, tokens, scored: middleIds.length + 1, middle: mid, header, prefix, suffix, middleIds });
  }
  return out;
}

/** Per scored target, in order: −ln p(target) and whether it is the model's top-1 choice. */
export interface TargetScores {
  nll: number[];
  top1: boolean[];
}

/** Scores the last `scored` tokens of `seq`, each read after everything before it from position 0. */
async function scoreTail(model: Model, seq: readonly number[], scored: number, signal?: AbortSignal): Promise<TargetScores> {
  const inputs = seq.slice(0, -1);
  const first = inputs.length - scored;
  const rows = Array.from({ length: scored }, (_, i) => first + i);
  const out = await model.forward(model.createCache(), { embeds: model.embed(inputs), positions: inputs.map((_, i) => i), logitRows: rows, signal });
  const V = model.config.vocabSize;
  const nll: number[] = [];
  const top1: boolean[] = [];
  rows.forEach((row, r) => {
    const target = seq[row + 1];
    nll.push(logSumExp(out.logits, r * V, V) - out.logits[r * V + target]);
    top1.push(argmax(out.logits, r * V, V) === target);
  });
  return { nll, top1 };
}

/** A FIM example's middle and end token as the recipe scores them (PSM, suffix before the middle). */
export function middleLoss(model: Model, ex: FimExample, signal?: AbortSignal): Promise<TargetScores> {
  return scoreTail(model, ex.tokens, ex.scored, signal);
}

/**
 * The same middle and end token in the SPM layout (prep.py assemble 'spm', the layout the model
 * declares and the product sends): `<|file_sep|>{path}\n<|fim_prefix|><|fim_suffix|>{suffix}<|fim_middle|>{prefix}{middle}<|endoftext|>`.
 * Same length as the PSM sequence (the same parts, reordered).
 */
export function middleLossSpm(model: Model, ex: FimExample, special: { fimPrefix: number; fimSuffix: number; fimMiddle: number; eot: number }, signal?: AbortSignal): Promise<TargetScores> {
  const seq = [...ex.header, special.fimPrefix, special.fimSuffix, ...ex.suffix, special.fimMiddle, ...ex.prefix, ...ex.middleIds, special.eot];
  return scoreTail(model, seq, ex.scored, signal);
}

/**
 * The same middle tokens (no end token) after the plain prefix alone,
 * `<|file_sep|>{path}\n{prefix}{middle}`: what the suffix adds, by difference.
 */
export function middleLossWithoutSuffix(model: Model, ex: FimExample, signal?: AbortSignal): Promise<TargetScores> {
  return scoreTail(model, [...ex.header, ...ex.prefix, ...ex.middleIds], ex.middleIds.length, signal);
}

/** Index (from `start`) of the largest of x[start .. start + n); the lowest wins ties. */
export function argmax(x: Float32Array, start: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (x[start + i] > x[start + best]) best = i;
  return best;
}
