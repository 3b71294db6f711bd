import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RequestGate, type Timers } from '../../../src/editor/requestGate';

/** Hand-driven clock: timers fire only when `advance` passes their deadline. */
class FakeTimers implements Timers {
  now = 0;
  private next = 1;
  private pending = new Map<number, { at: number; fn: () => void }>();

  set(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.pending.set(id, { at: this.now + ms, fn });
    return id;
  }

  clear(handle: unknown): void {
    this.pending.delete(handle as number);
  }

  get count(): number {
    return this.pending.size;
  }

  async advance(ms: number): Promise<void> {
    this.now += ms;
    for (const [id, t] of [...this.pending].sort((a, b) => a[1].at - b[1].at)) {
      if (t.at > this.now) continue;
      this.pending.delete(id);
      t.fn();
    }
    // Let awaiting continuations run.
    await new Promise<void>((r) => setImmediate(r));
  }
}

test('a lone request waits for the debounce delay, then proceeds', async () => {
  const timers = new FakeTimers();
  const gate = new RequestGate(timers);
  let ticket: Awaited<ReturnType<RequestGate['enter']>> | null = null;
  void gate.enter(75).then((t) => (ticket = t));
  await timers.advance(74);
  assert.equal(ticket, null, 'still waiting at 74 ms');
  await timers.advance(1);
  assert.ok(ticket, 'proceeds at 75 ms');
  assert.equal((ticket as { signal: AbortSignal }).signal.aborted, false);
});

test('a new request supersedes one still waiting: only the last proceeds', async () => {
  const timers = new FakeTimers();
  const gate = new RequestGate(timers);
  const first = gate.enter(75);
  await timers.advance(40);
  const second = gate.enter(75);
  assert.equal(await first, undefined, 'the first resolves at once as superseded');
  assert.equal(timers.count, 1, "the first's timer was cleared");
  await timers.advance(75);
  assert.ok(await second);
});

test('a new request aborts the one already running', async () => {
  const timers = new FakeTimers();
  const gate = new RequestGate(timers);
  const running = gate.enter(0);
  const t1 = await running;
  assert.ok(t1);
  void gate.enter(75);
  assert.equal(t1.signal.aborted, true);
});

test("the caller's signal cancels the wait and the run", async () => {
  const timers = new FakeTimers();
  const gate = new RequestGate(timers);
  const outer = new AbortController();
  const waiting = gate.enter(75, outer.signal);
  outer.abort();
  assert.equal(await waiting, undefined);
  assert.equal(timers.count, 0);

  const outer2 = new AbortController();
  const t = await gate.enter(0, outer2.signal);
  assert.ok(t);
  outer2.abort();
  assert.equal(t.signal.aborted, true);
});

test('an already-cancelled caller never proceeds', async () => {
  const gate = new RequestGate(new FakeTimers());
  assert.equal(await gate.enter(0, AbortSignal.abort()), undefined);
});

test('release detaches from the caller: a later abort of its signal does nothing', async () => {
  const gate = new RequestGate(new FakeTimers());
  const outer = new AbortController();
  const t = await gate.enter(0, outer.signal);
  assert.ok(t);
  t.release();
  outer.abort();
  assert.equal(t.signal.aborted, false);
});

test('cancel aborts whatever is in flight', async () => {
  const timers = new FakeTimers();
  const gate = new RequestGate(timers);
  const waiting = gate.enter(75);
  gate.cancel();
  assert.equal(await waiting, undefined);
  const t = await gate.enter(0);
  assert.ok(t);
  gate.cancel();
  assert.equal(t.signal.aborted, true);
});

test('typing a burst of keys runs the model once', async () => {
  const timers = new FakeTimers();
  const gate = new RequestGate(timers);
  const results: Promise<unknown>[] = [];
  for (let i = 0; i < 10; i++) {
    results.push(gate.enter(75));
    await timers.advance(30);
  }
  await timers.advance(75);
  const tickets = await Promise.all(results);
  assert.equal(tickets.filter((t) => t !== undefined).length, 1);
  assert.ok(tickets[9]);
});
