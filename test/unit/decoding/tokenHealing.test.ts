// Token healing, decoding side: which tail the rule backs off (real default-model tokenizer),
// the healing mask against a brute-force check over the whole vocabulary at every position of
// the tail, the fallback when nothing allowed is left, and stopping rules that count from the
// editor's cursor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { afterTail, healingProcessor, healingTail, stripTail, type HealingStats } from '../../../src/decoding/tokenHealing';
import { stopAtEndOfBlock, stopAtEndOfLine, type StoppingCriterion } from '../../../src/decoding/stopping';
import { VocabTrie } from '../../../src/decoding/monitors/vocabTrie';
import type { TokenizerLike } from '../../../src/engine/types';
import { defaultModelTokenizer, fixtureTokenizer } from '../monitors/helpers';
import { mulberry32 } from '../../fixtures/tinyModel';

const real = defaultModelTokenizer();
const enc = new TextEncoder();

function startsWith(b: Uint8Array, p: Uint8Array): boolean {
  if (b.length < p.length) return false;
  for (let i = 0; i < p.length; i++) if (b[i] !== p[i]) return false;
  return true;
}

test('the rule: the last token of the cursor line, when a longer token starts with it (default tokenizer)', { skip: real === null }, () => {
  const tok = real as TokenizerLike;
  const cases: [string, string][] = [
    ['        return len(self.', '.'], // a lone dot before a member
    ['        return self.ite', 'ite'], // mid-identifier
    ['    if x =', ' ='], // the start of `==`
    ['    if a <', ' <'], // the start of `<=`
    ['    x = foo(', '('],
    ['return a ', ''], // whitespace only: never
    ['        ', ''], // indentation: never
    ['', ''], // line start
  ];
  for (const [line, tail] of cases) assert.equal(healingTail(tok, line), tail, JSON.stringify(line));
  // Whitespace healing exists behind the option (bench/monitors measures it).
  assert.equal(healingTail(tok, 'return a ', { whitespace: true }), ' ');
  // A digit is a whole token here (digits are split one by one): nothing longer starts with it.
  const trie = VocabTrie.for(tok);
  assert.equal(trie.countStartingWith(enc.encode('7')), 1);
  assert.equal(healingTail(tok, 'x = 7'), '');
  // Never across a line break; the tail is always a suffix of the line.
  assert.equal(healingTail(tok, 'a.\nb'), '');
});

test('a tail holding part of a UTF-8 character is not healed', () => {
  // A tokenizer whose last token would be the first bytes of "é" only.
  const bytesOf = [enc.encode('x'), Uint8Array.of(0xc3), Uint8Array.of(0xc3, 0xa9), enc.encode('<|endoftext|>')];
  const tok: TokenizerLike = {
    size: 4,
    eosIds: [3],
    encode: () => [0, 1],
    decode: () => '',
    tokenBytes: (id) => bytesOf[id],
    specialId: () => undefined,
  };
  assert.equal(healingTail(tok, 'x\u00e9'), '');
});

test('healing mask = brute force over the vocabulary at every position of the tail (tokens that continue the tail or are a strict prefix of what is left)', () => {
  for (const tok of [fixtureTokenizer(), real].filter((t): t is NonNullable<typeof t> => t !== null)) {
    const trie = VocabTrie.for(tok);
    for (const tail of ['.', 'ite', ' =', '(self', 'self.it']) {
      const tb = enc.encode(tail);
      const proc = healingProcessor(tok, tail);
      // Generated prefixes: every way the tokenizer's own pieces can spell part of the tail.
      const prefixes: number[][] = [[]];
      for (let k = 1; k < tb.length; k++) prefixes.push(tok.encode(tail.slice(0, k)));
      for (const generated of prefixes) {
        let k = 0;
        for (const id of generated) k += tok.tokenBytes(id).length;
        const rest = tb.subarray(k);
        const logits = new Float32Array(tok.size).fill(0.5);
        proc(logits, { position: 0, generated });
        for (let id = 0; id < tok.size; id++) {
          const b = tok.tokenBytes(id);
          const exempt = trie.exempt[id] === 1;
          const want = !exempt && b.length > 0 && (startsWith(b, rest) || (b.length < rest.length && startsWith(rest, b)));
          assert.equal(logits[id] > Number.NEGATIVE_INFINITY, want, `tail ${JSON.stringify(tail)} after ${k} bytes: id ${id} ${JSON.stringify(new TextDecoder().decode(b))}`);
        }
      }
      // Spelled out: no constraint any more.
      const done = new Float32Array(tok.size).fill(0.5);
      proc(done, { position: 0, generated: tok.encode(`${tail}x`) });
      assert.ok(done.every((x) => x === 0.5));
    }
  }
});

