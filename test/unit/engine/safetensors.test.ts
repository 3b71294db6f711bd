import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  float32ToBf16Bits,
  float32ToF16Bits,
  parseSafetensors,
  SafetensorsFile,
  serializeSafetensors,
  toFloat32,
  type SafetensorsDtype,
} from '../../../src/engine/safetensors';
import { CheckpointError } from '../../../src/engine/types';

const tmp = mkdtempSync(join(tmpdir(), 'slip-st-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Builds a file from a raw header object and a data section (for corruption cases). */
function rawFile(header: unknown, data: Uint8Array | number): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const body = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + body.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(body, 8 + json.length);
  return out;
}

function expectError(fn: () => unknown, problem: RegExp, file = 'model.safetensors'): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CheckpointError, `expected CheckpointError, got ${String(e)}`);
    assert.equal(e.file, file);
    assert.match(e.problem, problem);
    return true;
  });
}

function decodeBits(dtype: SafetensorsDtype, bits: number): number {
  return toFloat32(dtype, new Uint8Array([bits & 0xff, bits >>> 8]), 1)[0];
}

describe('safetensors dtype conversion', () => {
  it('decodes known f16 bit patterns exactly', () => {
    const cases: [number, number][] = [
      [0x3c00, 1],
      [0xc000, -2],
      [0x7bff, 65504],
      [0x0001, 2 ** -24],
      [0x03ff, 1023 * 2 ** -24],
      [0x0400, 2 ** -14],
      [0x3555, 0.333251953125],
      [0x7c00, Infinity],
      [0xfc00, -Infinity],
      [0x0000, 0],
    ];
    for (const [bits, value] of cases) assert.equal(decodeBits('F16', bits), value, `0x${bits.toString(16)}`);
    assert.ok(Object.is(decodeBits('F16', 0x8000), -0));
    assert.ok(Number.isNaN(decodeBits('F16', 0x7e00)));
  });

  it('decodes known bf16 bit patterns exactly', () => {
    const cases: [number, number][] = [
      [0x3f80, 1],
      [0x4049, 3.140625],
      [0xc2f7, -123.5],
      [0x0001, 2 ** -133],
      [0x7f7f, 3.3895313892515355e38],
      [0xff80, -Infinity],
    ];
    for (const [bits, value] of cases) assert.equal(decodeBits('BF16', bits), value, `0x${bits.toString(16)}`);
    assert.ok(Number.isNaN(decodeBits('BF16', 0x7fc0)));
  });

  it('f16 encode inverts decode for every non-NaN pattern', () => {
    for (let h = 0; h < 65536; h++) {
      const v = decodeBits('F16', h);
      if (Number.isNaN(v)) continue;
      assert.equal(float32ToF16Bits(v), h, `0x${h.toString(16)}`);
    }
  });

  it('rounds to nearest even when encoding', () => {
    assert.equal(float32ToF16Bits(1 + 2 ** -11), 0x3c00); // tie → even (down)
    assert.equal(float32ToF16Bits(1 + 3 * 2 ** -11), 0x3c02); // tie → even (up)
    assert.equal(float32ToF16Bits(65519), 0x7bff);
    assert.equal(float32ToF16Bits(65520), 0x7c00);
    assert.equal(float32ToF16Bits(2 ** -25), 0x0000); // subnormal tie → 0
    assert.equal(float32ToF16Bits(3 * 2 ** -25), 0x0002);
    assert.equal(float32ToF16Bits(-1e-10), 0x8000);
    assert.equal(float32ToBf16Bits(1 + 2 ** -8), 0x3f80);
    assert.equal(float32ToBf16Bits(1 + 3 * 2 ** -8), 0x3f82);
    assert.equal(float32ToBf16Bits(Number.NaN) & 0x7fc0, 0x7fc0);
  });
});

