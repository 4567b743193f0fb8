import { defineCommand } from './command.js';
import { pointsChangeOptions, resolveTarget } from './grant.js';

export const revoke = defineCommand({
  name: 'revoke',
  description: 'Take points from a member (moderators)',
  options: pointsChangeOptions,
  role: 'moderator',
  usage: '/revoke <member> <points> [--reason text]',
  examples: ['/revoke bob 20 --reason "refund reversed"'],
  async run(ctx, input, services) {
    const { member, accountId } = await resolveTarget(ctx, services, input.member);
    const balance = await services.economy.revoke({
      accountId,
      amount: input.points,
      key: ctx.invocationKey,
      actor: `${ctx.actor.identity.platform}:${ctx.actor.identity.id}`,
      reason: input.reason,
    });
    return {
      text: `Revoked ${input.points} points from ${member.displayName}; they now have ${balance.available} available.`,
      data: { member: member.displayName, points: input.points, reason: input.reason, ...balance },
    };
  },
});
