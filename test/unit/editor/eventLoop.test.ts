// The event-loop watch sees a loop that is held up while a completion is being watched, and
// only then (the numbers themselves are the benchmark's business: bench/editor).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventLoopWatch } from '../../../src/editor/eventLoop';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

test('a blocking stretch inside a watched completion shows as its max delay and in the summary', async () => {
  const watch = new EventLoopWatch();
  try {
    const end = watch.begin();
    await sleep(30);
    spin(150);
    await sleep(30);
    const d = end();
    assert.ok(d.count > 0);
    assert.ok(d.maxMs >= 100, `a 150 ms block is seen (max ${d.maxMs} ms)`);
    assert.equal(end(), d, 'ending twice gives the same reading');
    // Not watched: a block now does not count.
    spin(300);
    await sleep(30);
    const s = watch.summary();
    assert.equal(s.completions, 1);
    assert.ok(s.maxMs >= 100 && s.maxMs < 290, `the summary has the watched block only (max ${s.maxMs} ms)`);
  } finally {
    watch.dispose();
  }
});

test('nothing watched yet: an empty summary', () => {
  const watch = new EventLoopWatch();
  assert.deepEqual(watch.summary(), { count: 0, p50Ms: 0, p99Ms: 0, maxMs: 0, completions: 0 });
  watch.dispose();
});

test('the time between watched completions is not a delay', async () => {
  const watch = new EventLoopWatch();
  try {
    watch.begin()();
    await sleep(300);
    const end = watch.begin();
    await sleep(60);
    const d = end();
    assert.ok(d.count >= 2, `ticks were seen (${d.count})`);
    assert.ok(d.maxMs < 100, `the 300 ms between completions is not counted (max ${d.maxMs} ms)`);
    assert.ok(watch.summary().maxMs < 100, `nor in the summary (max ${watch.summary().maxMs} ms)`);
  } finally {
    watch.dispose();
  }
});

test('a loop blocked until the completion ends still counts', () => {
  const watch = new EventLoopWatch();
  try {
    const end = watch.begin();
    spin(120);
    assert.ok(end().maxMs >= 100, 'no tick could run, the end reads the delay');
  } finally {
    watch.dispose();
  }
});
