// `slipstream session`: JSON lines over stdin/stdout, one response line per request, in order.
//
//   {"op":"open","path","text","languageId"?}               → {"ok":true}
//   {"op":"edit","path","edits":[{"start":[l,c],"end":[l,c],"text"}]}  → {"ok":true}
//   {"op":"complete","path","line","col","maxTokens"?,"options"?}      → CompletionResult (+ "cached")
//   {"op":"close","path"}                                   → {"ok":true}
//   {"op":"stats"}                                          → ServiceStats
//
// Lines and columns are zero-based (UTF-16 columns, as in VS Code). A request's "id", if any, is
// echoed in its response. A malformed request gets {"error": "..."} and the session goes on.

import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { CompletionCache } from '../completion/completionCache';
import { LineIndex } from '../completion/documentText';
import type { CompletionBackend, CompletionOptions, CompletionResult, DocumentEdit } from '../completion/types';
import { MAX_DRAFTS } from '../completion/types';

/** A backend that can also show a document's text (CompletionService can): enables the completion cache. */
export interface SessionBackend extends CompletionBackend {
  textOf?(path: string): string | undefined;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Response = Record<string, unknown>;

/** A request that cannot be served; its message goes back as {"error"}. */
class RequestError extends Error {}

const OPS = ['open', 'edit', 'complete', 'close', 'stats'] as const;

export class SessionProtocol {
  /** Documents opened through this session: requests on others are answered with an error. */
  private readonly open = new Set<string>();
  private readonly completions = new CompletionCache();

  constructor(private readonly backend: SessionBackend) {}

  /** The response to one request line; null for a blank line (no request, no response). */
  async handle(line: string): Promise<Response | null> {
    if (line.trim() === '') return null;
    let request: Json;
    try {
      request = JSON.parse(line) as Json;
    } catch (e) {
      return { error: `malformed JSON: ${(e as Error).message}` };
    }
    if (typeof request !== 'object' || request === null || Array.isArray(request)) return { error: 'a request must be a JSON object' };
    const id = request.id;
    const withId = (r: Response): Response => (id === undefined ? r : { id, ...r });
    try {
      return withId(await this.dispatch(request));
    } catch (e) {
      return withId({ error: e instanceof Error ? e.message : String(e) });
    }
  }

  private async dispatch(req: { [key: string]: Json }): Promise<Response> {
    const op = req.op;
    if (typeof op !== 'string') throw new RequestError(`missing "op" (one of ${OPS.join(', ')})`);
    switch (op) {
      case 'open': {
        const path = str(req, 'path');
        const text = str(req, 'text', true);
        const languageId = req.languageId === undefined ? undefined : str(req, 'languageId');
        this.backend.open(path, text, languageId);
        this.open.add(path);
        this.completions.forget(path);
        return { ok: true };
      }
      case 'edit': {
        const path = this.known(req);
        const edits = editsOf(req.edits);
        this.backend.edit(path, edits);
        return { ok: true };
      }
      case 'complete':
        return this.complete(req);
      case 'close': {
        const path = this.known(req);
        this.backend.close(path);
        this.open.delete(path);
        this.completions.forget(path);
        return { ok: true };
      }
      case 'stats':
        return { ...this.backend.stats() };
      default:
        throw new RequestError(`unknown op ${JSON.stringify(op)} (expected one of ${OPS.join(', ')})`);
    }
  }

  private async complete(req: { [key: string]: Json }): Promise<Response> {
    const path = this.known(req);
    const line = nonNegativeInt(req, 'line');
    const col = nonNegativeInt(req, 'col');
    const maxTokens = req.maxTokens === undefined ? undefined : positiveInt(req, 'maxTokens');
    const options = optionsOf(req.options);

    const text = options.completionCache === false ? undefined : this.backend.textOf?.(path);
    let around: { prefix: string; suffix: string } | undefined;
    if (text !== undefined) {
      const cursor = new LineIndex(text).offsetAt(line, col);
      around = { prefix: text.slice(0, cursor), suffix: text.slice(cursor) };
      const hit = this.completions.get(path, around.prefix, around.suffix);
      if (hit) return cachedResult(hit.completions);
    }
    const result: CompletionResult = await this.backend.complete({ path, line, col, maxTokens, options });
    if (around && result.completion !== '') this.completions.put(path, around.prefix, around.suffix, result.completions.length > 0 ? result.completions : [result.completion]);
    return { ...result };
  }

