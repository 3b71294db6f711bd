import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkStopping,
  endOfBlock,
  stopAtControlTokens,
  stopAtEndOfBlock,
  stopAtEndOfLine,
  stopAtEos,
  stopAtMaxTokens,
  stopAtStrings,
  stopAtSuffixLine,
  stoppingCriteria,
} from '../../../src/decoding/stopping';
import { generationConfig } from '../../../src/decoding/generationConfig';
import { ByteTokenizer } from './fakes';

const at = (text: string, tokens: number[] = [1]) => ({ text, tokens });

test('eos and control tokens stop with the text so far', () => {
  assert.deepEqual(stopAtEos([9])(at('ab', [1, 9])), { kind: 'eos', keep: 2 });
  assert.equal(stopAtEos([9])(at('ab', [9, 1])), null);
  assert.deepEqual(stopAtControlTokens([7, 8])(at('x', [8])), { kind: 'stopToken', keep: 1 });
});

test('stop strings cut before the earliest occurrence', () => {
  const rule = stopAtStrings(['END', '//']);
  assert.equal(rule(at('abc')), null);
  assert.deepEqual(rule(at('a // b END')), { kind: 'stopString', keep: 2 });
  assert.equal(stopAtStrings([''])(at('abc')), null);
});

test('max tokens counts every generated token', () => {
  assert.equal(stopAtMaxTokens(3)(at('ab', [1, 2])), null);
  assert.deepEqual(stopAtMaxTokens(3)(at('abc', [1, 2, 3])), { kind: 'maxTokens', keep: 3 });
});

test('end of line: first newline after visible text; leading newlines are kept', () => {
  const rule = stopAtEndOfLine();
  assert.equal(rule(at('foo(a')), null);
  assert.deepEqual(rule(at('foo(a)\nbar')), { kind: 'endOfLine', keep: 6 });
  assert.deepEqual(rule(at('x\r\ny')), { kind: 'endOfLine', keep: 1 });
  assert.equal(rule(at('\n    ')), null);
  assert.deepEqual(rule(at('\n    return x\n')), { kind: 'endOfLine', keep: 13 });
});

test('end of block: a line dedented below the cursor line ends the block', () => {
  const block = { indent: 4, opensBlock: false };
  assert.equal(endOfBlock('x = 1\n    y = 2\n        z', block), -1);
  const text = 'x = 1\n    y = 2\nz = 3';
  assert.equal(endOfBlock(text, block), text.indexOf('\nz'));
  // Blank lines in between do not count; the cut drops them with the line.
  const t2 = 'x = 1\n\n  \nreturn';
  assert.equal(endOfBlock(t2, block), t2.lastIndexOf('\n'));
});

test('end of block: when the cursor line opens the block, a line back at its indent ends it', () => {
  const block = { indent: 0, opensBlock: true };
  const text = '\n    return 1\n\ndef g():';
  assert.equal(endOfBlock(text, block), text.lastIndexOf('\n'));
  assert.equal(endOfBlock('\n    return 1\n    ', block), -1);
});

test('end of block: closing a bracket opened before the cursor ends it', () => {
  const block = { indent: 2, opensBlock: false };
  // Closer starting its line: the line goes.
  const t1 = 'a,\n  b,\n)';
  assert.equal(endOfBlock(t1, block), t1.lastIndexOf('\n'));
  // Closer after code on a later line: cut right before it.
  const t2 = 'a,\n  b)';
  assert.equal(endOfBlock(t2, block), t2.indexOf(')'));
  // Brackets opened in the completion, or inside strings, are not outer closers.
  assert.equal(endOfBlock('f(\n  x\n  )', block), -1);
  assert.equal(endOfBlock('a\n  s = ")"', block), -1);
  // The first line continues the cursor line: its closers are the post-processor's business.
  assert.equal(endOfBlock('b)', block), -1);
});

test('end of block rule is wired with its kind', () => {
  assert.deepEqual(stopAtEndOfBlock({ indent: 4, opensBlock: false })(at('a\nb')), { kind: 'endOfBlock', keep: 1 });
});

test('suffix line: a later complete line equal to the line after the cursor ends the block before it', () => {
  const rule = stopAtSuffixLine('  return x');
  // the first line continues the cursor line and is never compared
  assert.equal(rule(at('return x\n')), null);
  assert.equal(rule(at('y = 1\n    return')), null); // the line is not complete yet
  assert.equal(rule(at('y = 1\n    return x')), null);
  assert.deepEqual(rule(at('y = 1\n    return x\n')), { kind: 'suffixLine', keep: 5 });
  assert.deepEqual(rule(at('y = 1\r\nz = 2\r\nreturn x  \r\n')), { kind: 'suffixLine', keep: 12 });
  assert.equal(rule(at('y = 1\n    return xy\n')), null);
  assert.equal(stopAtSuffixLine('   ')(at('a\n\n')), null);
});

