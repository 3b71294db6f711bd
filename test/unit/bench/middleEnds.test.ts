import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { discrimination, fimSequence, spanCase } from '../../../bench/middle-ends/run';
import type { HeldoutDoc } from '../../../bench/model/heldout';
import type { TokenizerLike } from '../../../src/engine/types';

const doc = (text: string): HeldoutDoc => ({ path: 'pkg/a.py', lang: 'python', text, sha: 'x' });

// One id per character (code point + 100); specials 0-6 by name.
const SPECIALS = ['<|endoftext|>', '<|fim_prefix|>', '<|fim_middle|>', '<|fim_suffix|>', '<|fim_pad|>', '<|file_sep|>', '<|repo_name|>'];
const charTok: TokenizerLike = {
  size: 1000,
  encode: (t) => [...t].map((c) => c.codePointAt(0)! + 100),
  decode: (ids) => Array.from(ids, (i) => (i < 100 ? SPECIALS[i] : String.fromCodePoint(i - 100))).join(''),
  tokenBytes: () => new Uint8Array(),
  specialId: (s) => (SPECIALS.includes(s) ? SPECIALS.indexOf(s) : undefined),
  eosIds: [0],
};

describe('bench/middle-ends', () => {
  const text = 'a = 1\nb = 2\nc = 3\nd = 4\ne = 5\n';

  it('a span gives the growing candidates; the suffix starts at the last line\'s newline', () => {
    const c = spanCase(doc(text), text.indexOf('b'), 3)!;
    assert.deepEqual(c.candidates, ['b = 2', 'b = 2\nc = 3', 'b = 2\nc = 3\nd = 4']);
    assert.equal(c.before, 'a = 1\n');
    assert.equal(c.after, '\ne = 5\n');
    assert.equal(c.before + c.candidates[2] + c.after, text, 'the right candidate restores the file');
  });

  it('skips spans with a blank line or past the end of the file', () => {
    assert.equal(spanCase(doc('a\n\nb\nc\n'), 0, 3), null);
    assert.equal(spanCase(doc(text), text.indexOf('d'), 3), null);
  });

  it('windows are cut at line boundaries', () => {
    const long = `${'x = 0\n'.repeat(100)}y = 1\nz = 2\n${'w = 0\n'.repeat(100)}`;
    const c = spanCase(doc(long), long.indexOf('y'), 2, 30, 20)!;
    assert.ok(c.before.length <= 30 && c.before.startsWith('x') && c.before.endsWith('\n'));
    assert.ok(c.after.length <= 20 && c.after.startsWith('\nw') && c.after.endsWith('\n'));
  });

  it('lays the candidate out as the recipe does (prep.py assemble), end token left out', () => {
    const c = spanCase(doc(text), text.indexOf('b'), 2)!;
    assert.equal(charTok.decode(fimSequence(charTok, 'spm', c, 'b = 2')), '<|file_sep|>pkg/a.py\n<|fim_prefix|><|fim_suffix|>\nd = 4\ne = 5\n<|fim_middle|>a = 1\nb = 2');
    assert.equal(charTok.decode(fimSequence(charTok, 'psm', c, 'b = 2')), '<|file_sep|>pkg/a.py\n<|fim_prefix|>a = 1\n<|fim_suffix|>\nd = 4\ne = 5\n<|fim_middle|>b = 2');
  });

  it('AUC and "right is highest" count ties as half and as a miss', () => {
    const d = discrimination([
      [-5, -4, -1], // right end best of all: AUC 1
      [-1, -3, -2], // above one of two: 0.5
      [-2, -2, -2], // ties: 0.5, not highest
    ]);
    assert.equal(d.auc, 0.667);
    assert.equal(d.rightIsHighest, 33.3);
    assert.equal(d.chance, 33.3);
    assert.ok(d.aucCi95[0] <= d.auc && d.auc <= d.aucCi95[1]);
    assert.equal(d.medianPEndRight, Number(Math.exp(-2).toPrecision(3)));
    assert.throws(() => discrimination([[-1]]), /two candidates/);
  });
});
