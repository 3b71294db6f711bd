import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { compareExamples, compareMarkdown, readExamples, type ExampleScores } from '../../../bench/model/compare';
import { run } from '../../../bench/model/run';

const tmp = mkdtempSync(join(tmpdir(), 'slip-compare-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function rec(group: 'python' | 'ts', line: number, em: 0 | 1, es: number): ExampleScores {
  return { group, path: `${group}/f`, line, target: `t${line}`, scores: { spmFim: { model: { em, es } }, spmInfill: { model: { em: 0, es } } } };
}

describe('bench model --compare', () => {
  it('pairs the examples and reports candidate − base per language, task and overall', () => {
    const base = [rec('python', 1, 0, 0.2), rec('python', 2, 1, 1), rec('ts', 3, 0, 0.5), rec('ts', 4, 0, 0.5)];
    // the candidate's records in another order: matched by key, not by position
    const cand = [rec('ts', 4, 1, 1), rec('ts', 3, 1, 1), rec('python', 2, 1, 1), rec('python', 1, 1, 1)];
    const c = compareExamples(base, cand);
    assert.deepEqual(Object.keys(c), ['python', 'ts', 'all']);
    assert.equal(c.python!.spmFim.base.em, 50);
    assert.equal(c.python!.spmFim.candidate.em, 100);
    assert.equal(c.python!.spmFim.em, 50);
    assert.equal(c.python!.spmFim.es, 40);
    assert.equal(c.ts!.spmFim.em, 100);
    assert.deepEqual(c.ts!.spmFim.emCi95, [100, 100]);
    assert.equal(c.all!.spmFim.n, 4);
    assert.equal(c.all!.spmFim.em, 75);
    assert.equal(c.all!.spmFim.onlyCandidate, 3);
    assert.equal(c.all!.spmFim.onlyBase, 0);
    assert.equal(c.all!.spmInfill.em, 0);
    assert.match(compareMarkdown('a', 'b', c), /\| TS\/JS \| spmFim \| 2 \| 0 → 100 \| \+100 \[100, 100\]/);
  });

  it('refuses runs that drew different examples', () => {
    const base = [rec('python', 1, 0, 0.2), rec('python', 2, 1, 1)];
    assert.throws(() => compareExamples(base, [rec('python', 1, 0, 0.2)]), /different examples: python python\/f:2 is only in the base run/);
    assert.throws(() => compareExamples(base, [...base, rec('ts', 9, 0, 0)]), /1 only in the candidate run/);
  });

  it('reads example files and names the bad line', () => {
    const good = join(tmp, 'good.jsonl');
    writeFileSync(good, `${JSON.stringify(rec('python', 1, 1, 1))}\n\n`);
    assert.equal(readExamples(good).length, 1);
    const bad = join(tmp, 'bad.jsonl');
    writeFileSync(bad, `${JSON.stringify(rec('python', 1, 1, 1))}\n{"x":\n`);
    assert.throws(() => readExamples(bad), /bad\.jsonl:2: not JSON/);
    const other = join(tmp, 'other.jsonl');
    writeFileSync(other, '{"a":1}\n');
    assert.throws(() => readExamples(other), /other\.jsonl:1: not a bench model example record/);
  });
});

describe('bench model flags', () => {
  it('refuses a misspelt flag before loading anything', async () => {
    await assert.rejects(run(['--modle', 'x']), /unknown flag --modle/);
    await assert.rejects(run(['--compare', 'only-one.jsonl']), /--compare needs two files/);
  });
});
