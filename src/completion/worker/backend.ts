// The CompletionBackend the extension uses: a CompletionService on a worker thread (worker.ts).
// Document updates are posted and forgotten (they are applied in order before any later
// request); requests are answered by id; an aborted signal becomes a `cancel` message. What the
// interface needs synchronously is kept here: which documents are open (edit/close of an unknown
// one throws at once, as the service does) and the last stats the worker reported.

import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { CompletionBackend, CompletionRequest, CompletionResult, DocumentEdit, EngineState, Logger, ServiceStats } from '../types';
import { fromWire, type HostMessage, type WorkerMessage, type WorkerServiceOptions } from './protocol';

export interface WorkerBackendOptions extends WorkerServiceOptions {
  log?: Logger;
  onState?: (state: EngineState) => void;
  /** The worker could not apply an open/edit/close for this document; send it again. */
  onDocumentError?: (path: string, err: Error) => void;
  /** The worker died (uncaught error, native crash, killed); every request after this fails. */
  onCrash?: (err: Error) => void;
  /** The worker's script. Default: worker.js next to this bundle (dist/worker.js). */
  workerPath?: string;
  /** Node flags for the worker thread (tests pass a TypeScript loader). */
  execArgv?: string[];
  /** How long dispose() waits for the model to be released before the thread is terminated, ms. */
  shutdownTimeoutMs?: number;
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
}

const silent: Logger = { info() {}, warn() {}, error() {} };

export class WorkerBackend implements CompletionBackend {
  private readonly worker: Worker;
  private readonly log: Logger;
  private readonly pending = new Map<number, Pending>();
  private readonly opened = new Set<string>();
  private nextId = 1;
  private lastStats: ServiceStats;
  /** Set once the worker is gone (crashed or shut down): requests fail with it. */
  private dead: Error | undefined;
  private disposed = false;

  constructor(private readonly opts: WorkerBackendOptions) {
    this.log = opts.log ?? silent;
    const { log: _log, onState: _s, onDocumentError: _d, onCrash: _c, workerPath, execArgv, shutdownTimeoutMs: _t, ...serviceOptions } = opts;
    this.lastStats = { modelDir: opts.modelDir, loaded: false, documents: 0, cachedTokens: 0, cacheBytes: 0, residentBytes: 0 };
    this.worker = new Worker(workerPath ?? join(__dirname, 'worker.js'), {
      workerData: serviceOptions satisfies WorkerServiceOptions,
      ...(execArgv ? { execArgv } : {}),
    });
    this.worker.on('message', (m: WorkerMessage) => this.receive(m));
    this.worker.on('error', (err) => this.die(new Error(`the completion worker failed: ${err.message}`, { cause: err })));
    this.worker.on('exit', (code) => {
      if (!this.disposed) this.die(new Error(`the completion worker exited unexpectedly (exit code ${code})`));
      else this.die(abortError('the completion service is disposed'));
    });
  }

  ensureLoaded(signal?: AbortSignal): Promise<void> {
    return this.request((id) => ({ type: 'load', id }), signal).then(() => undefined);
  }

  open(path: string, text: string, languageId?: string): void {
    this.checkAlive();
    this.opened.add(path);
    this.send({ type: 'open', path, text, languageId });
  }

  edit(path: string, edits: DocumentEdit[]): void {
    this.checkOpen(path);
    this.send({ type: 'edit', path, edits });
  }

  close(path: string): void {
    if (!this.opened.delete(path) || this.dead) return;
    this.send({ type: 'close', path });
  }

  complete(req: CompletionRequest): Promise<CompletionResult> {
    try {
      this.checkOpen(req.path);
    } catch (err) {
      return Promise.reject(err);
    }
    const { signal, ...rest } = req;
    // The signal stays here; the worker's request is aborted by a `cancel` message. The answer
    // still comes back (a cancelled result), so the caller sees what the service saw.
    return this.request((id) => ({ type: 'complete', id, req: rest }), signal, { rejectOnAbort: false }) as Promise<CompletionResult>;
  }

