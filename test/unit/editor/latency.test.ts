import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CompletionResult } from '../../../src/completion/types';
import { LatencyLog, alignedTable, formatRate, renderLatencyReport, sampleFrom, type LatencySample } from '../../../src/editor/latency';

function result(over: Partial<CompletionResult> = {}): CompletionResult {
  return {
    completion: 'return x',
    completions: ['return x', 'return y', ''],
    timings: { loadMs: 0, encodeMs: 12.4, firstTokenMs: 60.2, totalMs: 141.7, tokens: 24, tokensPerSecond: 38.2 },
    reusedTokens: 1830,
    encodedTokens: 12,
    stopReason: 'eos',
    ...over,
  };
}

const at = (i: number): number => 1_700_000_000_000 + i * 1000;
const clock = (ms: number): string => `t${(ms - at(0)) / 1000}`;

test('a sample copies the timings and counts non-empty alternatives', () => {
  const s = sampleFrom(result({ acceptedPerForward: 2.5, monitorInterventions: 1 }), 'src/a.py', at(0));
  assert.deepEqual(s, {
    at: at(0),
    file: 'src/a.py',
    loadMs: 0,
    encodeMs: 12.4,
    firstTokenMs: 60.2,
    totalMs: 141.7,
    tokens: 24,
    tokensPerSecond: 38.2,
    reusedTokens: 1830,
    encodedTokens: 12,
    acceptedPerForward: 2.5,
    monitorInterventions: 1,
    stopReason: 'eos',
    alternatives: 2,
  });
});

test('the log keeps the newest N and shrinks on resize', () => {
  const log = new LatencyLog(3);
  const before = log.last;
  assert.equal(before, undefined);
  for (let i = 0; i < 5; i++) log.add(sampleFrom(result(), `f${i}`, at(i)));
  assert.deepEqual(log.samples().map((s) => s.file), ['f2', 'f3', 'f4']);
  assert.equal(log.last?.file, 'f4');
  log.resize(1);
  assert.deepEqual(log.samples().map((s) => s.file), ['f4']);
});

test('rates: whole numbers from 10 tok/s up, one decimal below', () => {
  assert.equal(formatRate(38.24), '38');
  assert.equal(formatRate(9.96), '10.0');
  assert.equal(formatRate(4.25), '4.3');
});

test('the empty report says how to get data', () => {
  const md = renderLatencyReport([], 50, clock);
  assert.match(md, /^# Slipstream latency report/);
  assert.match(md, /No completions yet/);
});

test('aligned tables pad every column to its widest cell', () => {
  assert.deepEqual(alignedTable(['a', 'num'], [['xxxx', '1'], ['y', '22']], [false, true]), [
    '| a    | num |',
    '| ---- | --: |',
    '| xxxx |   1 |',
    '| y    |  22 |',
  ]);
});

test('the report: summary, then one row per completion, newest first', () => {
  const samples: LatencySample[] = [
    sampleFrom(result({ timings: { loadMs: 2300, encodeMs: 400, firstTokenMs: 450, totalMs: 900, tokens: 20, tokensPerSecond: 44 } }), 'a.py', at(0)),
    sampleFrom(result(), 'b|c.ts', at(1)),
    sampleFrom(result({ completions: [''], completion: '', stopReason: 'maxTokens', timings: { loadMs: 0, encodeMs: 5, firstTokenMs: 20, totalMs: 30, tokens: 0, tokensPerSecond: 0 } }), 'a.py', at(2)),
  ];
  const md = renderLatencyReport(samples, 50, clock);
  const expected = [
    '# Slipstream latency report',
    '',
    'Last 3 of at most 50 completions (newest first).',
    '',
    '- total: median 142ms, p90 900ms',
    '- first token: median 60ms',
    '- decode: median 41 tok/s',
    '- prompt tokens reused / encoded: 5490 / 36',
    '',
    '| time | file    | encode ms | first token ms |        total ms | tokens | tok/s | reused / encoded | alternatives | stop      |',
    '| ---- | ------- | --------: | -------------: | --------------: | -----: | ----: | ---------------: | -----------: | --------- |',
    '| t2   | a.py    |         5 |             20 |              30 |      0 |     – |        1830 / 12 |            0 | maxTokens |',
    '| t1   | b\\|c.ts |        12 |             60 |             142 |     24 |    38 |        1830 / 12 |            2 | eos       |',
    '| t0   | a.py    |       400 |            450 | 900 (load 2300) |     20 |    44 |        1830 / 12 |            2 | eos       |',
    '',
  ].join('\n');
  assert.equal(md, expected);
});

test('speculation and monitor columns appear only when some completion has them', () => {
  const plain = renderLatencyReport([sampleFrom(result(), 'a.py', at(0))], 5, clock);
  assert.doesNotMatch(plain, /accepted \/ forward|monitor fixes/);
  const rich = renderLatencyReport(
    [sampleFrom(result(), 'a.py', at(0)), sampleFrom(result({ acceptedPerForward: 2.456, monitorInterventions: 3 }), 'a.py', at(1))],
    5,
    clock,
  );
  assert.match(rich, /\| reused \/ encoded \| accepted \/ forward \| monitor fixes \| alternatives \| stop +\|/);
  assert.match(rich, /\| +1830 \/ 12 \| +2\.46 \| +3 \| +2 \| eos +\|/);
  assert.match(rich, /\| +1830 \/ 12 \| +– \| +– \| +2 \| eos +\|/);
  // The summary: the mean over the completions that speculated, not over all of them.
  assert.doesNotMatch(plain, /speculation:/);
  assert.match(rich, /^- speculation: mean 2\.46 accepted tokens per forward \(1 completions\)$/m);
  const two = renderLatencyReport([sampleFrom(result({ acceptedPerForward: 2 }), 'a.py', at(0)), sampleFrom(result({ acceptedPerForward: 3.5 }), 'a.py', at(1))], 5, clock);
  assert.match(two, /^- speculation: mean 2\.75 accepted tokens per forward \(2 completions\)$/m);
});

test('the extension host event loop: a column per completion and a summary line over all of them', () => {
  const loop = { count: 40, p50Ms: 0.1, p99Ms: 3.2, maxMs: 7.9 };
  const samples = [sampleFrom(result(), 'a.py', at(0), loop), sampleFrom(result(), 'a.py', at(1))];
  assert.equal(samples[0].eventLoopMaxMs, 7.9);
  assert.equal(samples[1].eventLoopMaxMs, undefined);
  const md = renderLatencyReport(samples, 5, clock, { ...loop, completions: 2 });
  assert.match(md, /^- extension host event loop while completing \(2 completions\): p99 3\.2 ms, max 7\.9 ms late$/m);
  assert.match(md, /\| alternatives \| stop +\|/);
  assert.match(md, /\| loop max ms \|/);
  assert.match(md, /\| +8 \| +2 \| eos +\|/);
  assert.doesNotMatch(renderLatencyReport(samples, 5, clock, { ...loop, count: 0, completions: 0 }), /event loop while completing/);
});
