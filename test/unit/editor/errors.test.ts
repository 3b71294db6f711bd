import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CheckpointError } from '../../../src/engine/types';
import { ShowOnce, classifyError, errorMessage } from '../../../src/editor/errors';

function abortError(): Error {
  const e = new Error('This operation was aborted');
  e.name = 'AbortError';
  return e;
}

test('aborts are cancellations, whatever carries them', () => {
  assert.equal(classifyError(abortError()), 'cancelled');
  assert.equal(classifyError(new Error('wrapped', { cause: abortError() })), 'cancelled');
  const ctl = new AbortController();
  ctl.abort();
  assert.equal(classifyError(new Error('onnxruntime: session released'), ctl.signal), 'cancelled', 'anything after the signal fired');
  const timeout = AbortSignal.abort();
  assert.equal(classifyError(new TypeError('x'), timeout), 'cancelled');
});

test('checkpoint errors are recognised directly, by name, or as a cause', () => {
  const ce = new CheckpointError('/m/model.safetensors', 'truncated: header says 4096 bytes, file has 100');
  assert.equal(classifyError(ce), 'checkpoint');
  const lookalike = new Error('x');
  lookalike.name = 'CheckpointError';
  assert.equal(classifyError(lookalike), 'checkpoint');
  assert.equal(classifyError(new Error('load failed', { cause: ce })), 'checkpoint');
  assert.equal(errorMessage(new Error('load failed', { cause: ce })), '/m/model.safetensors: truncated: header says 4096 bytes, file has 100');
});

test('everything else is "other", with its message', () => {
  assert.equal(classifyError(new RangeError('bad')), 'other');
  assert.equal(classifyError('a string'), 'other');
  assert.equal(errorMessage(new RangeError('bad')), 'bad');
  assert.equal(errorMessage('a string'), 'a string');
  assert.equal(errorMessage(new TypeError('')), 'TypeError');
});

test('a cause cycle does not hang', () => {
  const a = new Error('a');
  const b = new Error('b', { cause: a });
  a.cause = b;
  assert.equal(classifyError(a), 'other');
});

test('each distinct message is shown once until reset', () => {
  const once = new ShowOnce();
  assert.equal(once.claim('model.safetensors: truncated'), true);
  assert.equal(once.claim('model.safetensors: truncated'), false);
  assert.equal(once.claim('model.safetensors: truncated'), false);
  assert.equal(once.claim('tokenizer.json: missing'), true);
  once.reset();
  assert.equal(once.claim('model.safetensors: truncated'), true);
});