describe('safetensors round trip', () => {
  const a = Float32Array.from({ length: 24 }, (_, i) => (i - 11.5) / 7);
  const b = Float32Array.from([1, -2, 0.1, 65504, 3e-6, -0.33333]);
  for (const dtype of ['F32', 'F16', 'BF16'] as const) {
    it(`writes and reads ${dtype}`, () => {
      const bytes = serializeSafetensors(
        [
          { name: 'a', shape: [2, 3, 4], data: a, dtype },
          { name: 'b', shape: [6], data: b, dtype },
          { name: 'empty', shape: [0, 5], data: new Float32Array(0), dtype },
        ],
        { format: 'pt' },
      );
      // The header is padded so the data section starts 8-byte aligned (zero-copy views elsewhere).
      assert.equal(Number(new DataView(bytes.buffer).getBigUint64(0, true)) % 8, 0);
      const { tensors, metadata } = parseSafetensors(bytes);
      assert.deepEqual(metadata, { format: 'pt' });
      assert.deepEqual(tensors.get('a')!.shape, [2, 3, 4]);
      assert.deepEqual(tensors.get('empty')!.shape, [0, 5]);
      const round = (x: number) => (dtype === 'F32' ? Math.fround(x) : decodeBits(dtype, dtype === 'F16' ? float32ToF16Bits(x) : float32ToBf16Bits(x)));
      assert.deepEqual([...tensors.get('a')!.data], [...a].map(round));
      assert.deepEqual([...tensors.get('b')!.data], [...b].map(round));
      if (dtype !== 'F32') assert.notDeepEqual([...tensors.get('b')!.data], [...b]);
    });
  }

  it('reads lazily from disk', () => {
    const path = join(tmp, 'model.safetensors');
    writeFileSync(path, serializeSafetensors([{ name: 'w', shape: [2, 2], data: Float32Array.from([1, 2, 3, 4]), dtype: 'BF16' }]));
    const f = SafetensorsFile.open(path);
    assert.deepEqual([...f.read('w').data], [1, 2, 3, 4]);
    expectError(() => f.read('nope'), /missing tensor nope/);
  });
});

describe('safetensors corruption', () => {
  const ok = { w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };

  it('file shorter than the length field', () => {
    expectError(() => parseSafetensors(new Uint8Array(5)), /5 bytes, shorter than the 8-byte/);
  });
  it('header length past the end of the file', () => {
    const bytes = rawFile(ok, 8);
    new DataView(bytes.buffer).setBigUint64(0, 10_000n, true);
    expectError(() => parseSafetensors(bytes), /shorter than its header/);
  });
  it('absurd header length', () => {
    const bytes = rawFile(ok, 8);
    new DataView(bytes.buffer).setBigUint64(0, 1n << 60n, true);
    expectError(() => parseSafetensors(bytes), /implausible/);
  });
  it('header that is not JSON', () => {
    expectError(() => parseSafetensors(rawFile('{"w": [', 8)), /header is not valid UTF-8 JSON/);
  });
  it('header that is not an object', () => {
    expectError(() => parseSafetensors(rawFile('[1,2]', 0)), /not an object/);
  });
  it('unsupported dtype', () => {
    expectError(() => parseSafetensors(rawFile({ w: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, 8)), /tensor w: unsupported dtype I64/);
  });
  it('size different from shape × dtype', () => {
    expectError(() => parseSafetensors(rawFile({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8)), /span 8 bytes but shape \[3\] × F32 needs 12/);
  });
  it('bad shape and offsets', () => {
    expectError(() => parseSafetensors(rawFile({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 8] } }, 8)), /shape \[-1\]/);
    expectError(() => parseSafetensors(rawFile({ w: { dtype: 'F32', shape: [2], data_offsets: [8] } }, 8)), /data_offsets \[8\] is not \[begin, end\]/);
    expectError(() => parseSafetensors(rawFile({ w: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, 8)), /begin after end/);
  });
  it('overlapping tensors', () => {
    const h = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } };
    expectError(() => parseSafetensors(rawFile(h, 12)), /tensor b: .* overlap tensor a/);
  });
  it('hole between tensors', () => {
    const h = { a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } };
    expectError(() => parseSafetensors(rawFile(h, 12)), /hole at bytes \[4, 8\)/);
  });
  it('offsets past the end of the data (truncated file)', () => {
    expectError(() => parseSafetensors(rawFile(ok, 5)), /truncated: tensors need 8 data bytes but the file holds 5/);
  });
  it('truncated file on disk names the file', () => {
    const good = serializeSafetensors([{ name: 'w', shape: [64], data: new Float32Array(64), dtype: 'F32' }]);
    const path = join(tmp, 'cut.safetensors');
    writeFileSync(path, good.subarray(0, good.length - 10));
    expectError(() => SafetensorsFile.open(path), /truncated/, 'cut.safetensors');
  });
  it('trailing bytes', () => {
    expectError(() => parseSafetensors(rawFile(ok, 9)), /1 trailing bytes/);
  });
});
