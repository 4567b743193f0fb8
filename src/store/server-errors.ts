/** MongoDB's code for an insert or update that a unique index refused. */
export const DUPLICATE_KEY = 11000;

/** The server's code of a failed command, when the error carries one. */
export function serverErrorCode(error: unknown): unknown {
  return typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
}

/** Whether a write was refused by a unique index: the idempotency checks rely on it. */
export function isDuplicateKey(error: unknown): boolean {
  return serverErrorCode(error) === DUPLICATE_KEY;
}
