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
  /** Length in UTF-16 code units: a lower bound on the UTF-8 size, so this cheap check never
   *  skips a document that the exact check would accept. */
  length: number;
}

export type Eligibility =
  | { kind: 'eligible' }
  /** Not ours to look at (scheme or language): silently ignored. */
  | { kind: 'ignored' }
  /** Ours, but too big ('size') or binary ('content'): ignored with a status-bar note saying why. */
  | { kind: 'skipped'; reason: string; cause: 'size' | 'content' };

/**
 * `contentCheck` scans the text (exact UTF-8 size, binary content). It is O(document), so
 * callers pass it when a document opens and leave it out on keystrokes, where only the O(1)
 * size checks run: typing does not turn source into binary.
 */
export function classifyDocument(
  doc: DocumentShape,
  settings: Pick<Settings, 'enabledLanguages' | 'maxDocumentBytes' | 'maxDocumentLines'>,
  contentCheck?: () => string | null,
): Eligibility {
  if (!SYNCED_SCHEMES.has(doc.uriScheme)) return { kind: 'ignored' };
  if (!isLanguageEnabled(settings, doc.languageId)) return { kind: 'ignored' };
  if (doc.length > settings.maxDocumentBytes) {
    return {
      kind: 'skipped',
      reason: `file too large (${formatBytes(doc.length)} > ${formatBytes(settings.maxDocumentBytes)})`,
      cause: 'size',
    };
  }
  if (doc.lineCount > settings.maxDocumentLines) {
    return { kind: 'skipped', reason: `file too long (${doc.lineCount} lines > ${settings.maxDocumentLines})`, cause: 'size' };
  }
  const reason = contentCheck?.() ?? null;
  return reason === null ? { kind: 'eligible' } : { kind: 'skipped', reason, cause: 'content' };
}

/** Decimal units, so the default limit of 1000000 reads as the round "1.0 MB" users set. */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  if (n < 1_000_000) return `${(n / 1000).toFixed(n < 10_000 ? 1 : 0)} kB`;
  return `${(n / 1_000_000).toFixed(1)} MB`;
}
