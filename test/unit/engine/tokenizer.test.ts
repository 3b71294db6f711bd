import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { Tokenizer } from '@huggingface/tokenizers';
import { byteLevelStringToBytes, ByteLevelBpeTokenizer, BYTE_TO_UNICODE, Utf8StreamDecoder } from '../../../src/engine/tokenizer';
import { CheckpointError } from '../../../src/engine/types';
import { CODE_CORPUS } from '../../fixtures/codeCorpus';
import { tinyTokenizerJson } from '../../fixtures/tinyModel';

const fixture = tinyTokenizerJson();
const tok = new ByteLevelBpeTokenizer(fixture.json, { eosIds: [] });
const utf8 = new TextEncoder();

const TRICKY = [
  '',
  'x',
  'def f(a, b):\r\n\treturn a + b\r\n',
  '    \t  \n\n\n  trailing spaces   ',
  'naïve café — “quotes” – ∑ ≠ λ→μ 中文字符 日本語 한국어',
  'emoji 😀👍🏽 👨‍👩‍👧‍👦 flags 🇫🇷 and a lone ZWJ \u200d',
  'decomposed e\u0301 vs é; NBSP\u00a0here; BOM\ufeff; nul\u0000char',
  "it's we'll THEY'RE I'M 'd",
  '0123456789 3.14159e-10 0xFFEE',
  CODE_CORPUS,
];

describe('ByteLevelBpeTokenizer', () => {
  it('round-trips tricky text exactly', () => {
    for (const s of TRICKY) assert.equal(tok.decode(tok.encode(s)), s, JSON.stringify(s.slice(0, 40)));
  });

  it('token bytes concatenate to the UTF-8 of the text', () => {
    for (const s of TRICKY) {
      const parts = tok.encode(s).map((id) => tok.tokenBytes(id));
      assert.deepEqual(Buffer.concat(parts), Buffer.from(utf8.encode(s)));
    }
  });

  it('compresses code with the learned merges', () => {
    const ids = tok.encode(CODE_CORPUS);
    assert.ok(ids.length < utf8.encode(CODE_CORPUS).length / 2, `${ids.length} tokens`);
    assert.ok(ids.every((id) => id >= 0 && id < tok.size));
  });

  it('special-token text in plain text stays plain text', () => {
    const eot = tok.specialId('<|endoftext|>')!;
    const fim = tok.specialId('<|fim_prefix|>')!;
    assert.equal(eot, fixture.specialIds['<|endoftext|>']);
    const s = 'const END = "<|endoftext|>"; // <|fim_prefix|><|fim_middle|>';
    const ids = tok.encode(s);
    for (const id of Object.values(fixture.specialIds)) assert.ok(!ids.includes(id), `special id ${id} appeared`);
    assert.equal(tok.decode(ids), s);
    // The package on its own would have produced the control ids (what we avoid).
    const raw = new Tokenizer(fixture.json, {}).encode(s, { add_special_tokens: false }).ids;
    assert.ok(raw.includes(eot) && raw.includes(fim));
  });

  it('special tokens: ids, bytes, decode, eos', () => {
    const fim = tok.specialId('<|fim_suffix|>')!;
    assert.deepEqual([...tok.tokenBytes(fim)], [...utf8.encode('<|fim_suffix|>')]);
    assert.equal(tok.decode([...tok.encode('a'), fim, ...tok.encode('b')]), 'a<|fim_suffix|>b');
    assert.equal(tok.specialId('<|im_start|>'), undefined);
    assert.deepEqual(tok.eosIds, [tok.specialId('<|endoftext|>')]);
    assert.ok(tok.specialIds.has(fim));
    assert.equal(tok.size, fixture.size);
    assert.throws(() => tok.tokenBytes(tok.size), RangeError);
  });

  it('eos ids merge config, tokenizer_config and <|endoftext|>', () => {
    const t = new ByteLevelBpeTokenizer(fixture.json, { eosIds: [3], tokenizerConfig: { eos_token: { content: '<|file_sep|>' } } });
    assert.deepEqual(t.eosIds, [3, fixture.specialIds['<|endoftext|>'], fixture.specialIds['<|file_sep|>']].sort((a, b) => a - b));
  });

  it('non-special added tokens still match inside text', () => {
    const json = structuredClone(fixture.json) as { added_tokens: { id: number; content: string; special: boolean }[] };
    const id = fixture.size;
    json.added_tokens.push({ id, content: '<tool>', special: false });
    const t = new ByteLevelBpeTokenizer(json);
    const ids = t.encode('a<tool>b <|endoftext|>');
    assert.ok(ids.includes(id));
    assert.ok(!ids.includes(fixture.specialIds['<|endoftext|>']));
    assert.equal(t.decode(ids), 'a<tool>b <|endoftext|>');
  });

  it('an NFC normalizer (as in Qwen2) composes decomposed text; everything else round-trips', () => {
    const nfc = new ByteLevelBpeTokenizer(tinyTokenizerJson(300, true).json);
    assert.equal(nfc.decode(nfc.encode('cafe\u0301')), 'caf\u00e9');
    for (const s of TRICKY) assert.equal(nfc.decode(nfc.encode(s)), s.normalize('NFC'));
  });

  it('decode keeps spaces that clean_up_tokenization_spaces would eat', () => {
    const s = 'a , b . c ! x = y ? z';
    assert.equal(tok.decode(tok.encode(s)), s);
  });

  it('refuses tokenizers that are not byte-level BPE', () => {
    const json = structuredClone(fixture.json) as Record<string, unknown>;
    json.decoder = { type: 'Metaspace', replacement: '▁' };
    assert.throws(() => new ByteLevelBpeTokenizer(json), (e: unknown) => e instanceof CheckpointError && e.file === 'tokenizer.json' && /byte-level/.test(e.problem));
    assert.throws(() => new ByteLevelBpeTokenizer({ model: { type: 'WordPiece' } }), CheckpointError);
  });

  it('byte-level map covers all 256 bytes', () => {
    const all = BYTE_TO_UNICODE.join('');
    assert.equal(new Set(all).size, 256);
    assert.deepEqual([...byteLevelStringToBytes(all)], Array.from({ length: 256 }, (_, i) => i));
  });

  it('encodes a 2,000-line file (timing logged, not asserted)', (t) => {
    const lines = CODE_CORPUS.split('\n');
    const doc: string[] = [];
    for (let i = 0; doc.length < 2000; i++) doc.push(lines[i % lines.length].replace(/\bitem\b/g, `item${i % 97}`));
    const text = doc.join('\n');
    const fresh = new ByteLevelBpeTokenizer(fixture.json);
    const t0 = performance.now();
    const ids = fresh.encode(text);
    const cold = performance.now() - t0;
    const t1 = performance.now();
    fresh.encode(text);
    const warm = performance.now() - t1;
    t.diagnostic(`2000 lines, ${text.length} chars → ${ids.length} tokens: ${cold.toFixed(1)} ms cold, ${warm.toFixed(1)} ms warm`);
    assert.equal(fresh.decode(ids), text);
  });
});

