// What the status bar item shows, as data. One union in, one view out: the vscode-side
// StatusBar applies the view and nothing else decides what the item looks like.

import type { EngineState } from '../completion/types';
import { formatMs, formatRate, type LatencySample } from './latency';

/** The engine's state, widened with the editor-side reasons not to complete. */
export type StatusState = (
  | EngineState
  /** `slipstream.enable` is off, or the active editor's language is not enabled. */
  | { kind: 'disabled'; languageId?: string }
  /** The active document is too large or binary. */
  | { kind: 'skipped'; reason: string }
) & {
  /** The last finished completion, shown beside ready / generating states. */
  last?: LatencySample;
};

export const COMMANDS = {
  toggle: 'slipstream.toggle',
  triggerCompletion: 'slipstream.triggerCompletion',
  selectModelFolder: 'slipstream.selectModelFolder',
  showLog: 'slipstream.showLog',
  showLatencyReport: 'slipstream.showLatencyReport',
} as const;

export interface StatusView {
  /** Item text with `$(codicon)` syntax. */
  text: string;
  /** Markdown (theme icons allowed). */
  tooltip: string;
  /** Screen-reader label; also the stable, DOM-visible text end-to-end tests read. */
  ariaLabel: string;
  command: string;
  background: 'none' | 'warning' | 'error';
}

const NAME = 'Slipstream';

export function renderStatus(state: StatusState): StatusView {
  switch (state.kind) {
    case 'idle':
      return view(`$(zap) ${NAME}`, ['**Slipstream**: the model loads on the first completion.'], `${NAME}: idle`, state.last);
    case 'loading':
      return {
        text: `$(loading~spin) ${NAME}`,
        tooltip: `**Slipstream**: loading the model from \`${state.modelDir}\``,
        ariaLabel: `${NAME}: loading model`,
        command: COMMANDS.showLog,
        background: 'none',
      };
    case 'ready':
      return view(state.last ? `$(zap) ${readout(state.last)}` : `$(zap) ${NAME}`, ['**Slipstream**: ready'], `${NAME}: ready`, state.last);
    case 'generating':
      return view(
        state.last ? `$(loading~spin) ${readout(state.last)}` : `$(loading~spin) ${NAME}`,
        ['**Slipstream**: generating…'],
        `${NAME}: generating`,
        state.last,
      );
    case 'error':
      return {
        text: `$(error) ${NAME}`,
        tooltip: `**Slipstream**: ${escapeMarkdown(state.message)}\n\nClick to show the log.`,
        ariaLabel: `${NAME}: error: ${state.message}`,
        command: COMMANDS.showLog,
        background: 'error',
      };
    case 'disabled':
      return {
        text: `$(circle-slash) ${NAME}`,
        tooltip:
          state.languageId === undefined
            ? '**Slipstream**: completions are off. Click to turn them on.'
            : `**Slipstream**: not enabled for \`${state.languageId}\` (setting \`slipstream.enabledLanguages\`).`,
        ariaLabel: state.languageId === undefined ? `${NAME}: disabled` : `${NAME}: disabled for ${state.languageId}`,
        command: state.languageId === undefined ? COMMANDS.toggle : COMMANDS.showLatencyReport,
        background: 'none',
      };
    case 'skipped':
      return {
        text: `$(circle-slash) ${NAME}: skipped`,
        tooltip: `**Slipstream**: this document is skipped: ${escapeMarkdown(state.reason)}.`,
        ariaLabel: `${NAME}: skipped: ${state.reason}`,
        command: COMMANDS.showLatencyReport,
        background: 'warning',
      };
  }
}

/** `142ms · 38 tok/s`: total latency, then decode speed when tokens were generated. */
export function readout(s: LatencySample): string {
  return s.tokens > 0 ? `${formatMs(s.totalMs)} · ${formatRate(s.tokensPerSecond)} tok/s` : formatMs(s.totalMs);
}

