import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promptPath } from '../../../src/completion/prompt';
import { ByteTokenizer } from '../decoding/fakes';

const tok = new ByteTokenizer();

test('promptPath: relative paths stay, absolute paths and URIs give the basename', () => {
  assert.equal(promptPath('src/a.py'), 'src/a.py');
  assert.equal(promptPath('./src\\b.ts'), 'src/b.ts');
  assert.equal(promptPath('/home/u/p/main.go'), 'main.go');
  assert.equal(promptPath('C:\\work\\x.rs'), 'x.rs');
  assert.equal(promptPath('file:///home/u/my%20file.py'), 'my file.py');
  assert.equal(promptPath('untitled:Untitled-1'), 'Untitled-1');
});
