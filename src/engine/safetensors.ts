// safetensors reading (and writing, for fixtures and exports), hand-written.
//
// Why not a dependency: the format is an 8-byte little-endian header length, a JSON header
// ({ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__?: {..} }) and raw
// little-endian tensor bytes — about a hundred lines to read with full validation. The npm
// package named `safetensors` is a single 0.0.1 release (checked with `npm view safetensors`:
// one version, a vite scaffold, no documented API), and the official implementations are Rust
// and Python only. Writing it here also lets every malformed file produce a CheckpointError that
// names the file and the exact problem.
//
// Tensors are read lazily by positional reads, so a multi-GiB checkpoint never has to sit in
// memory twice (raw bytes + float32): only the float32 copies the caller asks for exist.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { endianness } from 'node:os';
import { basename } from 'node:path';
import { CheckpointError, type WeightStore, type WeightTensor } from './types';

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16';

const DTYPE_BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2 };

/** Dtypes the format defines that we refuse (listed so the message can say "unsupported", not "unknown"). */
const KNOWN_UNSUPPORTED = new Set(['F64', 'I64', 'I32', 'I16', 'I8', 'U64', 'U32', 'U16', 'U8', 'BOOL', 'F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F4', 'F6_E2M3', 'F6_E3M2', 'C64']);

/** The official implementation refuses headers over 100 MB; a bigger one is a corrupt length field. */
const MAX_HEADER_BYTES = 100_000_000;

if (endianness() !== 'LE') {
  // Float32Array views use host byte order while the file is little-endian.
  throw new Error('safetensors.ts assumes a little-endian host');
}

export interface TensorEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Byte offsets relative to the start of the data section (after 8 + headerLength bytes). */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** Absolute byte offset of the data section in the file: 8 + header length. */
  dataStart: number;
  tensors: Map<string, TensorEntry>;
  metadata: Record<string, string>;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isNonNegInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Reads the 8-byte little-endian header length; throws on values that cannot be a real header. */
export function readHeaderLength(file: string, first8: Uint8Array, fileSize: number): number {
  if (first8.length < 8 || fileSize < 8) {
    throw new CheckpointError(file, `file is ${fileSize} bytes, shorter than the 8-byte safetensors header length`);
  }
  const view = new DataView(first8.buffer, first8.byteOffset, 8);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) throw new CheckpointError(file, `header length ${n} is implausible (limit ${MAX_HEADER_BYTES}); not a safetensors file?`);
  const len = Number(n);
  if (8 + len > fileSize) {
    throw new CheckpointError(file, `file is ${fileSize} bytes, shorter than its header (8 + ${len} bytes); truncated or not a safetensors file`);
  }
  return len;
}

/**
 * Validates a header (the JSON bytes) against the file size: dtype, shape, offsets in range,
 * size = product(shape) × dtype bytes, no overlaps and no holes (as the official reader requires,
 * which rules out polyglot files), data section fully present.
 */
export function parseHeader(file: string, headerBytes: Uint8Array, fileSize: number): SafetensorsHeader {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (e) {
    throw new CheckpointError(file, `header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (!isRecord(json)) throw new CheckpointError(file, 'header JSON is not an object');
  const dataStart = 8 + headerBytes.length;
  const dataLen = fileSize - dataStart;
  const tensors = new Map<string, TensorEntry>();
  const metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (!isRecord(raw)) throw new CheckpointError(file, '__metadata__ is not an object');
      for (const [k, v] of Object.entries(raw)) {
        if (typeof v !== 'string') throw new CheckpointError(file, `__metadata__.${k} is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    if (!isRecord(raw)) throw new CheckpointError(file, `tensor ${name}: header entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = raw;
    if (typeof dtype !== 'string') throw new CheckpointError(file, `tensor ${name}: missing dtype`);
    if (!(dtype in DTYPE_BYTES)) {
      const what = KNOWN_UNSUPPORTED.has(dtype) ? 'unsupported' : 'unknown';
      throw new CheckpointError(file, `tensor ${name}: ${what} dtype ${dtype} (supported: F32, F16, BF16)`);
    }
    if (!Array.isArray(shape) || !shape.every(isNonNegInt)) throw new CheckpointError(file, `tensor ${name}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegInt)) {
      throw new CheckpointError(file, `tensor ${name}: data_offsets ${JSON.stringify(offsets)} is not [begin, end]`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) throw new CheckpointError(file, `tensor ${name}: data_offsets [${begin}, ${end}] has begin after end`);
    const dt = dtype as SafetensorsDtype;
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    const want = count * DTYPE_BYTES[dt];
    if (end - begin !== want) {
      throw new CheckpointError(file, `tensor ${name}: data_offsets span ${end - begin} bytes but shape [${(shape as number[]).join(', ')}] × ${dt} needs ${want}`);
    }
    tensors.set(name, { name, dtype: dt, shape: shape as number[], begin, end });
  }
  const sorted = [...tensors.values()].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let prev = '';
  for (const t of sorted) {
    if (t.begin < cursor) throw new CheckpointError(file, `tensor ${t.name}: data_offsets [${t.begin}, ${t.end}] overlap tensor ${prev} (ends at ${cursor})`);
    if (t.begin > cursor) throw new CheckpointError(file, `data section has a hole at bytes [${cursor}, ${t.begin}) before tensor ${t.name}`);
    cursor = t.end;
    prev = t.name;
  }
  if (cursor > dataLen) {
    throw new CheckpointError(file, `truncated: tensors need ${cursor} data bytes but the file holds ${dataLen} after the header`);
  }
  if (cursor < dataLen) throw new CheckpointError(file, `${dataLen - cursor} trailing bytes after the last tensor`);
  return { dataStart, tensors, metadata };
}

/** IEEE half → float32 bit patterns for all 65,536 inputs (256 KiB, built on first use). */
let f16Table: Uint32Array | null = null;

function buildF16Table(): Uint32Array {
  const table = new Uint32Array(65536);
  const scratch = new Float32Array(1);
  const scratchBits = new Uint32Array(scratch.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) {
      // Zero or subnormal: mant × 2^-24 is exact in float32; rebuild the bits from the value.
      scratch[0] = mant * 2 ** -24;
      table[h] = (sign | scratchBits[0]) >>> 0;
    } else if (exp === 31) {
      // Inf / NaN: keep the payload (shifted into the top of the float32 mantissa).
      table[h] = (sign | 0x7f800000 | (mant << 13)) >>> 0;
    } else {
      table[h] = (sign | ((exp - 15 + 127) << 23) | (mant << 13)) >>> 0;
    }
  }
  return table;
}

