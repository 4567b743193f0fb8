import { z } from 'zod';
import { UserError } from '../src/core/errors.js';
import { identityKey } from '../src/core/identity.js';
import { defineCommand } from './command.js';

const options = z.object({
  member: z
    .string({ error: 'Name the member.' })
    .trim()
    .min(1, { error: 'Name the member.' })
    .describe('The member'),
  points: z
    .int({ error: 'Points are a whole number above zero.' })
    .positive({ error: 'Points are a whole number above zero.' })
    .describe('How many points'),
  reason: z
    .string()
    .trim()
    .max(300)
    .default('no reason given')
    .describe('Why (kept in the ledger)'),
});

const WORDS = {
  grant: {
    description: 'Give a member points (moderators)',
    done: 'Granted',
    preposition: 'to',
    example: '/grant bob 100 --reason "event prize"',
    points: '100',
  },
  revoke: {
    description: 'Take points from a member (moderators)',
    done: 'Revoked',
    preposition: 'from',
    example: '/revoke bob 20 --reason "duplicate grant"',
    points: '20',
  },
} as const;

/** /grant and /revoke: the same command but for the direction of the change. */
export function pointsChangeCommand(kind: 'grant' | 'revoke') {
  const words = WORDS[kind];
  return defineCommand({
    name: kind,
    description: words.description,
    options,
    syntax: {
      member: { positional: true, example: '123456789', picks: 'member', fromReply: true },
      points: { positional: true, example: words.points },
      reason: { rest: true, flags: ['reason'], example: '"event prize"' },
    },
    role: 'moderator',
    examples: [words.example],
    async run(ctx, input, { economy }) {
      // Refusals change nothing: check the amount before an account is made for anyone.
      economy.checkAmount(input.points);
      const member = await ctx.resolveMember(input.member);
      if (!member) throw new UserError('not_found', `No member matches "${input.member}".`);
      const known = await economy.findAccount(member.identity);
      if (!known && kind === 'revoke') {
        throw new UserError(
          'not_enough_points',
          `Cannot revoke ${input.points} points: ${member.displayName} has none.`,
          { details: { available: 0, held: 0 } },
        );
      }
      const accountId = known ?? (await economy.ensureAccount(member.identity, member.displayName));
      const change = {
        accountId,
        amount: input.points,
        key: ctx.invocationKey,
        actor: identityKey(ctx.actor.identity),
        reason: input.reason,
      };
      const balance = kind === 'grant' ? await economy.grant(change) : await economy.revoke(change);
      return {
        text: `${words.done} ${input.points} points ${words.preposition} ${member.displayName}; they now have ${balance.available} available.`,
        data: {
          member: member.displayName,
          points: input.points,
          reason: input.reason,
          ...balance,
        },
      };
    },
  });
}
