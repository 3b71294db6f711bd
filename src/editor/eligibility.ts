// Which documents Slipstream looks at. Pure: the provider and the document sync pass in the
// few numbers they read from a TextDocument, so the rules are unit-testable.

import { isLanguageEnabled, type Settings } from '../config/settings';

/** Real files and unsaved buffers. Everything else (output panes, git views, our own latency
 *  report, settings editors) is not the user's code and must not reach the model. */
export const SYNCED_SCHEMES: ReadonlySet<string> = new Set(['file', 'untitled']);

export interface DocumentShape {
  uriScheme: string;
  languageId: string;
  lineCount: number;
  /** Length in UTF-16 code units. A lower bound on the UTF-8 size, so the editor never skips a
   *  document the service would accept; the service checks exact bytes itself. */
  length: number;
  /** The first few KB of text, enough to recognise binary content cheaply. */
  head: string;
}

export type Eligibility =
  | { kind: 'eligible' }
  /** Not ours to look at (scheme or language): silently ignored. */
  | { kind: 'ignored' }
  /** Ours, but too big or binary: ignored with a status-bar note saying why. */
  | { kind: 'skipped'; reason: string };

export const BINARY_SAMPLE_CHARS = 8192;

export function classifyDocument(
  doc: DocumentShape,
  settings: Pick<Settings, 'enabledLanguages' | 'maxDocumentBytes' | 'maxDocumentLines'>,
): Eligibility {
  if (!SYNCED_SCHEMES.has(doc.uriScheme)) return { kind: 'ignored' };
  if (!isLanguageEnabled(settings, doc.languageId)) return { kind: 'ignored' };
  if (doc.length > settings.maxDocumentBytes) {
    return { kind: 'skipped', reason: `file too large (${formatBytes(doc.length)} > ${formatBytes(settings.maxDocumentBytes)})` };
  }
  if (doc.lineCount > settings.maxDocumentLines) {
    return { kind: 'skipped', reason: `file too long (${doc.lineCount} lines > ${settings.maxDocumentLines})` };
  }
  if (looksBinary(doc.head)) return { kind: 'skipped', reason: 'binary content' };
  return { kind: 'eligible' };
}

/**
 * NUL never occurs in source text; U+FFFD is what invalid UTF-8 decodes to, and a file with
 * many of them was not text to begin with. 1% tolerates a few stray replacement characters
 * pasted into a real source file.
 */
export function looksBinary(head: string): boolean {
  const sample = head.length > BINARY_SAMPLE_CHARS ? head.slice(0, BINARY_SAMPLE_CHARS) : head;
  if (sample.includes('\u0000')) return true;
  let replacements = 0;
  for (let i = 0; i < sample.length; i++) if (sample.charCodeAt(i) === 0xfffd) replacements++;
  return sample.length > 0 && replacements / sample.length > 0.01;
}

/** Decimal units, so the default limit of 1000000 reads as the round "1.0 MB" users set. */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  if (n < 1_000_000) return `${(n / 1000).toFixed(n < 10_000 ? 1 : 0)} kB`;
  return `${(n / 1_000_000).toFixed(1)} MB`;
}
