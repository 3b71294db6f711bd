// Monitor-guided decoding (arXiv 2306.10763): small state machines over the generated text that,
// at each position, mask the tokens static analysis says cannot be right there.
//
//   dereference  after `receiver.` the next identifier must be a member of the receiver
//   scope        an identifier in a pure "use" position must be a name in scope (or a keyword)
//   syntax       a closer must match the innermost bracket the completion opened; a one-line
//                string the completion opened cannot take a newline
//
// Each monitor answers "unknown" whenever the analysis is unsure, and the set never masks every
// token: if nothing the model would accept remains, the step runs unconstrained. End and control
// tokens are never masked, except right after `recv.` or inside a member name the dereference
// monitor knows is incomplete (ending there would leave a member the receiver does not have).
//
// The masks are pure functions of (document at request time, cursor, generated text): the
// document's analysis and text are snapshotted when the monitors are created, so a speculative
// verifier or superposed drafts can ask for any prefix in any order (see Monitors.processor),
// and greedy acceptance stays lossless with respect to monitored greedy decoding.

import type { DocumentAnalysis } from '../../analysis/document';
import type { FileAnalysis, SymbolIndex } from '../../analysis/index';
import { parseReceiver } from '../../analysis/index';
import type { TokenizerLike } from '../../engine/types';
import type { LogitsContext, LogitsProcessor } from '../logitsProcessors';
import { inCode, initialLexState, lexChar, lexSyntaxFor, lexText, type LexState, type LexSyntax } from './lexer';
import { identifierBytes, NameTrie, VocabTrie, type IdentifierSyntax } from './vocabTrie';

export type MonitorName = 'dereference' | 'scope' | 'syntax';

export interface MonitorStep {
  /** The model's own choice (argmax before the mask) was masked: the monitor changed the output. */
  intervened: boolean;
  /** Tokens set to -Infinity at this position (0 when unconstrained). */
  masked: number;
  /** Which monitors constrained this position. */
  monitors: MonitorName[];
}

export interface MonitorStats {
  steps: number;
  /** Positions where some mask was applied. */
  constrained: number;
  interventions: number;
  /** Positions where a mask would have removed every viable token and was dropped. */
  fallbacks: number;
  /** Time spent in apply(), milliseconds. */
  ms: number;
}

export interface CreateMonitorsOptions {
  /** The workspace index (answers legalMembers / namesInScope). */
  analysis: SymbolIndex;
  tokenizer: TokenizerLike;
  /** The document being completed, as analysed (its text is the editor's, without generated text). */
  document: DocumentAnalysis;
  /** UTF-16 offset of the cursor in the document's text. */
  cursorOffset: number;
  languageId: string;
  /** Turn single monitors off (all on by default). */
  enable?: Partial<Record<MonitorName, boolean>>;
  /**
   * Members of the receiver whose chain ends at document offset `receiverEnd` (the member access
   * at the cursor) from another oracle (the editor's language server); unioned with the
   * analysis' legal set, or used alone where the analysis does not know the receiver.
   */
  cursorMembers?: { receiverEnd: number; names: readonly string[] };
  signal?: AbortSignal;
}

/** How far back from the cursor the monitors look for a receiver or a use position. */
const TAIL_CHARS = 400;

/** Python brackets the cursor may sit in where a bare name can be a binding (comprehension targets, keyword names, parameters). */
const PY_BRACKET_NODES = new Set([
  'argument_list', 'parameters', 'lambda_parameters', 'list', 'dictionary', 'set', 'tuple', 'parenthesized_expression',
  'subscript', 'list_comprehension', 'set_comprehension', 'dictionary_comprehension', 'generator_expression', 'pattern_list',
]);