/** Converts raw little-endian bytes of `dtype` into a new Float32Array of `count` elements. */
export function toFloat32(dtype: SafetensorsDtype, raw: Uint8Array, count: number): Float32Array {
  const out = new Float32Array(count);
  if (dtype === 'F32') {
    new Uint8Array(out.buffer).set(raw.subarray(0, count * 4));
    return out;
  }
  const bits = new Uint32Array(out.buffer);
  if (dtype === 'BF16') {
    // bfloat16 is the top half of a float32.
    for (let i = 0, j = 0; i < count; i++, j += 2) bits[i] = ((raw[j] | (raw[j + 1] << 8)) << 16) >>> 0;
    return out;
  }
  const table = (f16Table ??= buildF16Table());
  for (let i = 0, j = 0; i < count; i++, j += 2) bits[i] = table[raw[j] | (raw[j + 1] << 8)];
  return out;
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** float32 → IEEE half bits, round to nearest even; overflow → ±Inf, NaN stays NaN. */
export function float32ToF16Bits(x: number): number {
  f32Scratch[0] = x;
  const b = u32Scratch[0];
  const sign = (b >>> 16) & 0x8000;
  const abs = b & 0x7fffffff;
  if (abs >= 0x7f800000) return sign | 0x7c00 | (abs > 0x7f800000 ? 0x200 | ((abs >>> 13) & 0x3ff) : 0);
  // 65520 is halfway between 65504 (largest half, odd mantissa) and 2^16: ties-to-even goes up.
  if (abs >= 0x477ff000) return sign | 0x7c00;
  if (abs < 0x38800000) {
    // Below 2^-14: subnormal half = round(|x| / 2^-24); the product is exact in float64.
    const v = Math.abs(f32Scratch[0]) * 2 ** 24;
    let r = Math.floor(v);
    const frac = v - r;
    if (frac > 0.5 || (frac === 0.5 && (r & 1) === 1)) r++;
    return sign | r;
  }
  let h = ((((abs >>> 23) - 127 + 15) << 10) | ((abs >>> 13) & 0x3ff)) >>> 0;
  const rest = abs & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++;
  return sign | h;
}

/** float32 → bfloat16 bits, round to nearest even; NaN stays a quiet NaN. */
export function float32ToBf16Bits(x: number): number {
  f32Scratch[0] = x;
  const b = u32Scratch[0];
  if ((b & 0x7fffffff) > 0x7f800000) return ((b >>> 16) | 0x40) & 0xffff;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

export interface TensorToWrite {
  name: string;
  shape: number[];
  /** Row-major values; stored converted to `dtype`. */
  data: Float32Array;
  dtype: SafetensorsDtype;
}

/** Serializes tensors (in the order given) into safetensors bytes; the header is space-padded to 8 bytes as the official writer does. */
export function serializeSafetensors(tensors: TensorToWrite[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new Error(`tensor ${t.name}: shape [${t.shape.join(', ')}] needs ${count} values, got ${t.data.length}`);
    const bytes = count * DTYPE_BYTES[t.dtype];
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += ' ';
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const t of tensors) {
    if (t.dtype === 'F32') {
      out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos);
      pos += t.data.byteLength;
      continue;
    }
    const conv = t.dtype === 'F16' ? float32ToF16Bits : float32ToBf16Bits;
    for (let i = 0; i < t.data.length; i++, pos += 2) {
      const h = conv(t.data[i]);
      out[pos] = h & 0xff;
      out[pos + 1] = h >>> 8;
    }
  }
  return out;
}

/** Parses a whole safetensors file held in memory into float32 tensors (tests, small files). */
export function parseSafetensors(bytes: Uint8Array, file = 'model.safetensors'): { tensors: Map<string, WeightTensor>; metadata: Record<string, string> } {
  const len = readHeaderLength(file, bytes.subarray(0, 8), bytes.length);
  const header = parseHeader(file, bytes.subarray(8, 8 + len), bytes.length);
  const tensors = new Map<string, WeightTensor>();
  for (const t of header.tensors.values()) {
    const raw = bytes.subarray(header.dataStart + t.begin, header.dataStart + t.end);
    tensors.set(t.name, { shape: t.shape, data: toFloat32(t.dtype, raw, (t.end - t.begin) / DTYPE_BYTES[t.dtype]) });
  }
  return { tensors, metadata: header.metadata };
}

function readExactly(fd: number, file: string, length: number, position: number): Uint8Array {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) throw new CheckpointError(file, `truncated: expected ${length} bytes at offset ${position}, got ${done}`);
    done += n;
  }
  return buf;
}

