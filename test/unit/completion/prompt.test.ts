import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildFimPrompt, fimTokenIds, promptPath, type PromptBudget } from '../../../src/completion/prompt';
import { ByteTokenizer } from '../decoding/fakes';

const tok = new ByteTokenizer();
const ids = fimTokenIds(tok);

test('layout: <|file_sep|>path\\n<|fim_prefix|>before<|fim_suffix|>after<|fim_middle|>', () => {
  const text = 'def f():\n    return 1\n';
  const cursor = text.indexOf('1');
  const p = buildFimPrompt({ path: 'src/a.py', text, cursor }, tok);
  const expected = [ids.fileSep, ...tok.encode('src/a.py\n'), ids.prefix, ...tok.encode(text.slice(0, cursor)), ids.suffix, ...tok.encode(text.slice(cursor)), ids.middle];
  assert.deepEqual(p.tokens, expected);
  assert.deepEqual(p.markers, {
    fileSep: 0,
    prefix: 1 + 'src/a.py\n'.length,
    suffix: 2 + 'src/a.py\n'.length + cursor,
    middle: 3 + 'src/a.py\n'.length + text.length,
  });
  assert.equal(p.before + p.after, text);
  assert.equal(p.truncated, false);
});

test('marker text inside the document stays plain text', () => {
  const text = 's = "<|fim_middle|>"';
  const p = buildFimPrompt({ path: 'a.py', text, cursor: text.length }, tok);
  assert.equal(p.tokens.filter((t) => t === ids.middle).length, 1);
  assert.equal(p.tokens[p.tokens.length - 1], ids.middle);
});

test('promptPath: relative paths stay, absolute paths and URIs give the basename', () => {
  assert.equal(promptPath('src/a.py'), 'src/a.py');
  assert.equal(promptPath('./src\\b.ts'), 'src/b.ts');
  assert.equal(promptPath('/home/u/p/main.go'), 'main.go');
  assert.equal(promptPath('C:\\work\\x.rs'), 'x.rs');
  assert.equal(promptPath('file:///home/u/my%20file.py'), 'my file.py');
  assert.equal(promptPath('untitled:Untitled-1'), 'Untitled-1');
});

/** 200 numbered lines of equal length (byte tokenizer: 1 token per byte). */
const LONG = Array.from({ length: 200 }, (_, i) => `line ${String(i).padStart(3, '0')} of the text\n`).join('');
const LINE = LONG.indexOf('\n') + 1;
const budget = (maxContextTokens: number): PromptBudget => ({ maxContextTokens, reserveTokens: 16, beforeShare: 0.75, beforeFill: 0.875 });

test('budget: a window of whole lines around the cursor, more before than after', () => {
  const cursor = 100 * LINE + 5; // inside line 100
  const b = budget(1024);
  const p = buildFimPrompt({ path: 'a.txt', text: LONG, cursor }, tok, b);
  const header = 'a.txt\n'.length;
  assert.ok(p.tokens.length <= b.maxContextTokens - b.reserveTokens, `${p.tokens.length} tokens`);
  assert.equal(p.truncated, true);
  assert.ok(p.before.length > 2 * p.after.length, `before ${p.before.length}, after ${p.after.length}`);
  assert.ok(p.before.startsWith('line '), 'starts at a line start');
  assert.ok(p.after.endsWith('\n'), 'ends at a line end');
  assert.equal(LONG.slice(p.start, p.end), p.before + p.after);
  assert.equal(p.start, p.window.startLine * LINE);
  assert.equal(p.tokens.length, 4 + header + p.before.length + p.after.length);
  // The cursor line is always in.
  assert.ok(p.window.startLine <= 100 && p.window.endLine > 100);
});

test('budget: a new window leaves slack before the cursor; a later request keeps it while it fits', () => {
  const b = budget(1024);
  const cursor = 100 * LINE + 5;
  const first = buildFimPrompt({ path: 'a.txt', text: LONG, cursor }, tok, b);
  // Typing 40 characters at the cursor still fits in the same window.
  const typed = LONG.slice(0, cursor) + 'x'.repeat(40) + LONG.slice(cursor);
  const second = buildFimPrompt({ path: 'a.txt', text: typed, cursor: cursor + 40 }, tok, b, first.window);
  assert.deepEqual(second.window, first.window);
  assert.deepEqual(second.tokens.slice(0, first.markers.suffix), first.tokens.slice(0, first.markers.suffix));
  // Without the previous window the choice may differ; with a far cursor the window moves.
  const far = buildFimPrompt({ path: 'a.txt', text: LONG, cursor: 10 * LINE }, tok, b, first.window);
  assert.ok(far.window.startLine <= 10 && far.window.endLine > 10);
});

test('budget: near the start of the file the unused before-budget goes after the cursor', () => {
  const b = budget(1024);
  const p = buildFimPrompt({ path: 'a.txt', text: LONG, cursor: 2 * LINE }, tok, b);
  assert.equal(p.start, 0);
  assert.ok(p.after.length > p.before.length);
  assert.ok(p.tokens.length <= b.maxContextTokens - b.reserveTokens);
  assert.ok(p.tokens.length > (b.maxContextTokens - b.reserveTokens) * 0.9, `${p.tokens.length} uses the budget`);
});

test('budget: a single line longer than the budget is cut to the tokens nearest the cursor', () => {
  const text = 'a'.repeat(3000) + 'b'.repeat(3000);
  const b = budget(256);
  const p = buildFimPrompt({ path: 'm.js', text, cursor: 3000 }, tok, b);
  assert.ok(p.tokens.length <= b.maxContextTokens - b.reserveTokens);
  assert.match(p.before, /^a+$/);
  assert.match(p.after, /^b+$/);
  assert.ok(p.before.length > p.after.length);
});
