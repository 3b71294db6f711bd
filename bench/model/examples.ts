// Line examples for the completion metrics: which lines are sampled, what the model is shown,
// what counts as the right answer.
//
// A line counts as a target when it has at least one letter or digit (so blank lines, lone
// brackets `}` `});` `],`, `*/`, `"""` are skipped) and some earlier line of the file is not
// blank (the repeat-previous-line baseline needs one). Targets are drawn uniformly from all such
// lines of a language group (larger files give more examples), without replacement, with a
// seeded mulberry32 partial Fisher–Yates shuffle.
//
// For a target line L of a file (the cursor at the start of L unless said otherwise):
//   next-line, plain         `<|file_sep|>{path}\n` + the file up to the cursor (the model's
//                            plain continuation format).
//   next-line, prefix-only   the same text in the FIM layout with nothing after the cursor.
//   next-line, FIM           the same before the cursor; after it, the file from line L+1 on
//                            (L is removed with its newline, as if the line were still to be
//                            written). Scored on the first generated line.
//   single-line infill       the same prompt and the same generation as next-line FIM, scored
//                            on the whole generated middle: the model must write exactly line L
//                            (indentation included) and end the middle.
//   FIM, no empty middle     next-line FIM with end tokens forbidden at the first step only.
//   after indentation        prefix-only (FIM layout) with the cursor after L's leading
//                            whitespace, where an editor's auto-indent leaves it; indented lines only.

import { mulberry32 } from '../../test/fixtures/tinyModel';
import type { Group, HeldoutDoc } from './heldout';

export interface LineExample {
  group: Group;
  /** Index into the group's document list. */
  doc: number;
  path: string;
  lang: string;
  /** Zero-based line index of the target. */
  line: number;
  /** UTF-16 offsets: start of line L, and start of line L+1 (text length for the last line). */
  lineStart: number;
  nextLineStart: number;
  /** Line L without its newline. */
  text: string;
  /** Leading whitespace of line L. */
  indent: string;
  /** The nearest earlier non-blank line, as it is (indentation included). */
  previous: string;
}

/** A line the metrics use as a target: it has a letter or a digit. */
export function isTargetLine(line: string): boolean {
  return /[\p{L}\p{N}]/u.test(line);
}

/** Every target line of one document, in order. */
export function targetLines(doc: HeldoutDoc, group: Group, docIndex: number): LineExample[] {
  const out: LineExample[] = [];
  const text = doc.text;
  let start = 0;
  let previous: string | null = null;
  for (let line = 0; start <= text.length; line++) {
    const nl = text.indexOf('\n', start);
    const end = nl < 0 ? text.length : nl;
    const body = text.slice(start, end).replace(/\r$/, '');
    if (previous !== null && isTargetLine(body)) {
      out.push({
        group,
        doc: docIndex,
        path: doc.path,
        lang: doc.lang,
        line,
        lineStart: start,
        nextLineStart: nl < 0 ? text.length : nl + 1,
        text: body,
        indent: /^[ \t]*/.exec(body)?.[0] ?? '',
        previous,
      });
    }
    if (body.trim() !== '') previous = body;
    if (nl < 0) break;
    start = nl + 1;
  }
  return out;
}

/**
 * `n` target lines drawn uniformly without replacement from all target lines of the group's
 * documents (all of them when there are fewer), returned in document and line order.
 */
export function sampleLines(docs: readonly HeldoutDoc[], group: Group, n: number, seed: number): LineExample[] {
  const all = docs.flatMap((d, i) => targetLines(d, group, i));
  const rand = mulberry32(seed);
  const k = Math.min(n, all.length);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(rand() * (all.length - i));
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all.slice(0, k).sort((a, b) => a.doc - b.doc || a.line - b.line);
}

/** The document as the FIM prompts see it: line L removed with its newline; the cursor where it began. */
export function withLineRemoved(doc: HeldoutDoc, ex: LineExample): { text: string; cursor: number } {
  return { text: doc.text.slice(0, ex.lineStart) + doc.text.slice(ex.nextLineStart), cursor: ex.lineStart };
}

/** What next-line metrics compare: the first line of a generation, whitespace-trimmed at both ends. */
export function firstLine(generated: string): string {
  const nl = generated.indexOf('\n');
  return (nl < 0 ? generated : generated.slice(0, nl)).trim();
}