const PY_USE_KEYWORDS = ['return', 'yield', 'await', 'raise', 'assert', 'if', 'elif', 'while', 'not', 'and', 'or', 'in', 'is', 'else', 'del'];
const JS_USE_KEYWORDS = ['return', 'throw', 'await', 'typeof', 'void', 'delete', 'yield', 'new', 'in', 'instanceof', 'of'];
/** Binary operators after which an operand (a use) follows; longest first so '==' wins over '='. */
const PY_USE_OPERATORS = ['**=', '//=', '>>=', '<<=', '==', '!=', '<=', '>=', '+=', '-=', '*=', '/=', '%=', '&=', '|=', '^=', '//', '**', '<<', '>>', '=', '+', '-', '*', '/', '%', '<', '>', '&', '|', '^', '~'];
const JS_USE_OPERATORS = ['===', '!==', '**=', '&&=', '||=', '??=', '=>', '==', '!=', '<=', '>=', '+=', '-=', '*=', '/=', '%=', '&&', '||', '??', '**', '=', '+', '-', '*', '/', '%', '!', ' <', ' >', ' ?'];
/** TypeScript's global type names: they can follow `=` in a type alias without any declaration. */
const TS_GLOBAL_TYPES = (
  'Partial Required Readonly Record Pick Omit Exclude Extract NonNullable Parameters ReturnType InstanceType ThisType ' +
  'Awaited Uppercase Lowercase Capitalize Uncapitalize ConstructorParameters ThisParameterType OmitThisParameter NoInfer ' +
  'ReadonlyArray ArrayLike PromiseLike Iterable Iterator IterableIterator AsyncIterable AsyncIterator Generator ' +
  'AsyncGenerator PropertyKey PropertyDescriptor TemplateStringsArray ReadonlyMap ReadonlySet'
).split(' ');

const encoder = new TextEncoder();

/** Syntax vetoes by (language, lexer state), per vocabulary, across requests; bounded (cleared when full). */
const SHARED_VETOES = new WeakMap<VocabTrie, Map<string, Int32Array>>();
const MAX_SHARED_VETOES = 1024;

export class Monitors {
  readonly stats: MonitorStats = { steps: 0, constrained: 0, interventions: 0, fallbacks: 0, ms: 0 };
  private readonly trie: VocabTrie;
  private readonly ident: Uint8Array;
  private readonly identRe: RegExp;
  private readonly allowed: Uint8Array;
  private readonly bad: Uint8Array;
  private readonly memberCache = new Map<string, NameTrie | null>();
  private scopeNames: Set<string> | null | undefined;
  private scopeTrie: NameTrie | null | undefined;
  private readonly generatedWordTries = new Map<string, NameTrie>();
  /** Syntax vetoes by lexer state (they depend on nothing else). */
  private readonly syntaxCache = new Map<string, Int32Array>();
  private readonly allowMemo = new WeakMap<NameTrie, Map<string, Int32Array>>();
  private readonly scratch: Uint8Array;
  private readonly syntaxIds: Int32Array;
  private lastText = '';
  private lastState: LexState = initialLexState();
  private readonly decoded = new TokenTextCache();
  /** What the processor did after each generated prefix (keyed by prefixKey). */
  private readonly stepsByPrefix = new Map<string, MonitorStep>();

