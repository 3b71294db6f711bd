// Documents the service refuses to complete in: huge ones (a prompt window would still work, but
// keeping their text, line index and cache up to date on every keystroke would not) and binary
// ones (the model has nothing sensible to say, and their bytes make long, odd token runs).
// Each guard is a small named check; the first that objects gives the reason shown to the user.

export interface GuardLimits {
  /** UTF-8 size limit, bytes (the `slipstream.maxDocumentBytes` setting). Default 1 000 000. */
  maxDocumentBytes: number;
  /** Line-count limit (the `slipstream.maxDocumentLines` setting). Default 20 000. */
  maxDocumentLines: number;
  /** Share of control characters (not tab, LF, CR, FF) above which text counts as binary. Default 0.1. */
  maxControlRatio: number;
}

export const DEFAULT_GUARD_LIMITS: Readonly<GuardLimits> = {
  maxDocumentBytes: 1_000_000,
  maxDocumentLines: 20_000,
  maxControlRatio: 0.1,
};

/** A reason to skip the document, or null to go ahead. */
export type DocumentGuard = (text: string, limits: GuardLimits) => string | null;

export const skipHugeDocument: DocumentGuard = (text, limits) => {
  // UTF-8 bytes are at most 3 per UTF-16 unit: skip the exact count when even that fits.
  if (text.length * 3 <= limits.maxDocumentBytes) return null;
  const bytes = Buffer.byteLength(text, 'utf8');
  return bytes > limits.maxDocumentBytes ? `document too large (${bytes} bytes > ${limits.maxDocumentBytes})` : null;
};

export const skipTooManyLines: DocumentGuard = (text, limits) => {
  let lines = 1;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) {
    if (++lines > limits.maxDocumentLines) return `document has too many lines (> ${limits.maxDocumentLines})`;
  }
  return null;
};

export const skipNulBytes: DocumentGuard = (text) => (text.includes('\0') ? 'binary document (contains NUL bytes)' : null);

/** Unpaired UTF-16 surrogates: what a binary file decoded as UTF-16 looks like. */
/** String.prototype.isWellFormed (ES2024; Node ≥ 20): a native scan, ~6× faster than the loop below. */
const isWellFormed = (String.prototype as { isWellFormed?: (this: string) => boolean }).isWellFormed;

export const skipInvalidUtf16: DocumentGuard = (text) => {
  // The guards run on every request after an edit: the common answer comes from the native scan.
  if (isWellFormed?.call(text)) return null;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    const next = text.charCodeAt(i + 1);
    if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
      i++;
      continue;
    }
    return 'binary document (invalid UTF-16: unpaired surrogate)';
  }
  return null;
};

/** The characters skipControlCharacters counts. */
const CONTROL = /[\x00-\x08\x0b\x0e-\x1f\x7f]/;

export const skipControlCharacters: DocumentGuard = (text, limits) => {
  // Source code has none: one regex scan (native) answers before the counting loop.
  if (text.length === 0 || !CONTROL.test(text)) return null;
  let control = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 9 && c !== 10 && c !== 12 && c !== 13) || c === 0x7f) control++;
  }
  const ratio = control / text.length;
  return ratio > limits.maxControlRatio ? `binary document (${Math.round(ratio * 100)}% control characters)` : null;
};

export const DOCUMENT_GUARDS: readonly DocumentGuard[] = [
  skipHugeDocument,
  skipTooManyLines,
  skipNulBytes,
  skipInvalidUtf16,
  skipControlCharacters,
];

/** The first guard's reason to skip, or null when the document may be completed. */
export function checkDocument(
  text: string,
  limits: Partial<GuardLimits> = {},
  guards: readonly DocumentGuard[] = DOCUMENT_GUARDS,
): string | null {
  const full: GuardLimits = { ...DEFAULT_GUARD_LIMITS, ...definedOnly(limits) };
  for (const guard of guards) {
    const reason = guard(text, full);
    if (reason !== null) return reason;
  }
  return null;
}

function definedOnly(limits: Partial<GuardLimits>): Partial<GuardLimits> {
  return Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined)) as Partial<GuardLimits>;
}