/** One safetensors file on disk: its validated header; tensor data is read on demand. */
export class SafetensorsFile {
  private constructor(
    /** Absolute path. */
    readonly path: string,
    readonly header: SafetensorsHeader,
  ) {}

  /** The file name used in error messages. */
  get file(): string {
    return basename(this.path);
  }

  /** Reads and validates the header only (fast even for multi-GiB files). */
  static open(path: string): SafetensorsFile {
    const file = basename(path);
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (e) {
      throw new CheckpointError(file, `cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    try {
      const size = fstatSync(fd).size;
      const first8 = size >= 8 ? readExactly(fd, file, 8, 0) : new Uint8Array(0);
      const len = readHeaderLength(file, first8, size);
      return new SafetensorsFile(path, parseHeader(file, readExactly(fd, file, len, 8), size));
    } finally {
      closeSync(fd);
    }
  }

  /** Reads one tensor and converts it to float32. Throws CheckpointError naming this file when absent. */
  read(name: string): WeightTensor {
    const t = this.header.tensors.get(name);
    if (!t) throw new CheckpointError(this.file, `missing tensor ${name}`);
    const fd = openSync(this.path, 'r');
    try {
      const raw = readExactly(fd, this.file, t.end - t.begin, this.header.dataStart + t.begin);
      return { shape: [...t.shape], data: toFloat32(t.dtype, raw, (t.end - t.begin) / DTYPE_BYTES[t.dtype]) };
    } finally {
      closeSync(fd);
    }
  }
}

/**
 * WeightStore over one or more safetensors files (shards). Every get() reads and converts
 * afresh and returns a new array the caller owns: callers that need a weight repeatedly keep it.
 */
export class SafetensorsWeightStore implements WeightStore {
  private readonly where = new Map<string, SafetensorsFile>();

  /**
   * @param files the opened files (one, or the shards)
   * @param indexFile the name used for "missing tensor" errors (the index json for shards)
   * @param weightMap for shards: tensor name → shard file name, as in the index; tensors are
   *   looked up only in the shard the index names (a name in the index but not in its shard is an error)
   */
  constructor(
    readonly files: SafetensorsFile[],
    private readonly indexFile: string,
    weightMap?: Record<string, string>,
  ) {
    if (weightMap) {
      const byName = new Map(files.map((f) => [f.file, f]));
      for (const [name, shardName] of Object.entries(weightMap)) {
        const shard = byName.get(shardName);
        if (!shard) throw new CheckpointError(indexFile, `weight_map names shard ${shardName} for ${name}, which was not opened`);
        if (!shard.header.tensors.has(name)) throw new CheckpointError(shardName, `missing tensor ${name} (the index ${indexFile} places it in this shard)`);
        this.where.set(name, shard);
      }
    } else {
      for (const f of files) {
        for (const name of f.header.tensors.keys()) {
          const prev = this.where.get(name);
          if (prev) throw new CheckpointError(f.file, `tensor ${name} is also in ${prev.file}`);
          this.where.set(name, f);
        }
      }
    }
  }

  names(): string[] {
    return [...this.where.keys()];
  }

  has(name: string): boolean {
    return this.where.has(name);
  }

  /** Shape without reading data; undefined when absent. */
  shape(name: string): number[] | undefined {
    const f = this.where.get(name);
    const t = f?.header.tensors.get(name);
    return t ? [...t.shape] : undefined;
  }

  /** Which file holds a tensor (for error messages). */
  fileOf(name: string): string {
    return this.where.get(name)?.file ?? this.indexFile;
  }

  dtype(name: string): SafetensorsDtype | undefined {
    return this.where.get(name)?.header.tensors.get(name)?.dtype;
  }

  get(name: string): WeightTensor {
    const f = this.where.get(name);
    if (!f) throw new CheckpointError(this.indexFile, `missing tensor ${name}`);
    return f.read(name);
  }
}
