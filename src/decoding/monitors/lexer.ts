// A tiny incremental lexer for generated code: it only tracks what the monitors must know to stay
// out of strings and comments and to keep brackets balanced. Per-language differences are the
// comment and string syntaxes. It starts in "code" at the cursor (callers check with the tree
// that the cursor is not inside a string or comment before trusting it).

export type LexSyntax = 'python' | 'ecmascript' | 'c' | 'generic';

export function lexSyntaxFor(languageId: string): LexSyntax {
  switch (languageId) {
    case 'python':
      return 'python';
    case 'typescript':
    case 'typescriptreact':
    case 'javascript':
    case 'javascriptreact':
      return 'ecmascript';
    case 'c':
    case 'cpp':
    case 'cuda-cpp':
    case 'java':
    case 'go':
    case 'rust':
      return 'c';
    default:
      return 'generic';
  }
}

export interface LexState {
  /** Brackets opened in the generated text and not yet closed, innermost last. */
  stack: string;
  /** Open string's delimiter ('"', "'", '`', '"""', "'''"), '' in code. */
  quote: string;
  /** 'line' inside a line comment, 'block' inside a block comment. */
  comment: '' | 'line' | 'block';
  /** The previous character was a backslash inside a string. */
  escape: boolean;
  /** Last character seen (for two-character tokens: '//', '/*', '*\/'). */
  prev: string;
  /** A closer did not match the innermost generated opener. */
  broken: boolean;
}

export function initialLexState(): LexState {
  return { stack: '', quote: '', comment: '', escape: false, prev: '', broken: false };
}

const OPEN_OF: Record<string, string> = { ')': '(', ']': '[', '}': '{' };

/** Feeds one character; mutates and returns `s`. `next` is the following character when known (for triple quotes). */
export function lexChar(s: LexState, syntax: LexSyntax, c: string, text?: string, i?: number): LexState {
  const prev = s.prev;
  s.prev = c;
  if (s.comment === 'line') {
    if (c === '\n') s.comment = '';
    return s;
  }
  if (s.comment === 'block') {
    if (prev === '*' && c === '/') {
      s.comment = '';
      s.prev = '';
    }
    return s;
  }
  if (s.quote) {
    if (s.escape) {
      s.escape = false;
      return s;
    }
    if (c === '\\') {
      s.escape = true;
      return s;
    }
    if (s.quote.length === 3) {
      if (c === s.quote[0] && text !== undefined && i !== undefined && i >= 2 && text[i - 1] === c && text[i - 2] === c) {
        s.quote = '';
        s.prev = '';
      }
      return s;
    }
    if (c === s.quote) s.quote = '';
    else if (c === '\n' && s.quote !== '`') s.quote = ''; // unterminated single-line string: the line ends it
    return s;
  }
  if (syntax === 'python' && c === '#') {
    s.comment = 'line';
    return s;
  }
  if (syntax !== 'python' && syntax !== 'generic' && prev === '/' && (c === '/' || c === '*')) {
    s.comment = c === '/' ? 'line' : 'block';
    s.prev = '';
    return s;
  }
  if (c === '"' || c === "'" || (c === '`' && syntax === 'ecmascript')) {
    if (syntax === 'python' && text !== undefined && i !== undefined && text[i + 1] === c && text[i + 2] === c) {
      s.quote = c + c + c;
      // Skip past the other two quote characters by remembering them as already seen.
      s.prev = '';
      return s;
    }
    if (syntax === 'c' && c === "'" && /\w/.test(prev)) return s; // Rust lifetimes / C++ digit separators
    s.quote = c;
    return s;
  }
  if (c === '(' || c === '[' || c === '{') s.stack += c;
  else if (c === ')' || c === ']' || c === '}') {
    if (s.stack.length > 0) {
      if (s.stack[s.stack.length - 1] === OPEN_OF[c]) s.stack = s.stack.slice(0, -1);
      else s.broken = true;
    }
  }
  return s;
}

/** Lexes a whole text from code state. Triple-quote openers are consumed as one unit. */
export function lexText(text: string, syntax: LexSyntax, from: LexState = initialLexState()): LexState {
  const s: LexState = { ...from };
  for (let i = 0; i < text.length; i++) {
    const wasCode = !s.quote && !s.comment;
    lexChar(s, syntax, text[i], text, i);
    if (wasCode && s.quote.length === 3) i += 2;
  }
  return s;
}

export function inCode(s: LexState): boolean {
  return !s.quote && !s.comment;
}
