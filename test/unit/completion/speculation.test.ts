// Speculation through the completion service (tiny real model): every options.speculation mode
// completes exactly as 'off' does, speculative answers carry acceptedPerForward, and the
// recycling matrix is saved to the state folder at shutdown and read back by the next service.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompletionService } from '../../../src/completion/service';
import type { SpeculationMode } from '../../../src/completion/types';
import { RECYCLING_FILE } from '../../../src/decoding/speculation/recyclingStore';
import { disposeTiny, tinyDir } from '../decoding/tinyModel';

const tmp = mkdtempSync(join(tmpdir(), 'slip-spec-svc-'));
after(async () => {
  await disposeTiny();
  rmSync(tmp, { recursive: true, force: true });
});

const DOC = 'def add(a, b):\n    return a + b\n\ndef sub(a, b):\n    return a - b\n\ndef mul(a, b):\n    \n';

test('every speculation mode completes like off; the matrix persists across services', async () => {
  const stateDir = join(tmp, 'state');
  const lines: string[] = [];
  const log = { info: (m: string) => lines.push(m), warn: (m: string) => lines.push(`warn ${m}`), error: (m: string) => lines.push(`error ${m}`) };
  const svc = new CompletionService({ modelDir: tinyDir(), speculationStateDir: stateDir, log });
  svc.open('/ws/m.py', DOC, 'python');
  const ask = (speculation: SpeculationMode, line: number, col: number) => svc.complete({ path: '/ws/m.py', line, col, maxTokens: 24, options: { speculation, mode: 'block' } });
  for (const [line, col] of [
    [7, 4],
    [4, 4],
    [1, 11],
  ]) {
    const off = await ask('off', line, col);
    assert.equal(off.acceptedPerForward, undefined, 'no speculation, no acceptance figure');
    for (const mode of ['copyspec', 'recycling', 'auto'] as const) {
      const r = await ask(mode, line, col);
      assert.equal(r.completion, off.completion, `${mode} at ${line}:${col}`);
      assert.equal(r.stopReason, off.stopReason);
      assert.equal(r.timings.tokens, off.timings.tokens);
      if (r.timings.tokens > 1) {
        assert.ok((r.acceptedPerForward ?? 0) >= 1, `${mode}: acceptedPerForward reported`);
      }
    }
    const dflt = await svc.complete({ path: '/ws/m.py', line, col, maxTokens: 24, options: { mode: 'block' } });
    assert.equal(dflt.completion, off.completion, 'the default (auto) too');
  }
  await svc.shutdown();
  assert.ok(existsSync(join(stateDir, RECYCLING_FILE)), 'saved at shutdown');

  const again = new CompletionService({ modelDir: tinyDir(), speculationStateDir: stateDir, log });
  again.open('/ws/m.py', DOC, 'python');
  await again.complete({ path: '/ws/m.py', line: 7, col: 4, maxTokens: 4, options: { speculation: 'recycling' } });
  await again.shutdown();
  assert.ok(lines.some((l) => /token recycling: loaded \d+ rows/.test(l)), lines.join('\n'));
  assert.ok(!lines.some((l) => l.startsWith('warn') || l.startsWith('error')), lines.join('\n'));
});
