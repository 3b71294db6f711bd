// The completion worker's entry (bundled as dist/worker.js). onnxruntime-node runs a forward
// synchronously on the calling thread, so a CompletionService on the extension host's thread
// would stall every extension (and the editor's typing feedback) for the length of each
// forward. Here the service runs on a thread of its own and the host only passes messages.
//
// Messages are handled in arrival order; a request's answer goes back as a `reply` with its id.
// While a forward runs, incoming messages wait until the service next awaits, exactly as they
// waited on the host's event loop before: edits and cancellations land between forwards.

import { getPriority, setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { CompletionService } from '../service';
import type { Logger } from '../types';
import { toWire, type HostMessage, type WorkerMessage, type WorkerServiceOptions } from './protocol';

const port = parentPort;
if (!port) throw new Error('completion worker: not started as a worker thread');

const post = (m: WorkerMessage): void => port.postMessage(m);
const log: Logger = {
  info: (message) => post({ type: 'log', level: 'info', message }),
  warn: (message) => post({ type: 'log', level: 'warn', message }),
  error: (message) => post({ type: 'log', level: 'error', message }),
};

// On two cores the model's threads would otherwise take the CPU from the extension host's own
// thread and the editor's renderer exactly while they have a ghost text to show. On Linux a nice
// value belongs to one thread, and the threads onnxruntime starts later inherit it; elsewhere
// setPriority(0, ...) would lower the whole process, so it is left alone.
const NICE_INCREMENT = 10;
if (process.platform === 'linux') {
  try {
    setPriority(0, Math.min(19, getPriority(0) + NICE_INCREMENT));
  } catch (err) {
    log.warn(`completion worker: could not lower its priority (${err instanceof Error ? err.message : String(err)})`);
  }
}

const service = new CompletionService({
  ...(workerData as WorkerServiceOptions),
  log,
  onState: (state) => post({ type: 'state', state }),
});

/** Controllers of the requests that can be cancelled, by id. */
const running = new Map<number, AbortController>();

/**
 * Runs a request and posts its reply. `deferred`: start only after every message already queued
 * has been handled. Typing sends one request per keystroke and cancels it with the next one; the
 * messages of a burst arrive together while a forward runs, and a request started at once would
 * run a forward of its own before its cancellation is even read.
 */
function answer(id: number, work: (signal: AbortSignal) => Promise<unknown> | unknown, deferred = false): void {
  const ctl = new AbortController();
  running.set(id, ctl);
  const start = deferred ? new Promise<void>((r) => setImmediate(r)) : Promise.resolve();
  start
    .then(() => work(ctl.signal))
    .then(
      (value) => post({ type: 'reply', id, ok: true, value }),
      (err: unknown) => post({ type: 'reply', id, ok: false, error: toWire(err) }),
    )
    .finally(() => running.delete(id));
}

function documentOp(path: string, op: () => void): void {
  try {
    op();
  } catch (err) {
    post({ type: 'documentError', path, error: toWire(err) });
  }
}

port.on('message', (m: HostMessage) => {
  switch (m.type) {
    case 'open':
      return documentOp(m.path, () => service.open(m.path, m.text, m.languageId));
    case 'edit':
      return documentOp(m.path, () => service.edit(m.path, m.edits));
    case 'close':
      return documentOp(m.path, () => service.close(m.path));
    case 'removeWorkspaceFile':
      return service.removeWorkspaceFile(m.path);
    case 'cancel':
      return running.get(m.id)?.abort();
    case 'load':
      return answer(m.id, (signal) => service.ensureLoaded(signal));
    case 'complete':
      return answer(m.id, async (signal) => {
        const result = await service.complete({ ...m.req, signal });
        post({ type: 'stats', stats: service.stats() });
        return result;
      }, true);
    case 'addWorkspaceFile':
      return answer(m.id, () => service.addWorkspaceFile(m.path, m.text, m.languageId));
    case 'indexWorkspace':
      return answer(m.id, (signal) => service.indexWorkspace(signal));
    case 'stats':
      return answer(m.id, () => service.stats());
    case 'shutdown':
      return answer(m.id, async () => {
        await service.shutdown();
        // Nothing is left to do: let the thread end once the reply is out.
        setImmediate(() => port.close());
      });
  }
});
