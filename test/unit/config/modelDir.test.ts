import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { resolveModelDir } from '../../../src/config/modelDir';

const ctx = { extensionPath: '/ext/slipstream', home: '/home/u', workspaceFolder: '/work/proj' };

test('empty means the embedded default model', () => {
  assert.equal(resolveModelDir('', ctx), join('/ext/slipstream', 'models', 'default'));
  assert.equal(resolveModelDir('   ', ctx), join('/ext/slipstream', 'models', 'default'));
});

test('absolute paths are normalised, ~ is the home folder', () => {
  assert.equal(resolveModelDir('/models//qwen/', ctx), '/models/qwen/');
  assert.equal(resolveModelDir('~', ctx), '/home/u');
  assert.equal(resolveModelDir('~/models/qwen', ctx), '/home/u/models/qwen');
});

test('relative paths and ${workspaceFolder} resolve against the first workspace folder', () => {
  assert.equal(resolveModelDir('models/mine', ctx), '/work/proj/models/mine');
  assert.equal(resolveModelDir('${workspaceFolder}/m', ctx), '/work/proj/m');
});

test('without a workspace, relative paths resolve against home', () => {
  const noWs = { extensionPath: ctx.extensionPath, home: ctx.home };
  assert.equal(resolveModelDir('m', noWs), resolve('/home/u', 'm'));
  assert.equal(resolveModelDir('${workspaceFolder}/m', noWs), '/home/u/m');
});
