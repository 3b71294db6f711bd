// The last N completions' timings: what the status bar shows and the latency report lists.
// Pure (no `vscode`): samples are built from a CompletionResult and rendered to Markdown.

import type { CompletionResult } from '../completion/types';
import type { LoopDelay } from './eventLoop';

export interface LatencySample {
  /** Wall-clock time the completion finished, epoch ms. */
  at: number;
  /** Workspace-relative path (or untitled name) for display. */
  file: string;
  /** Model load paid by this request, ms (0 once loaded). */
  loadMs: number;
  encodeMs: number;
  firstTokenMs: number;
  totalMs: number;
  tokens: number;
  tokensPerSecond: number;
  reusedTokens: number;
  encodedTokens: number;
  acceptedPerForward?: number;
  monitorInterventions?: number;
  stopReason: CompletionResult['stopReason'];
  /** Non-empty alternatives offered (VS Code cycles through them). */
  alternatives: number;
  /** Longest the extension host's event loop was held up while this completion ran, ms. */
  eventLoopMaxMs?: number;
}

export function sampleFrom(result: CompletionResult, file: string, at: number, loop?: LoopDelay): LatencySample {
  const t = result.timings;
  const sample: LatencySample = {
    at,
    file,
    loadMs: t.loadMs,
    encodeMs: t.encodeMs,
    firstTokenMs: t.firstTokenMs,
    totalMs: t.totalMs,
    tokens: t.tokens,
    tokensPerSecond: t.tokensPerSecond,
    reusedTokens: result.reusedTokens,
    encodedTokens: result.encodedTokens,
    acceptedPerForward: result.acceptedPerForward,
    monitorInterventions: result.monitorInterventions,
    stopReason: result.stopReason,
    alternatives: result.completions.filter((c) => c !== '').length,
  };
  if (loop) sample.eventLoopMaxMs = loop.maxMs;
  return sample;
}

/** Fixed-capacity history, newest last. Shrinking the capacity drops the oldest samples. */
export class LatencyLog {
  private items: LatencySample[] = [];

  constructor(private capacity: number) {}

  add(sample: LatencySample): void {
    this.items.push(sample);
    this.trim();
  }

  resize(capacity: number): void {
    this.capacity = capacity;
    this.trim();
  }

  get last(): LatencySample | undefined {
    return this.items[this.items.length - 1];
  }

  samples(): readonly LatencySample[] {
    return this.items;
  }

  private trim(): void {
    if (this.items.length > this.capacity) this.items.splice(0, this.items.length - this.capacity);
  }
}

export function formatMs(ms: number): string {
  return `${Math.round(ms)}ms`;
}

/** Whole numbers once the rate is big enough that a decimal is noise. */
export function formatRate(tokensPerSecond: number): string {
  return tokensPerSecond >= 10 ? tokensPerSecond.toFixed(0) : tokensPerSecond.toFixed(1);
}

/** Local time of day, HH:MM:SS, zero-padded. */
export function formatClock(epochMs: number): string {
  const d = new Date(epochMs);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

/** Markdown table cells must not contain `|` or newlines. */
function cell(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Nearest-rank percentile, p in (0, 100]. */
function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)];
}

/**
 * A Markdown table padded so that the columns also line up in the raw text: the report opens
 * as a plain text document, where an unaligned table would be hard to read.
 */
export function alignedTable(head: string[], rows: string[][], right: boolean[]): string[] {
  const widths = head.map((h, c) => Math.max(h.length, 3, ...rows.map((r) => r[c].length)));
  const pad = (text: string, c: number): string => (right[c] ? text.padStart(widths[c]) : text.padEnd(widths[c]));
  const line = (cells: string[]): string => `| ${cells.map(pad).join(' | ')} |`;
  const rule = `|${widths.map((w, c) => (right[c] ? ` ${'-'.repeat(w - 1)}: ` : ` ${'-'.repeat(w)} `)).join('|')}|`;
  return [line(head), rule, ...rows.map(line)];
}

