// The editor's language features as an extra oracle for the dereference monitor (the paper's
// language-server monitor): when the cursor is right after `receiver.` (or inside the member
// being typed), ask VS Code's completion providers for the members there and hand the names to
// the completion request, where they are unioned with what the static analysis knows.
//
// Off by default (`slipstream.languageServerMembers`): the providers run in other extensions'
// processes and can be slow, so the answer is only awaited for a budget
// (`slipstream.languageServerBudgetMs`) after the debounce; late answers are dropped. Pure (no
// `vscode`): the provider passes in the command call, so the rules are unit-testable.

import { withinBudget } from '../completion/monitoring';
import type { MemberHints } from '../completion/types';

/** vscode.CompletionItemKind values that name members of a receiver (or of a module). */
const MEMBER_KINDS: ReadonlySet<number> = new Set([
  1, // Method
  2, // Function
  4, // Field
  5, // Variable
  6, // Class
  7, // Interface
  8, // Module
  9, // Property
  12, // Enum
  19, // EnumMember
  20, // Constant
  21, // Struct
  22, // Event
]);

/** The part of a vscode.CompletionItem this module reads. */
export interface OracleItem {
  label: string | { label: string };
  kind?: number;
}

/** Where to ask: the cursor, the trigger character, and where the receiver ends (the separator starts). */
export interface OracleQuery {
  /** Zero-based line/UTF-16 column where the receiver expression ends (the `.` or `->` starts). */
  receiverEnd: { line: number; col: number };
  /** The character that triggered member completion, when the cursor is right after it. */
  triggerCharacter?: string;
}

const IDENT_TAIL = /[A-Za-z_$\u0080-\uffff][\w$\u0080-\uffff]*$/;

/**
 * A member access at the cursor: the line ends with `name.` / `name?.` / `name->` (C-like) plus
 * the part of the member typed so far. Null elsewhere (no receiver name before the separator,
 * a number like `1.`, a spread `...`).
 */
export function memberAccessAt(linePrefix: string, line: number, languageId: string): OracleQuery | null {
  const partial = IDENT_TAIL.exec(linePrefix)?.[0] ?? '';
  const before = linePrefix.slice(0, linePrefix.length - partial.length);
  if (/^\d/.test(partial)) return null;
  const arrow = /^(c|cpp|cuda-cpp|objective-c|objective-cpp)$/.test(languageId);
  const sep = /(\?\.|->|\.)$/.exec(before)?.[1];
  if (!sep || (sep === '->' && !arrow) || before.endsWith('..')) return null;
  const receiver = before.slice(0, before.length - sep.length);
  // The receiver must end in a name or a call/index result; `1.` is a number, `(.` nothing.
  if (!/[\w$)\]]$/.test(receiver) || /(^|[^\w$.])\d+$/.test(receiver)) return null;
  return { receiverEnd: { line, col: receiver.length }, triggerCharacter: partial === '' ? sep[sep.length - 1] : undefined };
}

/**
 * Member names from a completion list. Word-based suggestions (kind Text), keywords, snippets
 * and the like are not members; a list with no member item says nothing (undefined), so the
 * monitor then relies on the analysis alone.
 */
export function membersFromItems(items: readonly OracleItem[]): string[] | undefined {
  const names = new Set<string>();
  for (const item of items) {
    if (item.kind === undefined || !MEMBER_KINDS.has(item.kind)) continue;
    const label = typeof item.label === 'string' ? item.label : item.label.label;
    // Labels may carry a signature or a `?` (optional property): keep the identifier.
    const name = /^[A-Za-z_$#\u0080-\uffff][\w$\u0080-\uffff]*/.exec(label.trim())?.[0];
    if (name) names.add(name);
  }
  return names.size > 0 ? [...names] : undefined;
}

/**
 * Asks `execute` (vscode.executeCompletionItemProvider at the cursor) and waits at most
 * `budgetMs` once `ready` settles (the debounce); undefined when late, failed, aborted or empty.
 * Start it as early as possible and pass the debounce as `ready`, so the two overlap.
 */
export async function askMembers(
  query: OracleQuery,
  execute: (triggerCharacter: string | undefined) => Thenable<{ items: readonly OracleItem[] } | undefined>,
  budgetMs: number,
  signal: AbortSignal,
  ready: Promise<unknown> = Promise.resolve(),
): Promise<MemberHints | undefined> {
  const answer = (async () => {
    const list = await execute(query.triggerCharacter);
    const names = list ? membersFromItems(list.items) : undefined;
    return names ? { receiverEnd: query.receiverEnd, names } : null;
  })();
  // A rejection becomes null inside withinBudget; this only keeps it from going unhandled.
  answer.catch(() => undefined);
  await ready.catch(() => undefined);
  if (signal.aborted) return undefined;
  return (await withinBudget(answer, budgetMs, signal)) ?? undefined;
}
