// Messages between the extension host's thread and the completion worker (worker.ts). The
// worker owns the CompletionService (model, KV caches, analysis); the host keeps only what a
// caller needs synchronously. Everything here is structured-clone safe (no functions, no signals).

import type { CompletionServiceOptions } from '../service';
import type { CompletionRequest, DocumentEdit, EngineState, ServiceStats } from '../types';

/** The service options that can cross a thread boundary (no logger, callbacks or loader). */
export type WorkerServiceOptions = Pick<
  CompletionServiceOptions,
  'modelDir' | 'threads' | 'weightBits' | 'maxContextTokens' | 'maxDocumentBytes' | 'maxDocumentLines' | 'maxTokens' | 'graphCacheDir' | 'speculationStateDir' | 'monitorBudgetMs'
>;

/** An Error as data: the name survives (errors.ts classifies by name), and so does the cause chain. */
export interface WireError {
  name: string;
  message: string;
  stack?: string;
  cause?: WireError;
}

export type HostMessage =
  | { type: 'open'; path: string; text: string; languageId?: string }
  | { type: 'edit'; path: string; edits: DocumentEdit[] }
  | { type: 'close'; path: string }
  | { type: 'removeWorkspaceFile'; path: string }
  /** Aborts the request with this id (complete, load, indexWorkspace). */
  | { type: 'cancel'; id: number }
  | { type: 'load'; id: number }
  | { type: 'complete'; id: number; req: Omit<CompletionRequest, 'signal'> }
  | { type: 'addWorkspaceFile'; id: number; path: string; text: string; languageId?: string }
  | { type: 'indexWorkspace'; id: number }
  | { type: 'stats'; id: number }
  /** Releases the model; the worker exits after replying. */
  | { type: 'shutdown'; id: number };

export type WorkerMessage =
  | { type: 'reply'; id: number; ok: true; value: unknown }
  | { type: 'reply'; id: number; ok: false; error: WireError }
  | { type: 'state'; state: EngineState }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; message: string }
  /** An open/edit/close the worker could not apply: its copy of the document is not the editor's. */
  | { type: 'documentError'; path: string; error: WireError }
  | { type: 'stats'; stats: ServiceStats };

export function toWire(err: unknown, depth = 0): WireError {
  if (err instanceof Error) {
    const out: WireError = { name: err.name, message: err.message, stack: err.stack };
    if (err.cause !== undefined && depth < 8) out.cause = toWire(err.cause, depth + 1);
    return out;
  }
  return { name: 'Error', message: String(err) };
}

export function fromWire(w: WireError): Error {
  const err = new Error(w.message, w.cause ? { cause: fromWire(w.cause) } : undefined);
  err.name = w.name;
  if (w.stack) err.stack = w.stack;
  return err;
}
