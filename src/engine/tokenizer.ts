// Byte-level BPE tokenizer (tokenizer.json, as Qwen2 / Llama-3 / DeepSeek-Coder ship it) over
// the `@huggingface/tokenizers` package for encoding, with our own byte tables for tokenBytes,
// decode and streaming.
//
// Two deliberate departures from calling the package directly:
// - Special tokens are removed from the encoder's added_tokens, so special-token text inside a
//   user's file ("<|endoftext|>" in a tokenizer's own source, say) is encoded as ordinary bytes
//   instead of becoming a control id (HF's `split_special_tokens=True`). Prompts insert special
//   ids explicitly through specialId(). Non-special added tokens still match, as in HF.
// - decode() concatenates token bytes and decodes UTF-8 once (invalid bytes → U+FFFD, like
//   Rust's from_utf8_lossy in HF's ByteLevel decoder). The package's decode would also apply
//   `clean_up_tokenization_spaces` (" ." → "."), which breaks source text.

import { Tokenizer } from '@huggingface/tokenizers';
import { CheckpointError, type TokenizerLike } from './types';

const FILE = 'tokenizer.json';

/**
 * GPT-2's byte ↔ unicode map: printable Latin-1 bytes stand for themselves, the other 68 bytes
 * are shifted to U+0100.. so every byte is a visible character in vocab strings.
 * `order` is the byte order of GPT-2's first 256 vocab entries (printable ones first).
 */
function buildByteLevelMap(): { byteToChar: string[]; order: number[]; charToByte: Int16Array } {
  const order: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) order.push(b);
  for (let b = 0xa1; b <= 0xac; b++) order.push(b);
  for (let b = 0xae; b <= 0xff; b++) order.push(b);
  const printable = new Set(order);
  const byteToChar = new Array<string>(256);
  for (const b of order) byteToChar[b] = String.fromCharCode(b);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    if (!printable.has(b)) {
      order.push(b);
      byteToChar[b] = String.fromCharCode(next++);
    }
  }
  // Code points used are < 256 + 68; -1 marks "not a byte-level character".
  const charToByte = new Int16Array(next).fill(-1);
  for (let b = 0; b < 256; b++) charToByte[byteToChar[b].charCodeAt(0)] = b;
  return { byteToChar, order, charToByte };
}

const BYTE_LEVEL = buildByteLevelMap();

/** byte → its byte-level character (index = byte value). */
export const BYTE_TO_UNICODE: readonly string[] = BYTE_LEVEL.byteToChar;
/** Bytes in GPT-2 vocab order (ids 0..255 of a byte-level BPE trained by HF tokenizers). */
export const BYTE_LEVEL_ORDER: readonly number[] = BYTE_LEVEL.order;

const utf8 = new TextEncoder();

/**
 * Bytes of a vocab string: each character through the byte-level map. A string with a character
 * outside the map falls back to its UTF-8, as HF's ByteLevel decoder does.
 */
export function byteLevelStringToBytes(token: string): Uint8Array {
  const out = new Uint8Array(token.length);
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    const b = c < BYTE_LEVEL.charToByte.length ? BYTE_LEVEL.charToByte[c] : -1;
    if (b < 0) return utf8.encode(token);
    out[i] = b;
  }
  return out;
}

interface AddedTokenJson {
  id: number;
  content: string;
  special?: boolean;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** True when the decoder (or one step of a Sequence decoder) is ByteLevel. */
function hasByteLevelDecoder(decoder: unknown): boolean {
  if (!isRecord(decoder)) return false;
  if (decoder.type === 'ByteLevel') return true;
  return decoder.type === 'Sequence' && Array.isArray(decoder.decoders) && decoder.decoders.some(hasByteLevelDecoder);
}

export interface TokenizerOptions {
  /** End-of-generation ids from config.json (eos_token_id). */
  eosIds?: number[];
  /** Parsed tokenizer_config.json; only `eos_token` is read from it. */
  tokenizerConfig?: unknown;
}

/** Names of end-of-text tokens that end generation whenever the vocabulary has them. */
const EOS_NAMES = ['<|endoftext|>'];

export class ByteLevelBpeTokenizer implements TokenizerLike {
  readonly size: number;
  readonly eosIds: number[];
  /** Ids of added tokens marked special. */
  readonly specialIds: ReadonlySet<number>;
  private readonly encoder: Tokenizer;
  /** [size] raw bytes per id; ids the vocabulary does not use hold an empty array. */
  private readonly bytes: Uint8Array[];
  private readonly added = new Map<string, number>();
  private readonly decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

  /** @param tokenizerJson parsed tokenizer.json */
  constructor(tokenizerJson: unknown, opts: TokenizerOptions = {}) {
    if (!isRecord(tokenizerJson)) throw new CheckpointError(FILE, 'not a JSON object');
    const model = tokenizerJson.model;
    if (!isRecord(model) || model.type !== 'BPE' || !isRecord(model.vocab)) {
      throw new CheckpointError(FILE, `model must be a BPE with a vocab (found ${JSON.stringify(isRecord(model) ? model.type : model)})`);
    }
    if (!hasByteLevelDecoder(tokenizerJson.decoder)) {
      throw new CheckpointError(FILE, 'only byte-level BPE tokenizers are supported (decoder ByteLevel, as in Qwen2 / Llama-3); SentencePiece-style tokenizers are not');
    }
    const addedRaw = tokenizerJson.added_tokens ?? [];
    if (!Array.isArray(addedRaw)) throw new CheckpointError(FILE, 'added_tokens is not a list');
    const added: AddedTokenJson[] = [];
    for (const t of addedRaw) {
      if (!isRecord(t) || typeof t.id !== 'number' || !Number.isSafeInteger(t.id) || t.id < 0 || typeof t.content !== 'string') {
        throw new CheckpointError(FILE, `malformed added token ${JSON.stringify(t)}`);
      }
      added.push({ id: t.id, content: t.content, special: t.special === true });
    }

    const text = new Map<number, string>();
    for (const [tok, id] of Object.entries(model.vocab)) {
      if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) throw new CheckpointError(FILE, `vocab entry ${JSON.stringify(tok)} has id ${JSON.stringify(id)}`);
      text.set(id, tok);
    }
    let maxId = -1;
    for (const id of text.keys()) maxId = Math.max(maxId, id);
    for (const t of added) maxId = Math.max(maxId, t.id);
    this.size = maxId + 1;

