// The language-server oracle's pure part: where a member access is, which completion items are
// members, and the latency budget (late, failing or aborted answers give nothing).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { askMembers, memberAccessAt, membersFromItems, type OracleItem } from '../../../src/editor/memberOracle';

test('member accesses at the cursor: right after the separator, or inside the member', () => {
  assert.deepEqual(memberAccessAt('        return self.', 4, 'python'), { receiverEnd: { line: 4, col: 19 }, triggerCharacter: '.' });
  assert.deepEqual(memberAccessAt('        return self.ite', 4, 'python'), { receiverEnd: { line: 4, col: 19 }, triggerCharacter: undefined });
  assert.deepEqual(memberAccessAt('  x = a?.b', 0, 'typescript'), { receiverEnd: { line: 0, col: 7 }, triggerCharacter: undefined });
  assert.deepEqual(memberAccessAt('  f(x).', 0, 'javascript'), { receiverEnd: { line: 0, col: 6 }, triggerCharacter: '.' });
  assert.deepEqual(memberAccessAt('  p->', 2, 'c'), { receiverEnd: { line: 2, col: 3 }, triggerCharacter: '>' });
  for (const [prefix, lang] of [
    ['  p->', 'python'], // no arrow outside C-like languages
    ['  x = 1.', 'python'], // a number
    ['  f(...', 'typescript'], // a spread
    ['  return ', 'python'],
    ['  (.', 'python'],
    ['  x.1', 'python'],
  ]) {
    assert.equal(memberAccessAt(prefix, 0, lang), null, `${prefix} (${lang})`);
  }
});

test('members from completion items: member kinds only, identifiers from labels; word-only lists say nothing', () => {
  const items: OracleItem[] = [
    { label: 'items', kind: 4 },
    { label: { label: 'add' }, kind: 1 },
    { label: 'size?', kind: 9 },
    { label: 'self', kind: 0 }, // a word-based suggestion
    { label: 'for', kind: 13 }, // keyword
    { label: 'log', kind: 14 }, // snippet
    { label: 'nokind' },
  ];
  assert.deepEqual(membersFromItems(items)?.sort(), ['add', 'items', 'size']);
  assert.equal(membersFromItems([{ label: 'word', kind: 0 }]), undefined);
  assert.equal(membersFromItems([]), undefined);
});

test('askMembers: answers within the budget become hints; late, failing or aborted ones give nothing', async () => {
  const query = { receiverEnd: { line: 1, col: 8 }, triggerCharacter: '.' };
  let trigger: string | undefined = 'unset';
  const fast = await askMembers(
    query,
    async (t) => {
      trigger = t;
      return { items: [{ label: 'items', kind: 4 }] };
    },
    1000,
    new AbortController().signal,
  );
  assert.deepEqual(fast, { receiverEnd: { line: 1, col: 8 }, names: ['items'] });
  assert.equal(trigger, '.');
  const never = await askMembers(query, () => new Promise(() => {}), 5, new AbortController().signal);
  assert.equal(never, undefined, 'a provider that never answers costs the budget, not the completion');
  const failing = await askMembers(query, async () => Promise.reject(new Error('provider crashed')), 1000, new AbortController().signal);
  assert.equal(failing, undefined);
  const empty = await askMembers(query, async () => ({ items: [{ label: 'x', kind: 0 }] }), 1000, new AbortController().signal);
  assert.equal(empty, undefined);
  const ctl = new AbortController();
  let release: () => void = () => {};
  const ready = new Promise<void>((r) => (release = r));
  const pending = askMembers(query, async () => ({ items: [{ label: 'items', kind: 4 }] }), 1000, ctl.signal, ready);
  ctl.abort();
  release();
  assert.equal(await pending, undefined, 'aborted during the debounce');
  // The budget starts after the debounce: an answer that arrives during it is used.
  let releaseSlow: () => void = () => {};
  const debounce = new Promise<void>((r) => (releaseSlow = r));
  const during = askMembers(query, async () => ({ items: [{ label: 'items', kind: 4 }] }), 1, new AbortController().signal, debounce);
  await new Promise((r) => setTimeout(r, 20));
  releaseSlow();
  assert.deepEqual(await during, { receiverEnd: { line: 1, col: 8 }, names: ['items'] });
});
