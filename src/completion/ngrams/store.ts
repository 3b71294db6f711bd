// Persistence of the workspace n-gram model's token lists, one file per workspace (the folder
// speculation uses): the counts are rebuilt from them at load (fast), and tokenizing the
// workspace again after a restart (slow: ~0.7 MB/s with the JS tokenizer) is skipped for every
// file whose text hash still matches. A missing, corrupt or foreign (other tokenizer) file is
// ignored with a log line and replaced on the next save: the n-grams only rank drafts.
//
// File format (little-endian), at most maxBytes (default 8 MiB), newest records first:
//   'SLNG' | u32 version = 1 | u32 tokenizer fingerprint | u32 records
//   records × (u16 path bytes, path UTF-8, u8 language bytes, language UTF-8,
//              u32 text hash (CRC-32 of the UTF-8 text), u32 n, n × u32 token)
//   u32 CRC-32 of everything before it

import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { DebouncedFile } from '../../persistence/debouncedFile';

export const NGRAM_FILE = 'ngrams.bin';
export const MAX_NGRAM_STATE_BYTES = 8 * 1024 * 1024;
const MAGIC = 0x474e4c53; // 'SLNG' read as a little-endian u32
const VERSION = 1;
const HEADER = 16;

export interface StoredTokens {
  path: string;
  languageId: string;
  /** CRC-32 of the text the tokens were made from. */
  textHash: number;
  tokens: Int32Array;
}

export interface NgramStoreLog {
  info(message: string): void;
  warn(message: string): void;
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

/** CRC-32 of a text's UTF-8 bytes: tells whether a file changed since its tokens were stored. */
export function textHash(text: string): number {
  return crc32(text) >>> 0;
}

/** Records as file bytes, in the order given (newest first), as many as fit in maxBytes. */
export function encodeTokenLists(records: readonly StoredTokens[], fingerprint: number, maxBytes = MAX_NGRAM_STATE_BYTES): Uint8Array {
  const parts: { path: Uint8Array; lang: Uint8Array; r: StoredTokens }[] = [];
  let size = HEADER + 4;
  for (const r of records) {
    const path = utf8.encode(r.path);
    const lang = utf8.encode(r.languageId);
    if (path.length > 0xffff || lang.length > 0xff) continue;
    const bytes = 2 + path.length + 1 + lang.length + 8 + 4 * r.tokens.length;
    if (size + bytes > maxBytes) break;
    size += bytes;
    parts.push({ path, lang, r });
  }
  const buf = new Uint8Array(size);
  const view = new DataView(buf.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, VERSION, true);
  view.setUint32(8, fingerprint >>> 0, true);
  view.setUint32(12, parts.length, true);
  let o = HEADER;
  for (const { path, lang, r } of parts) {
    view.setUint16(o, path.length, true);
    buf.set(path, o + 2);
    o += 2 + path.length;
    view.setUint8(o, lang.length);
    buf.set(lang, o + 1);
    o += 1 + lang.length;
    view.setUint32(o, r.textHash >>> 0, true);
    view.setUint32(o + 4, r.tokens.length, true);
    o += 8;
    for (let i = 0; i < r.tokens.length; i++, o += 4) view.setUint32(o, r.tokens[i], true);
  }
  view.setUint32(o, crc32(buf.subarray(0, o)) >>> 0, true);
  return buf;
}

/** File bytes → records; throws an Error that says what is wrong with them. */
export function decodeTokenLists(buf: Uint8Array, fingerprint: number, vocab: number): StoredTokens[] {
  if (buf.length < HEADER + 4) throw new Error(`too short (${buf.length} bytes)`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (view.getUint32(0, true) !== MAGIC) throw new Error('not an n-gram state file');
  const version = view.getUint32(4, true);
  if (version !== VERSION) throw new Error(`format version ${version}, expected ${VERSION}`);
  if ((crc32(buf.subarray(0, buf.length - 4)) >>> 0) !== view.getUint32(buf.length - 4, true)) throw new Error('checksum mismatch (damaged file)');
  if (view.getUint32(8, true) !== fingerprint >>> 0) throw new Error('made with another tokenizer');
  const n = view.getUint32(12, true);
  const out: StoredTokens[] = [];
  let o = HEADER;
  const need = (k: number) => {
    if (o + k > buf.length - 4) throw new Error(`record ${out.length} runs past the end`);
  };
  for (let i = 0; i < n; i++) {
    need(2);
    const pl = view.getUint16(o, true);
    need(2 + pl + 1);
    const path = fromUtf8.decode(buf.subarray(o + 2, o + 2 + pl));
    o += 2 + pl;
    const ll = view.getUint8(o);
    need(1 + ll + 8);
    const languageId = fromUtf8.decode(buf.subarray(o + 1, o + 1 + ll));
    o += 1 + ll;
    const hash = view.getUint32(o, true);
    const count = view.getUint32(o + 4, true);
    o += 8;
    need(4 * count);
    const tokens = new Int32Array(count);
    for (let j = 0; j < count; j++, o += 4) {
      const t = view.getUint32(o, true);
      if (t >= vocab) throw new Error(`token ${t} of ${path} outside the vocabulary (${vocab})`);
      tokens[j] = t;
    }
    out.push({ path, languageId, textHash: hash, tokens });
  }
  if (o !== buf.length - 4) throw new Error(`${buf.length - 4 - o} bytes after the last record`);
  return out;
}

export interface NgramStoreOptions {
  /** Folder of the file; undefined = memory only (nothing read or written). */
  dir?: string;
  log?: NgramStoreLog;
  /** Save this long after the last change, ms (default 30 000). */
  saveDelayMs?: number;
  maxBytes?: number;
}

/** Owns one workspace's n-gram file: load once, debounced saves, flush on shutdown. */
export class NgramStore {
  private readonly saver: DebouncedFile;
  private dirty = false;

  constructor(
    private readonly opts: NgramStoreOptions,
    /** The records to save, newest first (called at save time). */
    private readonly snapshot: () => StoredTokens[],
    private readonly fingerprint: () => number,
  ) {
    this.saver = new DebouncedFile({
      file: opts.dir === undefined ? undefined : join(opts.dir, NGRAM_FILE),
      label: 'n-grams',
      log: opts.log,
      saveDelayMs: opts.saveDelayMs,
      encode: () => {
        if (!this.dirty) return undefined;
        this.dirty = false;
        return encodeTokenLists(this.snapshot(), this.fingerprint(), this.opts.maxBytes);
      },
    });
  }

  get file(): string | undefined {
    return this.saver.file;
  }

  /** The stored records, or none when there is no usable file. Never throws. */
  async load(vocab: number): Promise<StoredTokens[]> {
    const records = await this.saver.read((bytes) => decodeTokenLists(bytes, this.fingerprint(), vocab));
    if (!records) return [];
    this.opts.log?.info(`n-grams: loaded ${records.length} token lists from ${this.file}`);
    return records;
  }

  /** Something changed: save once it has been quiet for a while. */
  touch(): void {
    this.dirty = true;
    this.saver.touch();
  }

  /** Saves now when something changed. Never throws (a failed save is logged). */
  flush(): Promise<void> {
    return this.saver.flush();
  }
}