  constructor(
    private readonly opts: CreateMonitorsOptions,
    private readonly lex: LexSyntax,
    private readonly identSyntax: IdentifierSyntax,
    /** The document text just before the cursor (at most TAIL_CHARS). */
    private readonly docTail: string,
    private readonly enabled: Record<MonitorName, boolean>,
    /** Python: the cursor sits inside brackets, where names may be bindings. */
    private readonly cursorInBrackets: boolean,
    /** The document's analysis and text at request time: later edits must not change the masks. */
    private readonly snapshot: { file: FileAnalysis | null; text: string },
  ) {
    this.trie = VocabTrie.for(opts.tokenizer);
    this.ident = identifierBytes(identSyntax);
    this.identRe = identSyntax === 'ecmascript' ? /[\w$#\u0080-\uffff]/ : /[\w\u0080-\uffff]/;
    this.allowed = new Uint8Array(this.trie.size);
    this.bad = new Uint8Array(this.trie.size);
    this.scratch = new Uint8Array(this.trie.size);
    this.syntaxIds = this.trie.idsContaining(')]}\n');
  }

  /**
   * The monitors as a logits processor for the chooser (greedy, speculative verification,
   * superposed drafts).
   *
   * Contract: the mask for a row depends only on `ctx.generated` (the tokens before that row,
   * on the path being decided) and on the request's document and cursor, never on which calls
   * came before. A speculative verifier may call it per verified node in tree order, branch,
   * backtrack, or revisit a prefix; superposed drafts call it once per draft. Each call gets
   * exactly the mask a plain greedy run would apply after the same `generated` prefix. (The
   * decoded text and the lexer state are memoised by shared prefix, so walking one path
   * stays incremental; a jump to another branch re-derives them from `generated`.)
   * interventionsAlong() then counts interventions on the path finally accepted.
   */
  get processor(): LogitsProcessor {
    return (logits: Float32Array, ctx: LogitsContext) => {
      const step = this.apply(ctx.position, logits, this.decoded.text(ctx.generated, this.opts.tokenizer));
      this.stepsByPrefix.set(prefixKey(ctx.generated, ctx.generated.length), step);
    };
  }

  /** Positions of `tokens` (the accepted completion) where a monitor changed the model's choice, as the processor saw them. */
  interventionsAlong(tokens: readonly number[]): number {
    let n = 0;
    for (let i = 0; i < tokens.length; i++) if (this.stepsByPrefix.get(prefixKey(tokens, i))?.intervened) n++;
    return n;
  }

  /**
   * Masks `logits` ([V] float32, one position) in place for the next token after `generatedText`
   * (the completion so far, starting at the cursor). Returns whether it changed the model's choice.
   */
  apply(_position: number, logits: Float32Array, generatedText: string): MonitorStep {
    const t0 = performance.now();
    this.stats.steps++;
    const step = this.compute(logits, generatedText);
    if (step.masked > 0) this.stats.constrained++;
    if (step.intervened) this.stats.interventions++;
    this.stats.ms += performance.now() - t0;
    return step;
  }

  private compute(logits: Float32Array, generated: string): MonitorStep {
    const none: MonitorStep = { intervened: false, masked: 0, monitors: [] };
    if (generated.includes('\uFFFD')) return none;
    const state = this.lexState(generated);
    const allowed = this.allowed;
    allowed.fill(0);
    let constrained = false;
    const used: MonitorName[] = [];
    const tail = (this.docTail + generated).slice(-TAIL_CHARS);
    this.owed = false;
    if (inCode(state)) {
      if (this.enabled.dereference && this.dereference(tail, generated, allowed)) {
        constrained = true;
        used.push('dereference');
      } else if (this.enabled.scope && state.stack.length === 0 && this.scope(tail, generated, allowed)) {
        constrained = true;
        used.push('scope');
      }
    }
    let syntaxBad = 0;
    if (this.enabled.syntax) syntaxBad = this.syntax(state);
    if (syntaxBad > 0) used.push('syntax');
    if (!constrained && syntaxBad === 0) return none;
    if (!constrained) allowed.fill(1);
    // Exempt ids (end/control tokens) are never masked; syntax vetoes win over the identifier rule.
    const exempt = this.trie.exempt;
    const bad = this.bad;
    let viable = false;
    let best = -1;
    let bestValue = Number.NEGATIVE_INFINITY;
    const V = Math.min(logits.length, allowed.length);
    for (let i = 0; i < V; i++) {
      const ok = exempt[i] === 1 || (allowed[i] === 1 && bad[i] === 0);
      if (ok && exempt[i] === 0 && logits[i] > Number.NEGATIVE_INFINITY) viable = true;
      if (logits[i] > bestValue) {
        bestValue = logits[i];
        best = i;
      }
    }
    if (!viable) {
      this.clearBad();
      this.stats.fallbacks++;
      return none;
    }
    // End and control tokens stay possible, except while a member name is owed (see dereference).
    const owed = this.owed;
    let masked = 0;
    for (let i = 0; i < V; i++) {
      if ((exempt[i] === 1 && !owed) || (allowed[i] === 1 && bad[i] === 0)) continue;
      if (logits[i] > Number.NEGATIVE_INFINITY) {
        logits[i] = Number.NEGATIVE_INFINITY;
        masked++;
      }
    }
    this.clearBad();
    const intervened = best >= 0 && logits[best] === Number.NEGATIVE_INFINITY;
    return { intervened, masked, monitors: used };
  }

  private badIds: number[] = [];
  /** Set by dereference(): the text ends in `recv.` or a strict prefix of a legal member, so the completion may not end here. */
  private owed = false;

  /**
   * VocabTrie.allowIdentifier, memoised per (name trie, typed, options): the walk over a large
   * name set (the scope monitor's) costs milliseconds, and the same question recurs at many
   * positions of a completion (an identifier about to start after ' ').
   */
  private allowNames(names: NameTrie, typed: string, opts: { lead?: string; allowNumbers?: boolean; allowBreakStart?: boolean }, allowed: Uint8Array): void {
    let memo = this.allowMemo.get(names);
    if (!memo) {
      memo = new Map();
      this.allowMemo.set(names, memo);
    }
    const key = `${typed}\u0000${opts.lead ?? ''}\u0000${opts.allowNumbers ? 1 : 0}${opts.allowBreakStart ? 1 : 0}`;
    let ids = memo.get(key);
    if (!ids) {
      const scratch = this.scratch;
      scratch.fill(0);
      const lead = opts.lead !== undefined && opts.lead !== '' ? encoder.encode(opts.lead) : undefined;
      this.trie.allowIdentifier(encoder.encode(typed), names, this.ident, scratch, { lead, allowNumbers: opts.allowNumbers, allowBreakStart: opts.allowBreakStart });
      const out: number[] = [];
      for (let i = 0; i < scratch.length; i++) if (scratch[i] === 1) out.push(i);
      ids = Int32Array.from(out);
      memo.set(key, ids);
    }
    for (const id of ids) allowed[id] = 1;
  }

  private clearBad(): void {
    for (const id of this.badIds) this.bad[id] = 0;
    this.badIds = [];
  }

  /** Lex state after the generated text, extended incrementally while the text only grows. */
  private lexState(generated: string): LexState {
    if (!generated.startsWith(this.lastText)) {
      this.lastText = '';
      this.lastState = initialLexState();
    }
    const s = { ...this.lastState };
    for (let i = this.lastText.length; i < generated.length; i++) {
      const wasCode = inCode(s);
      lexChar(s, this.lex, generated[i], generated, i);
      // A triple-quote opener: its two other quote characters belong to it.
      if (wasCode && s.quote.length === 3) i += 2;
    }
    this.lastText = generated;
    this.lastState = s;
    return s;
  }

  /** The trailing identifier run of `text` (its start index). */
  private identStart(text: string): number {
    let i = text.length;
    while (i > 0 && this.identRe.test(text[i - 1])) i--;
    return i;
  }

  /** `a.b.c` ending exactly at `end` (a chain of identifiers, C `->` too); null if what ends there is no plain chain. */
  private receiverBefore(text: string, end: number): { chain: string; start: number } | null {
    const re = this.lex === 'c' ? /([A-Za-z_]\w*(?:\s*(?:\.|->)\s*[A-Za-z_]\w*)*)$/ : this.identSyntax === 'ecmascript' ? /([A-Za-z_$][\w$]*(?:\??\.[A-Za-z_$#][\w$]*)*)$/ : /([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)$/;
    const m = re.exec(text.slice(Math.max(0, end - 200), end));
    if (!m) return null;
    const start = end - m[1].length;
    // `f().x`, `a[0].x`, `1.5`, `..x`: the chain does not start at a name we can resolve.
    const before = text[start - 1];
    if (before !== undefined && /[\w$.)\]'"`#]/.test(before)) return null;
    return { chain: m[1].replace(/\?\./g, '.'), start };
  }

  private legalNames(receiver: string, chainStartInTail: number, tail: string, generated: string, chainEnd: number): NameTrie | null {
    if (this.lex !== 'c' && receiverStartsStatement(tail, chainStartInTail)) return null;
    const lang = this.identSyntax === 'ecmascript' ? 'ecmascript' : this.identSyntax;
    const parts = parseReceiver(receiver, lang);
    if (!parts) return null;
    const root = parts[0];
    // The root was (re)bound inside the completion: the document's analysis no longer describes it.
    const genStart = tail.length - generated.length;
    if (root !== 'self' && root !== 'this' && chainStartInTail >= genStart) {
      const before = generated.slice(0, chainStartInTail - genStart);
      if (new RegExp(`(^|[^\\w$.])${root.replace(/\$/g, '\\$')}(?![\\w$])(?!\\s*(\\.|->))`).test(before)) return null;
    }
    // The oracle's members belong to the one receiver that ends where it asked (in the document, before the cursor).
    const hints = this.opts.cursorMembers;
    const atCursor = hints !== undefined && chainEnd <= genStart && this.opts.cursorOffset - (genStart - chainEnd) === hints.receiverEnd;
    const key = atCursor ? `${parts.join('.')}\u0000cursor` : parts.join('.');
    if (this.memberCache.has(key)) return this.memberCache.get(key) ?? null;
    let set = this.opts.analysis.legalMembersIn(this.snapshot.file, this.snapshot.text, this.opts.cursorOffset, receiver);
    if (atCursor && hints) set = new Set([...(set ?? []), ...hints.names]);
    const trie = set ? NameTrie.from(set, this.ident) : null;
    this.memberCache.set(key, trie);
    return trie;
  }

  /** After `receiver.` (mode 1), or right after a receiver where the next token may start with `.` (mode 2). */
  private dereference(tail: string, generated: string, allowed: Uint8Array): boolean {
    const pStart = this.identStart(tail);
    const typed = tail.slice(pStart);
    if (/^[0-9]/.test(typed)) return false;
    const before = tail.slice(0, pStart);
    const sep = /(\?\.|->|\.)$/.exec(before);
    if (sep && (sep[1] !== '->' || this.lex === 'c') && !(sep[1] === '.' && before.endsWith('..'))) {
      const r = this.receiverBefore(tail, pStart - sep[1].length);
      if (!r) return false;
      const names = this.legalNames(r.chain, r.start, tail, generated, pStart - sep[1].length);
      if (!names) return false;
      this.allowNames(names, typed, {}, allowed);
      // Stopping after `recv.` or half a member would leave a name the receiver does not have.
      this.owed = names.walk(encoder.encode(typed))?.terminal !== true;
      return true;
    }
    // Mode 2: the text ends with a complete receiver chain; constrain tokens that start with `.`.
    if (typed.length === 0) return false;
    const r = this.receiverBefore(tail, tail.length);
    if (!r) return false;
    if (this.lex === 'python' && /(^|\s)(import|from|def|class|as)\s+[\w.]*$/.test(tail.slice(0, tail.length))) return false;
    const names = this.legalNames(r.chain, r.start, tail, generated, tail.length);
    if (!names) return false;
    const leads = this.lex === 'c' ? ['.', '->'] : ['.'];
    if (leads.length === 1) {
      this.allowNames(names, '', { lead: leads[0] }, allowed);
      return true;
    }
    // Several leads: a token must pass each rule (those not starting with a lead pass it trivially).
    const tmp = new Uint8Array(allowed.length);
    this.allowNames(names, '', { lead: leads[0] }, allowed);
    for (const lead of leads.slice(1)) {
      tmp.fill(0);
      this.allowNames(names, '', { lead }, tmp);
      for (let i = 0; i < allowed.length; i++) allowed[i] &= tmp[i];
    }
    return true;
  }

  /**
   * Names allowed in a use position, as two tries whose masks are unioned (the rule is "a
   * prefix of SOME legal name", so the union of the masks is the mask of the union): the
   * request's fixed set (in scope, keywords/builtins, any word of the document), built once,
   * and the words the completion itself wrote, small and rebuilt per distinct prefix text.
   */
  private scopeTries(generated: string): NameTrie[] | null {
    if (this.scopeTrie === undefined) {
      const inScope = this.opts.analysis.namesInScopeIn(this.snapshot.file, this.opts.cursorOffset);
      if (inScope) {
        // Words written anywhere in the document (other scopes, attributes, strings) are a cheap
        // superset guard against what the scope model may miss: hallucinated names are new words.
        for (const w of this.snapshot.text.match(/[A-Za-z_$][\w$]*/g) ?? []) inScope.add(w);
        if (this.identSyntax === 'ecmascript') for (const w of TS_GLOBAL_TYPES) inScope.add(w);
      }
      this.scopeNames = inScope;
      this.scopeTrie = inScope ? NameTrie.from(inScope, this.ident) : null;
    }
    if (!this.scopeTrie || !this.scopeNames) return null;
    const fresh = (generated.match(/[A-Za-z_$][\w$]*/g) ?? []).filter((w) => !this.scopeNames?.has(w));
    if (fresh.length === 0) return [this.scopeTrie];
    const key = fresh.join(' ');
    let own = this.generatedWordTries.get(key);
    if (!own) {
      own = NameTrie.from(fresh, this.ident);
      this.generatedWordTries.set(key, own);
    }
    return [this.scopeTrie, own];
  }

  private scope(tail: string, generated: string, allowed: Uint8Array): boolean {
    if (this.lex !== 'python' && this.lex !== 'ecmascript') return false;
    if (this.lex === 'python' && this.cursorInBrackets) return false;
    const pStart = this.identStart(tail);
    const typed = tail.slice(pStart);
    if (/^[0-9]/.test(typed)) return false;
    // Where the identifier (being) typed starts: after whitespace, or (lead mode) the next token.
    const before = tail.slice(0, pStart);
    const keywords = this.lex === 'python' ? PY_USE_KEYWORDS : JS_USE_KEYWORDS;
    const operators = this.lex === 'python' ? PY_USE_OPERATORS : JS_USE_OPERATORS;
    const isUse = (text: string): boolean => {
      const t = text.replace(/[ \t]+$/, '');
      if (t.length === text.length && !/[=+\-*/%<>&|^~!?]$/.test(t)) return false; // a keyword needs a space after it
      for (const k of keywords) if (t.endsWith(k) && !this.identRe.test(t[t.length - k.length - 1] ?? ' ') && t[t.length - k.length - 1] !== '.') return true;
      for (const op of operators) {
        if (!t.endsWith(op.trimStart())) continue;
        if (op.startsWith(' ') && !/\s/.test(t[t.length - op.trimStart().length - 1] ?? '')) continue;
        const prevCh = t[t.length - op.trimStart().length - 1] ?? '';
        // `**kwargs`, `*args` in signatures, `->`, decorators and `=` inside `==`/`<=` chains are no uses.
        if (/[=<>!*\-/&|.@:]/.test(prevCh) && op.length === 1) continue;
        return true;
      }
      return false;
    };
    const ecma = this.lex === 'ecmascript';
    // TypeScript type aliases: the right side is a type, and global types are many.
    if (ecma && /(^|\n)\s*(export\s+)?(declare\s+)?type\s[^\n]*$/.test(tail)) return false;
    const space = ' ';
    let lead: string | undefined;
    let prefix = typed;
    if (typed.length > 0 && keywords.includes(typed) && !/[\w$.]$/.test(before) && isUse(typed + ' ')) {
      // `return` just written: the operand arrives as the next token, usually with its leading space.
      lead = space;
      prefix = '';
    } else if (typed.length === 0 && !/[ \t]$/.test(before)) {
      if (!isUse(before)) return false;
      lead = space;
    } else if (!isUse(before)) {
      return false;
    }
    // Capitalised names in JS/TS are mostly classes, and the host's global classes are too
    // many to list (every DOM interface): leave them unconstrained.
    if (ecma && /^[A-Z]/.test(prefix)) return false;
    const tries = this.scopeTries(generated);
    if (!tries) return false;
    for (const trie of tries) this.allowNames(trie, prefix, { lead, allowNumbers: true, allowBreakStart: true }, allowed);
    if (ecma && prefix.length === 0) this.trie.allowAfterLead(encoder.encode(lead ?? ''), 0x41, 0x5a, allowed);
    return true;
  }

  /** Marks in `bad` the tokens that would close the wrong bracket or break a one-line string; returns how many. */
  private syntax(state: LexState): number {
    const needBrackets = inCode(state) && state.stack.length > 0;
    const needString = state.quote.length === 1 && state.quote !== '`';
    if (!needBrackets && !needString) return 0;
    // The previous character only matters where it can start a comment with the next one.
    const prev = state.prev === '/' ? '/' : '';
    const key = `${state.stack}\u0000${state.quote}\u0000${state.comment}\u0000${state.escape ? 1 : 0}\u0000${prev}`;
    let ids = this.syntaxCache.get(key);
    if (!ids) {
      // The vetoes depend on the language and the lexer state only: shared by every request.
      let shared = SHARED_VETOES.get(this.trie);
      if (!shared) {
        shared = new Map();
        SHARED_VETOES.set(this.trie, shared);
      }
      const sharedKey = `${this.lex}\u0000${key}`;
      ids = shared.get(sharedKey);
      if (!ids) {
        ids = this.syntaxVetoes({ ...state, prev }, needString);
        if (shared.size >= MAX_SHARED_VETOES) shared.clear();
        shared.set(sharedKey, ids);
      }
      this.syntaxCache.set(key, ids);
    }
    for (const id of ids) {
      this.bad[id] = 1;
      this.badIds.push(id);
    }
    return ids.length;
  }

  private syntaxVetoes(state: LexState, needString: boolean): Int32Array {
    const out: number[] = [];
    for (const id of this.syntaxIds) {
      const text = this.decoded.tokenText(id, this.trie);
      const s: LexState = { ...state, broken: false };
      let wrong = false;
      for (let i = 0; i < text.length && !wrong; i++) {
        const c = text[i];
        if (s.quote.length === 1 && s.quote !== '`' && c === '\n' && !s.escape && needString && s.quote === state.quote) wrong = true;
        const depth = s.stack.length;
        lexChar(s, this.lex, c, text, i);
        if (s.broken) wrong = true;
        if (depth === 0 && s.stack.length === 0 && (c === ')' || c === ']' || c === '}')) break; // closing outside what we opened: not ours to judge
      }
      if (wrong) out.push(id);
    }
    return Int32Array.from(out);
  }
}

/**
 * Python and JavaScript create attributes by assigning them (`self.cache = {}`, `this.count = 0`),
 * so a receiver that opens a statement may be about to define a new member: no constraint there.
 */
export function receiverStartsStatement(text: string, receiverStart: number): boolean {
  const lineStart = text.lastIndexOf('\n', receiverStart - 1) + 1;
  const before = text.slice(lineStart, receiverStart);
  // Also a later target of a tuple assignment (`self.a, self.b = …`), which defines it just the same.
  return /^[ \t]*$/.test(before) || /[;{]\s*$/.test(before) || /^[ \t]*\(?[ \t]*(?:[A-Za-z_$][\w$.]*[ \t]*,[ \t]*)+$/.test(before);
}

function prefixKey(tokens: readonly number[], length: number): string {
  return tokens.slice(0, length).join(',');
}

/** Decoded text of generated id sequences, reused while the sequence only grows (or shares a prefix). */
class TokenTextCache {
  private ids: number[] = [];
  private bytes: number[] = [];
  /** Byte length after each id. */
  private ends: number[] = [];
  private readonly decoder = new TextDecoder('utf-8', { fatal: false });
  private readonly tokenTexts = new Map<number, string>();

  text(generated: readonly number[], tokenizer: Pick<TokenizerLike, 'tokenBytes'>): string {
    let common = 0;
    while (common < this.ids.length && common < generated.length && this.ids[common] === generated[common]) common++;
    this.ids.length = common;
    this.ends.length = common;
    this.bytes.length = common > 0 ? this.ends[common - 1] : 0;
    for (let i = common; i < generated.length; i++) {
      for (const b of tokenizer.tokenBytes(generated[i])) this.bytes.push(b);
      this.ids.push(generated[i]);
      this.ends.push(this.bytes.length);
    }
    // An unfinished UTF-8 character at the end is left out rather than shown as U+FFFD.
    let end = this.bytes.length;
    let k = end - 1;
    while (k >= 0 && k >= end - 3 && (this.bytes[k] & 0xc0) === 0x80) k--;
    if (k >= 0 && this.bytes[k] >= 0xc0) {
      const need = this.bytes[k] >= 0xf0 ? 4 : this.bytes[k] >= 0xe0 ? 3 : 2;
      if (end - k < need) end = k;
    }
    return this.decoder.decode(Uint8Array.from(this.bytes.slice(0, end)));
  }

  tokenText(id: number, trie: VocabTrie): string {
    let t = this.tokenTexts.get(id);
    if (t === undefined) {
      t = this.decoder.decode(trie.tokenBytes(id));
      this.tokenTexts.set(id, t);
    }
    return t;
  }
}

/** Whether the cursor sits inside a string or comment (per the tree), where no monitor applies. */
function cursorInStringOrComment(doc: DocumentAnalysis, offset: number): boolean {
  const tree = doc.currentTree();
  if (!tree) return false;
  let n = tree.rootNode.descendantForIndex(Math.max(0, offset - 1), offset);
  while (n) {
    if (/string|comment|template|char_literal|regex/.test(n.type) && n.startIndex < offset && (offset < n.endIndex || n.hasError || n.isMissing)) {
      // A string that ends exactly at the cursor is closed: the cursor is after it.
      if (offset < n.endIndex) return true;
    }
    n = n.parent;
  }
  return false;
}

function cursorInPythonBrackets(doc: DocumentAnalysis, offset: number): boolean {
  const tree = doc.currentTree();
  if (!tree) return true;
  for (let n = tree.rootNode.descendantForIndex(Math.max(0, offset - 1), offset); n; n = n.parent) {
    if (PY_BRACKET_NODES.has(n.type) && n.startIndex < offset && offset < n.endIndex) return true;
  }
  return false;
}

/**
 * Builds the monitors for one completion request, or null when none applies (unsupported
 * language, document skipped). Parses the document and its imports first (bounded, cancellable).
 */
export async function createMonitors(opts: CreateMonitorsOptions): Promise<Monitors | null> {
  const lex = lexSyntaxFor(opts.languageId);
  const identSyntax: IdentifierSyntax = lex === 'python' ? 'python' : lex === 'ecmascript' ? 'ecmascript' : 'c';
  await opts.analysis.prepare(opts.document, opts.signal);
  if (opts.signal?.aborted) return null;
  const enabled: Record<MonitorName, boolean> = {
    dereference: opts.enable?.dereference ?? true,
    scope: opts.enable?.scope ?? true,
    syntax: opts.enable?.syntax ?? true,
  };
  const doc = opts.document;
  if (doc.skippedReason || !doc.currentTree()) return null;
  if (cursorInStringOrComment(doc, opts.cursorOffset)) return null;
  // The lexer must start in code; check the cursor line with it as well (unterminated strings while typing).
  const lineStart = doc.text.lastIndexOf('\n', opts.cursorOffset - 1) + 1;
  const lineState = lexText(doc.text.slice(lineStart, opts.cursorOffset), lex);
  if (!inCode(lineState)) return null;
  const docTail = doc.text.slice(Math.max(0, opts.cursorOffset - TAIL_CHARS), opts.cursorOffset);
  const inBrackets = lex === 'python' ? cursorInPythonBrackets(doc, opts.cursorOffset) || lineState.stack.length > 0 : false;
  return new Monitors(opts, lex, identSyntax, docTail, enabled, inBrackets, { file: opts.analysis.analysisOf(doc), text: doc.text });
}

export { VocabTrie, NameTrie, identifierBytes } from './vocabTrie';