/**
 * The latency report: a summary line and one row per completion, newest first.
 * `clock` formats timestamps; injected so tests do not depend on the machine's time zone.
 */
export function renderLatencyReport(
  samples: readonly LatencySample[],
  capacity: number,
  clock: (epochMs: number) => string = formatClock,
  loop?: LoopDelay & { completions: number },
): string {
  const lines: string[] = ['# Slipstream latency report', ''];
  // Over every completion since activation, not only the ones listed.
  const loopLine = loop && loop.completions > 0
    ? [`- extension host event loop while completing (${loop.completions} completions): p99 ${loop.p99Ms.toFixed(1)} ms, max ${loop.maxMs.toFixed(1)} ms late`]
    : [];
  if (samples.length === 0) {
    lines.push('No completions yet. Type in a file of an enabled language, or run **Slipstream: Trigger Completion**.', '');
    return lines.join('\n');
  }
  const totals = samples.map((s) => s.totalMs);
  const firsts = samples.map((s) => s.firstTokenMs);
  const rates = samples.filter((s) => s.tokens > 0).map((s) => s.tokensPerSecond);
  const reused = samples.reduce((n, s) => n + s.reusedTokens, 0);
  const encoded = samples.reduce((n, s) => n + s.encodedTokens, 0);
  lines.push(
    `Last ${samples.length} of at most ${capacity} completions (newest first).`,
    '',
    `- total: median ${formatMs(median(totals))}, p90 ${formatMs(percentile(totals, 90))}`,
    `- first token: median ${formatMs(median(firsts))}`,
    rates.length > 0 ? `- decode: median ${formatRate(median(rates))} tok/s` : '- decode: no tokens generated',
    `- prompt tokens reused / encoded: ${reused} / ${encoded}`,
    ...loopLine,
  );
  // Tokens each verification forward yielded (accepted drafts + the model's own next token); 1 = no gain.
  const accepted = samples.flatMap((s) => (s.acceptedPerForward === undefined ? [] : [s.acceptedPerForward]));
  if (accepted.length > 0) lines.push(`- speculation: mean ${(accepted.reduce((a, b) => a + b, 0) / accepted.length).toFixed(2)} accepted tokens per forward (${accepted.length} completions)`);
  lines.push('');
  const speculation = accepted.length > 0;
  const monitors = samples.some((s) => s.monitorInterventions !== undefined);
  const looped = samples.some((s) => s.eventLoopMaxMs !== undefined);
  const head = ['time', 'file', 'encode ms', 'first token ms', 'total ms', 'tokens', 'tok/s', 'reused / encoded'];
  if (speculation) head.push('accepted / forward');
  if (monitors) head.push('monitor fixes');
  if (looped) head.push('loop max ms');
  head.push('alternatives', 'stop');
  const rows: string[][] = [];
  for (let i = samples.length - 1; i >= 0; i--) {
    const s = samples[i];
    const row = [
      clock(s.at),
      cell(s.file),
      String(Math.round(s.encodeMs)),
      String(Math.round(s.firstTokenMs)),
      String(Math.round(s.totalMs)) + (s.loadMs > 0 ? ` (load ${Math.round(s.loadMs)})` : ''),
      String(s.tokens),
      s.tokens > 0 ? formatRate(s.tokensPerSecond) : '–',
      `${s.reusedTokens} / ${s.encodedTokens}`,
    ];
    if (speculation) row.push(s.acceptedPerForward === undefined ? '–' : s.acceptedPerForward.toFixed(2));
    if (monitors) row.push(s.monitorInterventions === undefined ? '–' : String(s.monitorInterventions));
    if (looped) row.push(s.eventLoopMaxMs === undefined ? '–' : s.eventLoopMaxMs.toFixed(0));
    row.push(String(s.alternatives), s.stopReason);
    rows.push(row);
  }
  // Text columns (time, file, stop) left-aligned, numbers right-aligned.
  const right = head.map((h, i) => i >= 2 && h !== 'stop');
  lines.push(...alignedTable(head, rows, right));
  lines.push('');
  return lines.join('\n');
}
