// The "tokens reused / encoded" the status bar and the latency report show, end to end short of
// VS Code: a real CompletionService on the tiny real model → CompletionResult → sampleFrom →
// status view and latency report. The numbers must be what the cache update did: after an
// edit far above the cursor PIE re-encodes only the edit and the last prompt token, and
// reused + encoded is the prompt's length (what a 'full' request at the same place encodes).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { CompletionService } from '../../../src/completion/service';
import type { KvCache } from '../../../src/engine/kvCache';
import type { ForwardRequest } from '../../../src/engine/types';
import { renderLatencyReport, sampleFrom } from '../../../src/editor/latency';
import { renderStatus } from '../../../src/editor/status';
import { disposeTiny, loadTiny } from '../decoding/tinyModel';

after(disposeTiny);

/** A service on the shared tiny model (wrapped so that shutting the service down leaves the model open). */
async function tinyService(): Promise<CompletionService> {
  const { model, ckpt } = await loadTiny();
  const wrapped = {
    tokenizer: ckpt.tokenizer,
    model: { embed: (t: ArrayLike<number>) => model.embed(t), createCache: () => model.createCache(), forward: (c: KvCache, r: ForwardRequest) => model.forward(c, r), dispose: () => {} },
  };
  return new CompletionService({ modelDir: 'tiny', loader: async () => wrapped });
}

test('status bar and latency report show the reuse counts of the cache update that served the completion', async () => {
  const svc = await tinyService();
  const lines = Array.from({ length: 40 }, (_, i) => `value_${i} = compute(${i}, "item ${i}")`);
  svc.open('m.py', `${lines.join('\n')}\n`);
  const req = { path: 'm.py', line: 35, col: 0, maxTokens: 4, options: { cache: 'pie' as const, monitors: false, mode: 'line' as const } };
  try {
    const first = await svc.complete(req);
    assert.equal(first.reusedTokens, 0, 'nothing cached before the first request');

    svc.edit('m.py', [{ start: [2, 0], end: [2, 0], text: '# note\n' }]);
    const pie = await svc.complete({ ...req, line: 36 });
    const full = await svc.complete({ ...req, line: 36, options: { ...req.options, cache: 'full' } });
    assert.equal(full.reusedTokens, 0);
    assert.equal(pie.reusedTokens + pie.encodedTokens, full.encodedTokens, 'reused + encoded = the prompt');
    assert.ok(pie.encodedTokens >= 2 && pie.encodedTokens <= 6, `PIE encodes the edit and <|fim_middle|> only (${pie.encodedTokens})`);

    const sample = sampleFrom(pie, 'm.py', 0);
    const view = renderStatus({ kind: 'ready', last: sample });
    assert.match(view.ariaLabel, new RegExp(`${pie.reusedTokens} tokens reused, ${pie.encodedTokens} encoded`));
    assert.match(view.tooltip, new RegExp(`\\| prompt tokens reused / encoded \\| ${pie.reusedTokens} / ${pie.encodedTokens} \\|`));
    const report = renderLatencyReport([sampleFrom(first, 'm.py', 0), sample], 10, () => '00:00:00');
    assert.match(report, new RegExp(`- prompt tokens reused / encoded: ${pie.reusedTokens} / ${first.encodedTokens + pie.encodedTokens}`));
    assert.match(report, new RegExp(`\\| +${pie.reusedTokens} / ${pie.encodedTokens} \\|`));
  } finally {
    await svc.shutdown();
  }
});

test('spm layout with token healing, and a refresh window: the counts are still what the update did', async () => {
  const svc = await tinyService();
  const lines = Array.from({ length: 40 }, (_, i) => `    value_${i} = compute(${i}, "item ${i}")`);
  svc.open('s.py', `def run():\n${lines.join('\n')}\n`);
  // After the indentation, where the spm rule heals the whitespace token.
  const options = { cache: 'pie' as const, monitors: false, mode: 'line' as const, promptLayout: 'spm' as const };
  const req = { path: 's.py', line: 35, col: 4, maxTokens: 4, options };
  try {
    await svc.complete(req);
    svc.edit('s.py', [{ start: [3, 0], end: [3, 0], text: '    # note\n' }]);
    const pie = await svc.complete({ ...req, line: 36 });
    const full = await svc.complete({ ...req, line: 36, options: { ...options, cache: 'full' } });
    assert.equal(pie.reusedTokens + pie.encodedTokens, full.encodedTokens, 'reused + encoded = the prompt');
    // The edit's tokens, the healed tail hidden again and the prompt's last token.
    assert.ok(pie.encodedTokens >= 2 && pie.encodedTokens <= 8, `PIE encodes the edit and the end of the prompt only (${pie.encodedTokens})`);

    svc.edit('s.py', [{ start: [5, 0], end: [5, 0], text: '    # another\n' }]);
    const refreshed = await svc.complete({ ...req, line: 37, options: { ...options, refreshWindow: 24 } });
    const fullAfter = await svc.complete({ ...req, line: 37, options: { ...options, cache: 'full' } });
    assert.equal(refreshed.reusedTokens + refreshed.encodedTokens, fullAfter.encodedTokens, 'reused + encoded = the prompt');
    assert.ok(refreshed.encodedTokens >= 24, `the refresh window re-encodes its 24 tokens (${refreshed.encodedTokens})`);
    const view = renderStatus({ kind: 'ready', last: sampleFrom(refreshed, 's.py', 0) });
    assert.match(view.ariaLabel, new RegExp(`${refreshed.reusedTokens} tokens reused, ${refreshed.encodedTokens} encoded`));
  } finally {
    await svc.shutdown();
  }
});