test('checkStopping picks the earliest cut; config builds the list by mode', () => {
  const tok = new ByteTokenizer();
  const line = stoppingCriteria(generationConfig(tok, { mode: 'line', stopStrings: ['#'], maxNewTokens: 2 }));
  assert.deepEqual(checkStopping(line, at('a # b\nc', [1, 2])), { kind: 'stopString', keep: 2 });
  assert.deepEqual(checkStopping(line, at('ab\nc', [1])), { kind: 'endOfLine', keep: 2 });
  assert.deepEqual(checkStopping(line, at('ab', [1, 256])), { kind: 'eos', keep: 2 });
  assert.deepEqual(checkStopping(line, at('ab', [1, 2])), { kind: 'maxTokens', keep: 2 });
  const block = stoppingCriteria(generationConfig(tok, { mode: 'block', block: { indent: 4, opensBlock: false } }));
  assert.equal(checkStopping(block, at('ab\n    c')), null);
  assert.deepEqual(checkStopping(block, at('ab\nc')), { kind: 'endOfBlock', keep: 2 });
  assert.deepEqual(checkStopping(block, at('', [tok.specialId('<|file_sep|>') as number])), { kind: 'stopToken', keep: 0 });
  const resume = stoppingCriteria(generationConfig(tok, { mode: 'block', block: { indent: 4, opensBlock: false, resumeLine: 'b()' } }));
  assert.deepEqual(checkStopping(resume, at('a()\n    b()\n')), { kind: 'suffixLine', keep: 3 });
  // only in block mode
  const lineResume = stoppingCriteria(generationConfig(tok, { mode: 'line', block: { indent: 4, opensBlock: false, resumeLine: 'b()' } }));
  assert.deepEqual(checkStopping(lineResume, at('a()\n    b()\n')), { kind: 'endOfLine', keep: 3 });
});

test('generationConfig: documented defaults and validation', () => {
  const tok = new ByteTokenizer();
  const cfg = generationConfig(tok);
  assert.equal(cfg.maxNewTokens, 64);
  assert.equal(cfg.mode, 'line');
  assert.deepEqual(cfg.eosTokenIds, [256]);
  assert.deepEqual(cfg.stopTokenIds.sort(), [257, 258, 259, 260, 261, 262]);
  assert.equal(generationConfig(tok, { maxNewTokens: undefined }).maxNewTokens, 64);
  assert.throws(() => generationConfig(tok, { maxNewTokens: 0 }), RangeError);
});

test('block stop point with the language lexer: comments and multi-line strings do not end the block; code does', () => {
  const py = { indent: 4, opensBlock: false, syntax: 'python' as const };
  // A docstring line at column 0 and a ')' in a comment are not the end of the block…
  const doc = 'x = 1\n    s = """doc\nfirst column\n    """\n    y = f(1)  # )\n    z = 2\nclass A:';
  assert.equal(endOfBlock(doc, py), doc.indexOf('\nclass A:'));
  // …while the quote-only scanner cuts at the docstring line.
  assert.equal(endOfBlock(doc, { indent: 4, opensBlock: false }), doc.indexOf('\nfirst column'));
  const c = { indent: 2, opensBlock: false, syntax: 'c' as const };
  const body = 'a++;\n  /* see f(x)\n) */ b++;\n  c(d); // ) \n}\nint g;';
  assert.equal(endOfBlock(body, c), body.indexOf('\n}'));
  assert.equal(endOfBlock(body, { indent: 2, opensBlock: false }), body.indexOf('\n) */'));
  // Template literal lines are text in TypeScript.
  const ts = { indent: 2, opensBlock: false, syntax: 'ecmascript' as const };
  const tpl = 'const s = `\nleft\n`;\n  next();\n}';
  assert.equal(endOfBlock(tpl, ts), tpl.indexOf('\n}'));
  // Same cuts as the plain rule on plain code.
  for (const t of ['x = 1\n    y = 2\nz', 'a(1,\n  2)\n  b\n}', 'q\n  r)']) {
    assert.equal(endOfBlock(t, { ...c, syntax: 'ecmascript' }), endOfBlock(t, { indent: 2, opensBlock: false }), JSON.stringify(t));
  }
});
