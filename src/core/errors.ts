/**
 * Stable error codes. Adapters, logs and tests match on these, never on message text,
 * so the words a member sees can change without breaking anything.
 */
export const ERROR_CODES = [
  'invalid_input',
  'unknown_model',
  'unknown_command',
  'not_enough_points',
  'forbidden',
  'not_found',
  'already_finished',
  'confirm_charge',
  'duplicate',
  'limit_reached',
  'provider_failed',
  'provider_refused',
  'provider_unavailable',
  'rate_limited',
  'timeout',
  'cancelled',
  'interrupted',
  'internal',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * An error whose message is written for the member who caused it. Anything else that
 * reaches a member is replaced by a generic sentence, so internals never leak into chat.
 */
export class UserError extends Error {
  override readonly name = 'UserError';
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCode,
    message: string,
    options: { details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
  }
}

/**
 * A failure reported by a generation backend. `retryable` decides whether the queue tries
 * again (rate limits, 5xx, network) or fails the job at once (bad request, content refusal).
 */
export class ProviderError extends Error {
  override readonly name = 'ProviderError';
  readonly code: ErrorCode;
  readonly retryable: boolean;
  /** Wait the backend asked for (Retry-After), in milliseconds. */
  readonly retryAfterMs: number | undefined;
  /** The sentence a member sees when this error ends the generation. */
  readonly userMessage: string;
  /**
   * The backend's own words (an error body, a failure reason), for the operator's log only:
   * they may name checkpoint files, carry stack fragments or billing notes, so a member is
   * shown `userMessage` instead.
   */
  readonly backendText: string | undefined;

  constructor(
    message: string,
    options: {
      code?: ErrorCode;
      retryable: boolean;
      retryAfterMs?: number;
      userMessage?: string;
      backendText?: string;
      cause?: unknown;
    },
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code ?? 'provider_failed';
    this.retryable = options.retryable;
    this.retryAfterMs = options.retryAfterMs;
    this.userMessage = options.userMessage ?? defaultMessages[this.code];
    this.backendText = options.backendText;
  }
}

const defaultMessages: Record<ErrorCode, string> = {
  invalid_input: 'That request is not valid.',
  unknown_model: 'That model does not exist.',
  unknown_command: 'That command does not exist.',
  not_enough_points: 'You do not have enough points.',
  forbidden: 'You are not allowed to do that.',
  not_found: 'Nothing was found.',
  already_finished: 'That generation has already finished.',
  confirm_charge:
    'Cancelling this generation now still costs its points; confirm to cancel anyway.',
  duplicate: 'That was already done.',
  limit_reached: 'You have reached a limit for now.',
  provider_failed: 'The generator failed. Your points were returned.',
  provider_refused: 'The generator refused this prompt. Your points were returned.',
  provider_unavailable: 'The generator is unavailable right now. Your points were returned.',
  rate_limited: 'The generator is busy. Please try again in a moment.',
  timeout: 'The generator took too long. Your points were returned.',
  cancelled: 'The generation was cancelled. Your points were returned.',
  interrupted: 'The generation was interrupted. Your points were returned.',
  internal: 'Something went wrong on our side. Please try again in a moment.',
};

/** The sentence to show a member for any error, never leaking internal messages. */
export function memberMessage(error: unknown): string {
  if (error instanceof UserError) return error.message;
  if (error instanceof ProviderError) return error.userMessage;
  return defaultMessages.internal;
}

/** The stable code of any error; unknown errors are `internal`. */
export function errorCode(error: unknown): ErrorCode {
  if (error instanceof UserError || error instanceof ProviderError) return error.code;
  return 'internal';
}
