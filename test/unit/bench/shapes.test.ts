import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadCheckpoint } from '../../../src/engine/checkpoint';
import { intermediateOf, paramCount, parseShape, run as shapes } from '../../../bench/shapes/run';
import { run as quantization } from '../../../bench/quantization/run';
import { run as middleEnds } from '../../../bench/middle-ends/run';
import { writeTinyCheckpoint } from '../../fixtures/tinyModel';

const tmp = mkdtempSync(join(tmpdir(), 'slip-shapes-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('bench/shapes', () => {
  it('the shipped shape has the shipped MLP width and parameter count', () => {
    assert.equal(intermediateOf(512), 1408);
    assert.equal(paramCount(parseShape('d512x8')).total, 30_358_016, 'models/README.md: 30,358,016 parameters');
  });

  it('parameter count equals the tensors of a written checkpoint of that shape', async () => {
    const s = parseShape('d256x3');
    const ck = await loadCheckpoint(
      writeTinyCheckpoint(join(tmp, 'm'), { family: 'qwen2', tied: true, hidden: 256, layers: 3, heads: 4, kvHeads: 2, intermediate: intermediateOf(256), vocabSize: 15232 }).dir,
    );
    const total = ck.weights.names().reduce((n, name) => n + ck.weights.get(name).data.length, 0);
    assert.equal(paramCount(s).total, total);
  });

  it('refuses shapes it cannot build', () => {
    assert.throws(() => parseShape('640x8'), /dHIDDENxLAYERS/);
    assert.throws(() => parseShape('d600x8'), /multiple of 128/);
  });
});

describe('bench runners refuse misspelt flags (a long run would otherwise measure the defaults)', () => {
  it('shapes, quantization and middle-ends', async () => {
    await assert.rejects(shapes(['--round', '3']), /bench shapes: unknown flag --round \(known: .*--rounds/);
    await assert.rejects(quantization(['--bit', '8']), /bench quantization: unknown flag --bit/);
    await assert.rejects(middleEnds(['--line', '2']), /bench middle-ends: unknown flag --line/);
  });
});