  private known(req: { [key: string]: Json }): string {
    const path = str(req, 'path');
    if (!this.open.has(path)) throw new RequestError(`unknown document: ${path} (open it first)`);
    return path;
  }
}

/** Reads request lines from `input` until it ends, writing one response line each. */
export async function runSession(input: Readable, output: Writable, backend: SessionBackend): Promise<void> {
  const protocol = new SessionProtocol(backend);
  const lines = createInterface({ input, crlfDelay: Infinity });
  for await (const line of lines) {
    const response = await protocol.handle(line);
    if (response) output.write(`${JSON.stringify(response)}\n`);
  }
}

function cachedResult(completions: string[]): Response {
  const timings = { loadMs: 0, encodeMs: 0, firstTokenMs: 0, totalMs: 0, tokens: 0, tokensPerSecond: 0 };
  return { completion: completions[0], completions, timings, reusedTokens: 0, encodedTokens: 0, stopReason: 'stop', cached: true };
}

function str(req: { [key: string]: Json }, key: string, allowEmpty = false): string {
  const v = req[key];
  if (typeof v !== 'string') throw new RequestError(`"${key}" must be a string`);
  if (!allowEmpty && v === '') throw new RequestError(`"${key}" must not be empty`);
  return v;
}

function nonNegativeInt(req: { [key: string]: Json }, key: string): number {
  const v = req[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new RequestError(`"${key}" must be a non-negative integer`);
  return v;
}

function positiveInt(req: { [key: string]: Json }, key: string): number {
  const v = req[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new RequestError(`"${key}" must be a positive integer`);
  return v;
}

function position(v: Json, what: string): [number, number] {
  if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0)) {
    throw new RequestError(`${what} must be [line, col] with non-negative integers`);
  }
  return [v[0] as number, v[1] as number];
}

function editsOf(v: Json | undefined): DocumentEdit[] {
  if (!Array.isArray(v)) throw new RequestError('"edits" must be a list of {start, end, text}');
  return v.map((e, i) => {
    if (typeof e !== 'object' || e === null || Array.isArray(e)) throw new RequestError(`edits[${i}] must be an object`);
    if (typeof e.text !== 'string') throw new RequestError(`edits[${i}].text must be a string`);
    return { start: position(e.start, `edits[${i}].start`), end: position(e.end, `edits[${i}].end`), text: e.text };
  });
}

const ENUMS: Record<string, readonly string[]> = {
  cache: ['pie', 'full', 'prefix', 'conflict'],
  speculation: ['off', 'copyspec', 'recycling', 'auto'],
  mode: ['line', 'block', 'auto'],
  promptLayout: ['psm', 'spm'],
  draftMethod: ['chains', 'superposed', 'independent', 'sampled'],
  draftFinish: ['exact', 'superposed'],
};

/**
 * The request's options. Known switches are type-checked so a typo fails loudly; unknown keys
 * pass through untouched for capabilities that read their own.
 */
function optionsOf(v: Json | undefined): CompletionOptions {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new RequestError('"options" must be an object');
  for (const [key, allowed] of Object.entries(ENUMS)) {
    const x = v[key];
    if (x !== undefined && (typeof x !== 'string' || !allowed.includes(x))) {
      throw new RequestError(`options.${key} must be one of ${allowed.join(', ')}`);
    }
  }
  const refresh = v.refreshWindow;
  if (refresh !== undefined && (typeof refresh !== 'number' || !Number.isInteger(refresh) || refresh < 0)) throw new RequestError('options.refreshWindow must be a non-negative integer');
  const drafts = v.drafts;
  if (drafts !== undefined && (typeof drafts !== 'number' || !Number.isInteger(drafts) || drafts < 1 || drafts > MAX_DRAFTS)) throw new RequestError(`options.drafts must be an integer from 1 to ${MAX_DRAFTS}`);
  for (const key of ['monitors', 'tokenHealing', 'completionCache']) {
    if (v[key] !== undefined && typeof v[key] !== 'boolean') throw new RequestError(`options.${key} must be true or false`);
  }
  const hints = v.memberHints;
  if (hints !== undefined) {
    const ok = typeof hints === 'object' && hints !== null && !Array.isArray(hints) && Array.isArray(hints.names) && hints.names.every((n) => typeof n === 'string');
    if (!ok) throw new RequestError('options.memberHints must be {"receiverEnd": [line, col], "names": [string, ...]}');
    // The protocol's [line, col] pairs become the service's { line, col }.
    const [line, col] = position(hints.receiverEnd, 'options.memberHints.receiverEnd');
    v.memberHints = { receiverEnd: { line, col }, names: hints.names };
  }
  return v as CompletionOptions;
}
