import { z } from 'zod';
import { UserError } from '../src/core/errors.js';
import type { ChatContext } from '../src/core/chat.js';
import { defineCommand, type CommandServices } from './command.js';

const pointsSchema = z
  .int({ error: 'Points are a whole number above zero.' })
  .positive({ error: 'Points are a whole number above zero.' })
  .describe('How many points');

export const pointsChangeOptions = z.object({
  member: z
    .string({ error: 'Name the member.' })
    .trim()
    .min(1, { error: 'Name the member.' })
    .describe('The member'),
  points: pointsSchema,
  reason: z
    .string()
    .trim()
    .max(300)
    .default('no reason given')
    .describe('Why (kept in the ledger)'),
});

export async function resolveTarget(
  ctx: ChatContext,
  services: CommandServices,
  reference: string,
) {
  const member = await ctx.resolveMember(reference);
  if (!member) throw new UserError('not_found', `No member matches "${reference}".`);
  const accountId = await services.economy.ensureAccount(member.identity, member.displayName);
  return { member, accountId };
}

export const grant = defineCommand({
  name: 'grant',
  description: 'Give a member points (moderators)',
  options: pointsChangeOptions,
  role: 'moderator',
  usage: '/grant <member> <points> [--reason text]',
  examples: ['/grant bob 100 --reason "event prize"'],
  async run(ctx, input, services) {
    const { member, accountId } = await resolveTarget(ctx, services, input.member);
    const balance = await services.economy.grant({
      accountId,
      amount: input.points,
      key: ctx.invocationKey,
      actor: `${ctx.actor.identity.platform}:${ctx.actor.identity.id}`,
      reason: input.reason,
    });
    return {
      text: `Granted ${input.points} points to ${member.displayName}; they now have ${balance.available} available.`,
      data: { member: member.displayName, points: input.points, reason: input.reason, ...balance },
    };
  },
});