describe('Utf8StreamDecoder', () => {
  it('releases text only at character boundaries', () => {
    const s = 'a€😀b中';
    const bytes = utf8.encode(s);
    const d = new Utf8StreamDecoder();
    let out = '';
    const seen: string[] = [];
    for (const b of bytes) {
      const piece = d.push(new Uint8Array([b]));
      out += piece;
      seen.push(piece);
      assert.ok(!piece.includes('\ufffd'));
    }
    out += d.flush();
    assert.equal(out, s);
    assert.deepEqual(seen.filter((p) => p !== ''), ['a', '€', '😀', 'b', '中']);
  });

  it('matches whole-text decoding for token streams', () => {
    for (const s of TRICKY) {
      const d = new Utf8StreamDecoder();
      let out = '';
      for (const id of tok.encode(s)) out += d.push(tok.tokenBytes(id));
      assert.equal(d.pendingBytes, 0);
      assert.equal(out + d.flush(), s);
    }
  });

  it('replaces invalid bytes and flushes an incomplete tail', () => {
    const d = new Utf8StreamDecoder();
    assert.equal(d.push(new Uint8Array([0x41, 0xff, 0x42])), 'A\ufffdB');
    assert.equal(d.push(new Uint8Array([0xe2, 0x82])), '');
    assert.equal(d.pendingBytes, 2);
    assert.equal(d.push(new Uint8Array([0x41])), '\ufffdA');
    assert.equal(d.push(new Uint8Array([0xf0, 0x9f])), '');
    assert.equal(d.flush(), '\ufffd');
    assert.equal(d.pendingBytes, 0);
  });
});
