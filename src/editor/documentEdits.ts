// VS Code content changes → the backend's DocumentEdit list. No `vscode` import: the shapes
// below are the structural subset of `TextDocumentContentChangeEvent` this needs.

import type { DocumentEdit } from '../completion/types';

export interface PositionLike {
  readonly line: number;
  readonly character: number;
}

export interface ContentChangeLike {
  readonly range: { readonly start: PositionLike; readonly end: PositionLike };
  readonly text: string;
}

/**
 * One DocumentEdit per change, in VS Code's order. VS Code reports every range of one event
 * against the document *before* that event and lists multi-cursor changes bottom-up (descending
 * start), so applying the list front to back never moves a range that is still to come; keeping
 * the order is what makes both readings (all-before and sequential) agree. Columns are UTF-16
 * code units on both sides, so no conversion is needed.
 */
export function toDocumentEdits(changes: readonly ContentChangeLike[]): DocumentEdit[] {
  return changes.map((c) => ({
    start: [c.range.start.line, c.range.start.character],
    end: [c.range.end.line, c.range.end.character],
    text: c.text,
  }));
}