/** The tooltip's table for one completion; optional rows only when the result carried them. */
export function latencyTable(s: LatencySample): string {
  const rows: [string, string][] = [];
  if (s.loadMs > 0) rows.push(['model load', `${Math.round(s.loadMs)} ms`]);
  rows.push(
    ['encode', `${Math.round(s.encodeMs)} ms`],
    ['first token', `${Math.round(s.firstTokenMs)} ms`],
    ['total', `${Math.round(s.totalMs)} ms`],
    ['tokens', s.tokens > 0 ? `${s.tokens} at ${formatRate(s.tokensPerSecond)} tok/s` : '0'],
    ['prompt tokens reused / encoded', `${s.reusedTokens} / ${s.encodedTokens}`],
  );
  if (s.acceptedPerForward !== undefined) rows.push(['speculation', `${s.acceptedPerForward.toFixed(2)} accepted / forward`]);
  if (s.monitorInterventions !== undefined) rows.push(['monitor interventions', String(s.monitorInterventions)]);
  if (s.alternatives > 1) rows.push(['alternatives', String(s.alternatives)]);
  if (s.eventLoopMaxMs !== undefined) rows.push(['extension host loop, max late', `${Math.round(s.eventLoopMaxMs)} ms`]);
  rows.push(['stop', s.stopReason]);
  return ['| last completion | |', '| --- | ---: |', ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join('\n');
}

/** Spoken / DOM form of the readout: every number the tooltip has, in one line. */
export function latencyLabel(s: LatencySample): string {
  const parts = [
    `last completion ${Math.round(s.totalMs)} ms`,
    `${formatRate(s.tokensPerSecond)} tokens per second`,
    `encode ${Math.round(s.encodeMs)} ms`,
    `first token ${Math.round(s.firstTokenMs)} ms`,
    `${s.reusedTokens} tokens reused`,
    `${s.encodedTokens} encoded`,
  ];
  if (s.acceptedPerForward !== undefined) parts.push(`${s.acceptedPerForward.toFixed(2)} accepted per forward`);
  if (s.monitorInterventions !== undefined) parts.push(`${s.monitorInterventions} monitor interventions`);
  if (s.eventLoopMaxMs !== undefined) parts.push(`extension host event loop at most ${Math.round(s.eventLoopMaxMs)} ms late`);
  return parts.join(', ');
}

function view(text: string, head: string[], label: string, last: LatencySample | undefined): StatusView {
  const tooltip = last
    ? [...head, '', latencyTable(last), '', 'Click for the latency report.']
    : [...head, '', 'Click for the latency report.'];
  return {
    text,
    tooltip: tooltip.join('\n'),
    ariaLabel: last ? `${label}, ${latencyLabel(last)}` : label,
    command: COMMANDS.showLatencyReport,
    background: 'none',
  };
}

/** Error text goes into Markdown; characters that would format it are escaped. */
function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, (c) => `\\${c}`);
}

/** What the status bar says about the active editor's document, when anything. */
export type DocumentNote = { kind: 'language'; languageId: string } | { kind: 'skipped'; reason: string };

export interface StatusInputs {
  enabled: boolean;
  engine: EngineState;
  note: DocumentNote | undefined;
  last: LatencySample | undefined;
}

/**
 * The one state to draw, by precedence: completions switched off explains everything; a model
 * error matters in every document; then why the active document gets nothing; then the engine.
 */
export function composeStatus(inputs: StatusInputs): StatusState {
  if (!inputs.enabled) return { kind: 'disabled' };
  if (inputs.engine.kind === 'error') return inputs.engine;
  if (inputs.note?.kind === 'language') return { kind: 'disabled', languageId: inputs.note.languageId };
  if (inputs.note?.kind === 'skipped') return { kind: 'skipped', reason: inputs.note.reason };
  return inputs.last ? { ...inputs.engine, last: inputs.last } : inputs.engine;
}
