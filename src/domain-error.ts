// Errors are values with a meaning: a store or domain module says what kind of failure it met, a
// stable machine code and a message safe to show. Only http/errors.ts turns a kind into a status.
export type ErrorKind = 'not_found' | 'conflict' | 'invalid' | 'forbidden' | 'limited';

export class DomainError extends Error {
  override name = 'DomainError';
  readonly kind: ErrorKind;
  readonly code: string;
  constructor(kind: ErrorKind, code: string, message: string) {
    super(message);
    this.kind = kind;
    this.code = code;
  }
}