  addWorkspaceFile(path: string, text: string, languageId?: string): Promise<boolean> {
    return this.request((id) => ({ type: 'addWorkspaceFile', id, path, text, languageId })) as Promise<boolean>;
  }

  removeWorkspaceFile(path: string): void {
    if (!this.dead) this.send({ type: 'removeWorkspaceFile', path });
  }

  indexWorkspace(signal?: AbortSignal): Promise<number> {
    return this.request((id) => ({ type: 'indexWorkspace', id }), signal) as Promise<number>;
  }

  /** The last stats the worker reported (after every completion); refreshStats() asks anew. */
  stats(): ServiceStats {
    return this.lastStats;
  }

  async refreshStats(): Promise<ServiceStats> {
    this.lastStats = (await this.request((id) => ({ type: 'stats', id }))) as ServiceStats;
    return this.lastStats;
  }

  dispose(): void {
    void this.shutdown();
  }

  /** Releases the model in the worker, then ends the thread (terminated after a timeout). */
  async shutdown(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    if (this.dead) return;
    const timeout = this.opts.shutdownTimeoutMs ?? 10_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const released = this.request((id) => ({ type: 'shutdown', id }), undefined, { afterDispose: true }).catch((err: Error) =>
      this.log.warn(`completion worker shutdown: ${err.message}`),
    );
    const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), timeout)));
    const how = await Promise.race([released.then(() => 'done' as const), late]);
    clearTimeout(timer);
    if (how === 'late') this.log.warn(`the completion worker did not release its model within ${timeout} ms; terminating it`);
    await this.worker.terminate();
  }

  private request(make: (id: number) => HostMessage, signal?: AbortSignal, o: { rejectOnAbort?: boolean; afterDispose?: boolean } = {}): Promise<unknown> {
    if (!o.afterDispose) {
      try {
        this.checkAlive();
      } catch (err) {
        return Promise.reject(err);
      }
    } else if (this.dead) return Promise.reject(this.dead);
    const rejectOnAbort = o.rejectOnAbort ?? true;
    if (signal?.aborted && rejectOnAbort) return Promise.reject(signal.reason);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        if (!this.dead) this.send({ type: 'cancel', id });
        if (rejectOnAbort) {
          this.pending.delete(id);
          reject(signal?.reason);
        }
      };
      this.pending.set(id, {
        resolve: (v) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(v);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      });
      this.send(make(id));
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private receive(m: WorkerMessage): void {
    switch (m.type) {
      case 'reply': {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.ok) p.resolve(m.value);
        else p.reject(fromWire(m.error));
        return;
      }
      case 'state':
        this.opts.onState?.(m.state);
        return;
      case 'log':
        this.log[m.level](m.message);
        return;
      case 'documentError': {
        const err = fromWire(m.error);
        this.log.error(`${m.path}: ${err.message}`);
        this.opts.onDocumentError?.(m.path, err);
        return;
      }
      case 'stats':
        this.lastStats = m.stats;
        return;
    }
  }

  private die(err: Error): void {
    if (this.dead) return;
    this.dead = err;
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const p of waiting) p.reject(err);
    if (!this.disposed) {
      this.log.error(err.message);
      this.opts.onCrash?.(err);
    }
  }

  private send(m: HostMessage): void {
    this.worker.postMessage(m);
  }

  private checkAlive(): void {
    if (this.disposed) throw new Error('the completion service is disposed');
    if (this.dead) throw this.dead;
  }

  private checkOpen(path: string): void {
    this.checkAlive();
    if (!this.opened.has(path)) throw new Error(`unknown document: ${path} (open it first)`);
  }
}

function abortError(message: string): Error {
  const err = new Error(message);
  err.name = 'AbortError';
  return err;
}
