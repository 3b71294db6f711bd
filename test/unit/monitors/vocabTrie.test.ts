// The trie's token mask equals a brute-force check of every token in the vocabulary.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import type { TokenizerLike } from '../../../src/engine/types';
import { identifierBytes, NameTrie, VocabTrie, type IdentifierSyntax } from '../../../src/decoding/monitors/vocabTrie';
import { defaultModelTokenizer, fixtureTokenizer } from './helpers';
import { mulberry32 } from '../../fixtures/tinyModel';

/** The rule, token by token (see VocabTrie.allowIdentifier). */
function bruteForce(
  trie: VocabTrie,
  size: number,
  typed: Uint8Array,
  names: Uint8Array[],
  ident: Uint8Array,
  opts: { lead?: Uint8Array; allowNumbers?: boolean; allowBreakStart?: boolean },
): Uint8Array {
  const out = new Uint8Array(size);
  const lead = opts.lead ?? new Uint8Array(0);
  const eq = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
  const isPrefix = (p: Uint8Array, of: Uint8Array): boolean => p.length <= of.length && p.every((x, i) => x === of[i]);
  for (let id = 0; id < size; id++) {
    if (trie.exempt[id]) continue;
    let t = trie.tokenBytes(id);
    if (lead.length > 0) {
      if (!isPrefix(lead, t)) {
        // Outside the rule, or a prefix of the lead itself.
        out[id] = 1;
        continue;
      }
      t = t.subarray(lead.length);
      if (t.length === 0) {
        out[id] = 1;
        continue;
      }
    }
    if (typed.length === 0 && t.length > 0) {
      if (opts.allowNumbers && t[0] >= 0x30 && t[0] <= 0x39) {
        out[id] = 1;
        continue;
      }
      if (opts.allowBreakStart && !ident[t[0]]) {
        out[id] = 1;
        continue;
      }
    }
    let k = 0;
    while (k < t.length && ident[t[k]]) k++;
    const s = new Uint8Array([...typed, ...t.subarray(0, k)]);
    out[id] = (k === t.length ? names.some((n) => isPrefix(s, n)) : names.some((n) => eq(s, n))) ? 1 : 0;
  }
  return out;
}

const rng = mulberry32;

function checkAgainstBruteForce(tokenizer: TokenizerLike, rounds: number): void {
  const trie = VocabTrie.for(tokenizer);
  assert.equal(VocabTrie.for(tokenizer), trie, 'cached per tokenizer');
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  const rand = rng(42);
  // Names drawn from the vocabulary's own identifier-like pieces, so they interact with real tokens.
  const words: string[] = [];
  for (let id = 0; id < tokenizer.size; id++) {
    const w = dec.decode(tokenizer.tokenBytes(id)).trim();
    if (/^[A-Za-z_][\w$]*$/.test(w)) words.push(w);
  }
  const pick = (): string => words[Math.floor(rand() * words.length)];
  for (let r = 0; r < rounds; r++) {
    const syntax: IdentifierSyntax = (['python', 'ecmascript', 'c'] as const)[r % 3];
    const ident = identifierBytes(syntax);
    const names = new Set<string>();
    // Sometimes thousands of names (the scope monitor's case), where the automatic walk goes token by token.
    const n = r % 5 === 4 ? 2000 : 1 + Math.floor(rand() * 40);
    for (let i = 0; i < n; i++) names.add(rand() < 0.5 ? pick() : pick() + pick());
    if (syntax === 'ecmascript') names.add('#priv' + pick());
    const list = [...names];
    const base = list[Math.floor(rand() * list.length)];
    const typedStr = rand() < 0.4 ? '' : base.slice(0, Math.floor(rand() * (base.length + 1)));
    const useLead = typedStr === '' && rand() < 0.4;
    const opts = {
      lead: useLead ? enc.encode(rand() < 0.5 ? '.' : ' ') : undefined,
      allowNumbers: rand() < 0.5,
      allowBreakStart: rand() < 0.5,
      // Both walks, and the automatic choice, must give the brute-force mask.
      walk: ([undefined, 'names', 'tokens'] as const)[Math.floor(r / 3) % 3],
    };
    const typed = enc.encode(typedStr);
    const got = new Uint8Array(tokenizer.size);
    trie.allowIdentifier(typed, NameTrie.from(list, ident), ident, got, opts);
    const want = bruteForce(trie, tokenizer.size, typed, list.map((x) => enc.encode(x)), ident, opts);
    for (let id = 0; id < tokenizer.size; id++) {
      if (trie.exempt[id]) continue;
      if (got[id] !== want[id]) {
        assert.fail(`round ${r}: token ${id} ${JSON.stringify(dec.decode(trie.tokenBytes(id)))} trie=${got[id]} brute=${want[id]} typed=${JSON.stringify(typedStr)} lead=${JSON.stringify(opts.lead ? dec.decode(opts.lead) : '')} names=${JSON.stringify(list.slice(0, 8))}`);
      }
    }
  }
}

test('trie mask equals brute force over the fixture tokenizer vocabulary', () => {
  checkAgainstBruteForce(fixtureTokenizer(), 300);
});

test('trie mask equals brute force over models/default/tokenizer.json (when present)', (t) => {
  const tok = defaultModelTokenizer();
  if (!tok) return t.skip('models/default/tokenizer.json not in this checkout');
  checkAgainstBruteForce(tok, 20);
});

test('end and control tokens are exempt from masks', () => {
  const tok = fixtureTokenizer();
  const trie = VocabTrie.for(tok);
  for (const id of tok.eosIds) assert.equal(trie.exempt[id], 1);
  const fim = tok.specialId('<|fim_middle|>');
  assert.ok(fim !== undefined && trie.exempt[fim] === 1);
});
