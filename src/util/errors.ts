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

/** A UserError about one file: the message starts with the path. */
export function fileError(path: string, what: string): UserError {
  return new UserError(`${path}: ${what}`);
}