test('end tokens are masked while the tail is owed; the mask never removes every token (fallback leaves the row alone)', () => {
  const tok = fixtureTokenizer();
  const stats: HealingStats = { constrained: 0, fallbacks: 0 };
  const proc = healingProcessor(tok, '.', stats);
  const eos = tok.eosIds[0];
  const row = new Float32Array(tok.size).fill(0);
  proc(row, { position: 0, generated: [] });
  assert.equal(row[eos], Number.NEGATIVE_INFINITY);
  assert.equal(stats.constrained, 1);
  // Only tokens that do not start with "." are left finite (another processor removed the rest).
  const allowed = VocabTrie.for(tok).idsStartingWith(enc.encode('.'));
  const bad = new Float32Array(tok.size).fill(1);
  for (const id of allowed) bad[id] = Number.NEGATIVE_INFINITY;
  const copy = Float32Array.from(bad);
  proc(bad, { position: 0, generated: [] });
  assert.deepEqual(bad, copy, 'unchanged');
  assert.equal(stats.fallbacks, 1);
  // After a fallback the generated text left the tail: nothing more is constrained, and the completion is empty.
  const later = new Float32Array(tok.size).fill(0);
  proc(later, { position: 1, generated: tok.encode('x') });
  assert.ok(later.every((x) => x === 0));
  assert.equal(stripTail('x = 1', '.'), '');
  assert.equal(stripTail('.items)', '.'), 'items)');
});

test('the mask is a function of the generated prefix only (any order of calls)', () => {
  const tok = fixtureTokenizer();
  const proc = healingProcessor(tok, 'self.it');
  const prefixes = [[], tok.encode('s'), tok.encode('sel'), tok.encode('self'), tok.encode('self.'), tok.encode('self.i')];
  const linear = prefixes.map((g) => {
    const row = new Float32Array(tok.size);
    proc(row, { position: 0, generated: g });
    return row;
  });
  const r = mulberry32(3);
  for (let n = 0; n < 30; n++) {
    const i = Math.floor(r() * prefixes.length);
    const row = new Float32Array(tok.size);
    proc(row, { position: 0, generated: prefixes[i] });
    assert.deepEqual(row, linear[i]);
  }
});

test('stopping rules judge the text after the tail: a `(` backed off at the cursor is a bracket from before the cursor', () => {
  const block: StoppingCriterion = stopAtEndOfBlock({ indent: 4, opensBlock: true });
  const text = '(a,\n        b)\n    c = 1';
  // Without the shift the tail's `(` counts as opened by the completion and the `)` closes it.
  const plain = block({ tokens: [1], text });
  assert.equal(plain && text.slice(0, plain.keep), '(a,\n        b)');
  const [shifted] = afterTail([block], '(');
  const v = shifted({ tokens: [1], text });
  assert.ok(v, 'the block ends at the closer of the bracket opened before the cursor');
  assert.equal(text.slice(0, v.keep), '(a,\n        b');
  // While the tail is being spelled the rules see no text; the line rule cuts after the tail.
  const [line] = afterTail([stopAtEndOfLine()], ' =');
  assert.equal(line({ tokens: [1], text: ' ' }), null);
  const cut = line({ tokens: [1, 2], text: ' = 1\nx' });
  assert.equal(cut && ' = 1\nx'.slice(0, cut.keep), ' = 1');
});
