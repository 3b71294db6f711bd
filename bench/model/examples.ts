// Line examples for the completion metrics: which lines are sampled, what the model is shown,
// what counts as the right answer.
//
// A line counts as a target when it has at least one letter or digit (so blank lines, lone
// brackets `}` `});` `],`, `*/`, `"""` are skipped) and some earlier line of the file is not
// blank (the repeat-previous-line baseline needs one). Targets are drawn uniformly from all such
// lines of a language group (larger files give more examples), without replacement, with a
// seeded mulberry32 partial Fisher–Yates shuffle.
//
// For a target line L of a file, the document the CompletionService is given is the file with
// L's text emptied (its line break kept): what the editor holds after Enter was pressed at the
// end of line L−1 and the line is still to be written.
//   with the suffix (FIM)    that document, the cursor at the start of the empty line L.
//   after indentation        that document with L's leading whitespace typed (where an editor's
//                            auto-indent leaves the cursor), the cursor after it; indented lines
//                            only. Token healing then hides the indentation in the spm layout.
//   prefix only              the file up to the start of L, nothing after the cursor (the end
//                            of a file).
//   plain format             `<|file_sep|>{path}\n` + the file up to the start of L (the model's
//                            plain continuation format; not a product path).
// next-line: scored on the first line of the completion. single-line infill: the same FIM
// request scored on the whole completion: the model must write exactly line L and end the
// middle right after it (<|endoftext|> or a control token).

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

/**
 * The document as the FIM requests see it: line L's text replaced by `typed` (its line break
 * kept); the cursor after `typed`.
 */
export function withLineBlanked(doc: HeldoutDoc, ex: LineExample, typed = ''): { text: string; cursor: number } {
  const end = ex.lineStart + ex.text.length;
  return { text: doc.text.slice(0, ex.lineStart) + typed + doc.text.slice(end), cursor: ex.lineStart + typed.length };
}

/** What next-line metrics compare: the first line of a generation, whitespace-trimmed at both ends. */
export function firstLine(generated: string): string {
  const nl = generated.indexOf('\n');
  return (nl < 0 ? generated : generated.slice(0, nl)).trim();
}
