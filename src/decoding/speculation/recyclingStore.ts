// Persistence of the Token Recycling matrix, one file per workspace: loaded lazily (first
// speculative request), saved a while after it changed and on shutdown. A missing, corrupt or
// foreign file (another tokenizer) is ignored with a log line and replaced on the next save:
// the matrix only ever decides how fast decoding is, never what it outputs.
//
// File format (little-endian), at most maxBytes (default 2 MiB):
//   'SLTR' | u32 version = 1 | u32 vocab | u32 K | u32 tokenizer fingerprint | u32 rows
//   rows × (u32 token, K × i32 successors), most recently written first
//   u32 CRC-32 of everything before it

import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { TokenizerLike } from '../../engine/types';
import { DebouncedFile } from '../../persistence/debouncedFile';
import { AdjacencyMatrix, RECYCLING_K } from './recycling';

export const RECYCLING_FILE = 'token-recycling.bin';
export const MAX_STATE_BYTES = 2 * 1024 * 1024;
const MAGIC = 0x52544c53; // 'SLTR' read as a little-endian u32
const VERSION = 1;
const HEADER = 24;
const ROW_BYTES = 4 + 4 * RECYCLING_K;

/** What the store logs through. */
export interface StoreLog {
  info(message: string): void;
  warn(message: string): void;
}

/** CRC-32 over every token's bytes: tells one tokenizer from another. */
export function tokenizerFingerprint(tokenizer: Pick<TokenizerLike, 'size' | 'tokenBytes'>): number {
  let crc = crc32(`vocab:${tokenizer.size}`);
  const sep = new Uint8Array([0xff]);
  for (let id = 0; id < tokenizer.size; id++) crc = crc32(sep, crc32(tokenizer.tokenBytes(id), crc));
  return crc >>> 0;
}

/** The matrix as file bytes: filled rows, newest first, as many as fit in maxBytes. */
export function encodeMatrix(matrix: AdjacencyMatrix, fingerprint: number, maxBytes = MAX_STATE_BYTES): Uint8Array {
  const rows: number[] = [];
  for (let t = 0; t < matrix.vocab; t++) if (matrix.data[t * RECYCLING_K] >= 0) rows.push(t);
  rows.sort((a, b) => matrix.stampOf(b) - matrix.stampOf(a) || a - b);
  const fit = Math.max(0, Math.floor((maxBytes - HEADER - 4) / ROW_BYTES));
  const n = Math.min(rows.length, fit);
  const buf = new Uint8Array(HEADER + n * ROW_BYTES + 4);
  const view = new DataView(buf.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, VERSION, true);
  view.setUint32(8, matrix.vocab, true);
  view.setUint32(12, RECYCLING_K, true);
  view.setUint32(16, fingerprint >>> 0, true);
  view.setUint32(20, n, true);
  let o = HEADER;
  for (let i = 0; i < n; i++) {
    const t = rows[i];
    view.setUint32(o, t, true);
    o += 4;
    for (let k = 0; k < RECYCLING_K; k++, o += 4) view.setInt32(o, matrix.data[t * RECYCLING_K + k], true);
  }
  view.setUint32(o, crc32(buf.subarray(0, o)) >>> 0, true);
  return buf;
}

/** File bytes → matrix; throws an Error that says what is wrong with them. */
export function decodeMatrix(buf: Uint8Array, vocab: number, fingerprint: number): AdjacencyMatrix {
  if (buf.length < HEADER + 4) throw new Error(`too short (${buf.length} bytes)`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (view.getUint32(0, true) !== MAGIC) throw new Error('not a token recycling file');
  const version = view.getUint32(4, true);
  if (version !== VERSION) throw new Error(`format version ${version}, expected ${VERSION}`);
  const stored = view.getUint32(buf.length - 4, true);
  if ((crc32(buf.subarray(0, buf.length - 4)) >>> 0) !== stored) throw new Error('checksum mismatch (damaged file)');
  const v = view.getUint32(8, true);
  const k = view.getUint32(12, true);
  if (v !== vocab || k !== RECYCLING_K) throw new Error(`made for vocab ${v} × ${k}, this model has ${vocab} × ${RECYCLING_K}`);
  if (view.getUint32(16, true) !== fingerprint >>> 0) throw new Error('made with another tokenizer');
  const n = view.getUint32(20, true);
  if (buf.length !== HEADER + n * ROW_BYTES + 4) throw new Error(`${n} rows need ${HEADER + n * ROW_BYTES + 4} bytes, the file has ${buf.length}`);
  const m = new AdjacencyMatrix(vocab);
  let o = HEADER;
  for (let i = 0; i < n; i++) {
    const t = view.getUint32(o, true);
    o += 4;
    if (t >= vocab) throw new Error(`row token ${t} outside the vocabulary`);
    const row = new Int32Array(RECYCLING_K);
    for (let j = 0; j < RECYCLING_K; j++, o += 4) {
      const s = view.getInt32(o, true);
      if (s < -1 || s >= vocab) throw new Error(`successor ${s} of token ${t} outside the vocabulary`);
      row[j] = s;
    }
    // Newest first in the file: stamps count down so the order survives the next save.
    m.setRow(t, row, n - i);
  }
  m.markSaved();
  return m;
}

export interface RecyclingStoreOptions {
  /** Folder of the file; undefined = in memory only (nothing read or written). */
  dir?: string;
  log?: StoreLog;
  /** Save this long after the matrix last changed, ms (default 30 000). */
  saveDelayMs?: number;
  maxBytes?: number;
}

/** Owns one workspace's matrix file: load once, debounced saves, flush on shutdown. */
export class RecyclingStore {
  private readonly saver: DebouncedFile;
  private matrix: AdjacencyMatrix | undefined;
  private fingerprint = 0;

  constructor(private readonly opts: RecyclingStoreOptions = {}) {
    this.saver = new DebouncedFile({
      file: opts.dir === undefined ? undefined : join(opts.dir, RECYCLING_FILE),
      label: 'token recycling',
      log: opts.log,
      saveDelayMs: opts.saveDelayMs,
      encode: () => {
        const m = this.matrix;
        if (!m || !m.dirty) return undefined;
        const bytes = encodeMatrix(m, this.fingerprint, this.opts.maxBytes);
        m.markSaved();
        return bytes;
      },
    });
  }

  get file(): string | undefined {
    return this.saver.file;
  }

  /** The persisted matrix, or an empty one when there is none usable. Never throws. */
  async load(vocab: number, fingerprint: number): Promise<AdjacencyMatrix> {
    this.fingerprint = fingerprint;
    const m = await this.saver.read((bytes) => decodeMatrix(bytes, vocab, fingerprint));
    if (m) this.opts.log?.info(`token recycling: loaded ${m.filledRows()} rows from ${this.file}`);
    this.matrix = m ?? new AdjacencyMatrix(vocab);
    return this.matrix;
  }

  /** The matrix changed: save it once it has been quiet for a while. */
  touch(): void {
    this.saver.touch();
  }

  /** Saves now when there is something new. Never throws (a failed save is logged). */
  flush(): Promise<void> {
    return this.saver.flush();
  }
}
