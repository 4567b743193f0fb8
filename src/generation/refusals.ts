import { UserError } from '../core/errors.js';
import type { GenerationError, GenerationSummary } from '../core/outputs.js';
import type { LimitRefusal } from '../queue/member-limits.js';
import type { SettleOutcome } from '../store/recorded-result.js';

/** A limit's refusal, saying what it is and what the member can do. */
export function limitRefusal(refusal: LimitRefusal): UserError {
  switch (refusal.reason) {
    case 'queued':
      return new UserError(
        'limit_reached',
        `You have ${refusal.open} generations waiting or running; the limit is ${refusal.limit}. Wait for one to finish or /cancel one.`,
        { details: { ...refusal } },
      );
    case 'cooldown':
      return new UserError(
        'limit_reached',
        `Please wait ${Math.ceil(refusal.waitMs / 1000)} s before your next generation.`,
        { details: { ...refusal } },
      );
    case 'daily':
      return new UserError(
        'limit_reached',
        `You have made ${refusal.today} generations today; the limit is ${refusal.limit} a day. It starts again in ${describeWait(refusal.resetInMs)} (midnight UTC).`,
        { details: { ...refusal } },
      );
  }
}

function describeWait(ms: number): string {
  const minutes = Math.ceil(ms / 60_000);
  const hours = Math.floor(minutes / 60);
  return hours > 0 ? `${hours} h ${minutes % 60} min` : `${minutes} min`;
}

/** The refusal for someone else's generation: says whose it is and who may act on it. */
export function notYours(
  generation: GenerationSummary,
  verb: string,
  moderatorsMay: boolean,
): UserError {
  const owner = generation.requesterName ? `${generation.requesterName}'s` : "another member's";
  return new UserError(
    'forbidden',
    `Generation ${generation.id} is ${owner}; only they${moderatorsMay ? ' or a moderator' : ''} can ${verb} it.`,
    { details: { generationId: generation.id } },
  );
}

/** What the member reads of a generation that ended cancelled or failed with no own words. */
export function endedWithoutResult(outcome: SettleOutcome): GenerationError | undefined {
  if (outcome === 'cancelled')
    return {
      code: 'cancelled',
      message: 'The generation was cancelled. Your points were returned.',
    };
  if (outcome === 'failed')
    return {
      code: 'provider_failed',
      message: 'The generation failed. Your points were returned.',
    };
  return undefined;
}

/** `{ error }` when there is one, else nothing: for optional fields under exactOptionalPropertyTypes. */
export function errorField(error: GenerationError | undefined): { error?: GenerationError } {
  return error ? { error } : {};
}
