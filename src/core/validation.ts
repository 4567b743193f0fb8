import type { z } from 'zod';
import { UserError } from './errors.js';

/**
 * Turns a zod failure into the one sentence a member reads. Our schemas carry member-facing
 * messages; for the generic ones, the option's name is put in front so it is clear which.
 */
export function zodToUserError(error: z.ZodError, names: Record<string, string> = {}): UserError {
  const issue = error.issues[0];
  if (!issue) return new UserError('invalid_input', 'That request is not valid.');
  const key = issue.path.map(String).join('.');
  const name = names[key] ?? key;
  const custom = /[.!?]$/.test(issue.message) && /^[A-Z]/.test(issue.message);
  const message = custom || name === '' ? issue.message : `${name}: ${issue.message}`;
  return new UserError('invalid_input', message, { details: { option: name } });
}