    this.bytes = new Array<Uint8Array>(this.size);
    const empty = new Uint8Array(0);
    for (let id = 0; id < this.size; id++) {
      const s = text.get(id);
      this.bytes[id] = s === undefined ? empty : byteLevelStringToBytes(s);
    }
    const special = new Set<number>();
    for (const t of added) {
      this.bytes[t.id] = utf8.encode(t.content);
      this.added.set(t.content, t.id);
      if (t.special) special.add(t.id);
    }
    this.specialIds = special;

    // The encoder never sees special tokens (see the file comment); the package's config
    // argument is left empty so that encoding depends on tokenizer.json alone, as in HF's Rust
    // tokenizers.
    const encoderJson = { ...tokenizerJson, added_tokens: addedRaw.filter((t: unknown) => !(isRecord(t) && t.special === true)) };
    try {
      this.encoder = new Tokenizer(encoderJson, {});
    } catch (e) {
      throw new CheckpointError(FILE, `cannot build the tokenizer (${(e as Error).message})`);
    }

    const eos = new Set<number>(opts.eosIds ?? []);
    for (const name of EOS_NAMES) {
      const id = this.added.get(name);
      if (id !== undefined) eos.add(id);
    }
    const cfg = opts.tokenizerConfig;
    if (isRecord(cfg)) {
      const e = cfg.eos_token;
      const name = typeof e === 'string' ? e : isRecord(e) && typeof e.content === 'string' ? e.content : undefined;
      const id = name === undefined ? undefined : this.added.get(name);
      if (id !== undefined) eos.add(id);
    }
    this.eosIds = [...eos].sort((a, b) => a - b);
  }

  encode(text: string): number[] {
    if (text.length === 0) return [];
    const ids = this.encoder.encode(text, { add_special_tokens: false }).ids;
    for (const id of ids) {
      // A byte-level BPE covers every byte; an undefined id means a broken vocab (missing byte token).
      if (id === undefined || id === null) throw new CheckpointError(FILE, 'the vocabulary cannot encode this text (a byte token is missing)');
    }
    return ids;
  }

  decode(ids: ArrayLike<number>): string {
    let total = 0;
    for (let i = 0; i < ids.length; i++) total += this.tokenBytes(ids[i]).length;
    const buf = new Uint8Array(total);
    let pos = 0;
    for (let i = 0; i < ids.length; i++) {
      const b = this.bytes[ids[i]];
      buf.set(b, pos);
      pos += b.length;
    }
    return this.decoder.decode(buf);
  }

  /** Raw bytes of one id; the returned array is shared: do not modify it. */
  tokenBytes(id: number): Uint8Array {
    const b = this.bytes[id];
    if (b === undefined || !Number.isInteger(id)) throw new RangeError(`token id ${id} is outside the vocabulary (size ${this.size})`);
    return b;
  }

  specialId(text: string): number | undefined {
    return this.added.get(text);
  }
}

/** Lead byte → sequence length (0 for bytes that cannot start a sequence). */
function utf8SequenceLength(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

/**
 * Streaming UTF-8 for generation: tokens split characters (an emoji is often 2–4 byte
 * tokens), so text is released only up to the last complete sequence; the incomplete tail
 * (≤ 3 bytes) waits for the next push. Invalid bytes become U+FFFD, as in decode().
 */
export class Utf8StreamDecoder {
  private pending = new Uint8Array(0);
  private readonly decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

  /** Bytes held back because they may start an incomplete character. */
  get pendingBytes(): number {
    return this.pending.length;
  }

  /** Adds bytes; returns the text that is now complete (possibly ''). */
  push(bytes: Uint8Array): string {
    let buf = bytes;
    if (this.pending.length > 0) {
      buf = new Uint8Array(this.pending.length + bytes.length);
      buf.set(this.pending);
      buf.set(bytes, this.pending.length);
    }
    const cut = this.completeLength(buf);
    this.pending = buf.slice(cut);
    return cut === 0 ? '' : this.decoder.decode(buf.subarray(0, cut));
  }

  /** Ends the stream: returns held-back bytes as text (U+FFFD for an incomplete character). */
  flush(): string {
    const rest = this.pending;
    this.pending = new Uint8Array(0);
    return rest.length === 0 ? '' : this.decoder.decode(rest);
  }

  /** Length of the prefix of `buf` that does not end inside a possibly valid multi-byte sequence. */
  private completeLength(buf: Uint8Array): number {
    const n = buf.length;
    // Only the last 3 bytes can belong to an unfinished sequence.
    for (let back = 1; back <= Math.min(3, n); back++) {
      const b = buf[n - back];
      if ((b & 0xc0) === 0x80) continue;
      const len = utf8SequenceLength(b);
      return len > back ? n - back : n;
    }
    return n;
  }
}
