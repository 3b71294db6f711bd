import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LatencySample } from '../../../src/editor/latency';
import { COMMANDS, composeStatus, latencyTable, readout, renderStatus } from '../../../src/editor/status';

const last: LatencySample = {
  at: 0,
  file: 'a.py',
  loadMs: 0,
  encodeMs: 12.4,
  firstTokenMs: 60.2,
  totalMs: 141.7,
  tokens: 24,
  tokensPerSecond: 38.2,
  reusedTokens: 1830,
  encodedTokens: 12,
  stopReason: 'eos',
  alternatives: 1,
};

test('ready with a last completion: the latency readout', () => {
  const v = renderStatus({ kind: 'ready', last });
  assert.equal(v.text, '$(zap) 142ms · 38 tok/s');
  assert.equal(v.command, COMMANDS.showLatencyReport);
  assert.equal(v.background, 'none');
  assert.equal(
    v.ariaLabel,
    'Slipstream: ready, last completion 142 ms, 38 tokens per second, encode 12 ms, first token 60 ms, 1830 tokens reused, 12 encoded',
  );
});

test('the tooltip table lists the split, and optional rows only when present', () => {
  const table = latencyTable(last);
  assert.equal(
    table,
    [
      '| last completion | |',
      '| --- | ---: |',
      '| encode | 12 ms |',
      '| first token | 60 ms |',
      '| total | 142 ms |',
      '| tokens | 24 at 38 tok/s |',
      '| prompt tokens reused / encoded | 1830 / 12 |',
      '| stop | eos |',
    ].join('\n'),
  );
  const rich = latencyTable({ ...last, loadMs: 2100, acceptedPerForward: 2.4, monitorInterventions: 2, alternatives: 3 });
  assert.match(rich, /\| model load \| 2100 ms \|/);
  assert.match(rich, /\| speculation \| 2\.40 accepted \/ forward \|/);
  assert.match(rich, /\| monitor interventions \| 2 \|/);
  assert.match(rich, /\| alternatives \| 3 \|/);
  const v = renderStatus({ kind: 'ready', last: { ...last, acceptedPerForward: 2.4, monitorInterventions: 2 } });
  assert.match(v.tooltip, /speculation/);
  assert.match(v.ariaLabel, /2\.40 accepted per forward, 2 monitor interventions$/);
});

test('a completion with no tokens shows only its latency', () => {
  assert.equal(readout({ ...last, tokens: 0, tokensPerSecond: 0 }), '142ms');
});

test('each state has its own icon, label and click target', () => {
  const cases: [Parameters<typeof renderStatus>[0], string, string, string][] = [
    [{ kind: 'idle' }, '$(zap) Slipstream', 'Slipstream: idle', COMMANDS.showLatencyReport],
    [{ kind: 'loading', modelDir: '/m' }, '$(loading~spin) Slipstream', 'Slipstream: loading model', COMMANDS.showLog],
    [{ kind: 'ready' }, '$(zap) Slipstream', 'Slipstream: ready', COMMANDS.showLatencyReport],
    [{ kind: 'generating' }, '$(loading~spin) Slipstream', 'Slipstream: generating', COMMANDS.showLatencyReport],
    [{ kind: 'generating', last }, '$(loading~spin) 142ms · 38 tok/s', 'Slipstream: generating, last completion 142 ms', COMMANDS.showLatencyReport],
    [{ kind: 'error', message: 'config.json: unknown model_type "gpt2"' }, '$(error) Slipstream', 'Slipstream: error: config.json: unknown model_type "gpt2"', COMMANDS.showLog],
    [{ kind: 'disabled' }, '$(circle-slash) Slipstream', 'Slipstream: disabled', COMMANDS.toggle],
    [{ kind: 'disabled', languageId: 'markdown' }, '$(circle-slash) Slipstream', 'Slipstream: disabled for markdown', COMMANDS.showLatencyReport],
    [{ kind: 'skipped', reason: 'binary content' }, '$(circle-slash) Slipstream: skipped', 'Slipstream: skipped: binary content', COMMANDS.showLatencyReport],
  ];
  for (const [state, text, label, command] of cases) {
    const v = renderStatus(state);
    assert.equal(v.text, text, state.kind);
    assert.ok(v.ariaLabel.startsWith(label), `${state.kind}: ${v.ariaLabel}`);
    assert.equal(v.command, command, state.kind);
  }
  assert.equal(renderStatus({ kind: 'error', message: 'x' }).background, 'error');
  assert.equal(renderStatus({ kind: 'skipped', reason: 'x' }).background, 'warning');
});

test('error text is escaped in the Markdown tooltip', () => {
  const v = renderStatus({ kind: 'error', message: 'model_type `x` *bad*' });
  assert.match(v.tooltip, /model\\_type \\`x\\` \\\*bad\\\*/);
});

test('composing the state: off, then model error, then the document, then the engine', () => {
  const ready = { kind: 'ready' } as const;
  const error = { kind: 'error', message: 'tokenizer.json: missing' } as const;
  const skipped = { kind: 'skipped', reason: 'binary content' } as const;
  const language = { kind: 'language', languageId: 'markdown' } as const;
  assert.deepEqual(composeStatus({ enabled: false, engine: error, note: skipped, last }), { kind: 'disabled' });
  assert.deepEqual(composeStatus({ enabled: true, engine: error, note: skipped, last }), error);
  assert.deepEqual(composeStatus({ enabled: true, engine: ready, note: language, last }), { kind: 'disabled', languageId: 'markdown' });
  assert.deepEqual(composeStatus({ enabled: true, engine: ready, note: skipped, last }), { kind: 'skipped', reason: 'binary content' });
  assert.deepEqual(composeStatus({ enabled: true, engine: ready, note: undefined, last }), { kind: 'ready', last });
  assert.deepEqual(composeStatus({ enabled: true, engine: { kind: 'idle' }, note: undefined, last: undefined }), { kind: 'idle' });
  assert.deepEqual(composeStatus({ enabled: true, engine: { kind: 'generating' }, note: undefined, last }), { kind: 'generating', last });
});
