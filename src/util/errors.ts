/**
 * An error caused by the user's input (a bad file, a bad flag, a missing dataset). The CLI prints only its
 * message, on one line, and exits non-zero; library callers can catch it by type. Messages name the file
 * (or flag) and say what is wrong with it.
 */
export class UserError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'UserError';
  }
}

/** A UserError about one file: the message starts with the path. Kept on one line (see printable). */
export function fileError(path: string, what: string): UserError {
  return new UserError(printable(`${path}: ${what}`));
}

const ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * Text from outside (a tensor name from a file header, a flag value) made safe for a one-line message:
 * line breaks and other control characters are escaped as in JSON, so a hostile name cannot forge lines.
 */
export function printable(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
