import { z } from 'zod';
import { defineCommand } from './command.js';

export const cancel = defineCommand({
  name: 'cancel',
  description: 'Cancel one of your generations that has not finished',
  options: z.object({
    id: z
      .string({ error: 'Give the id of the generation to cancel (see /history).' })
      .trim()
      .toLowerCase()
      .regex(/^[a-z0-9]{8,32}$/, {
        error: 'That is not a generation id; ids look like k3v9q2m7x1c8ab (see /history).',
      })
      .describe('The generation id, as /history shows it'),
  }),
  role: 'member',
  usage: '/cancel <generation-id>',
  examples: ['/cancel k3v9q2m7x1c8ab'],
  async run(ctx, input, { economy, generations }) {
    const accountId = await economy.ensureAccount(ctx.actor.identity, ctx.actor.displayName);
    const generation = await generations.cancel(input.id, {
      accountId,
      isModerator: ctx.actor.isModerator,
    });
    const text =
      generation.status === 'cancelled'
        ? `Cancelled ${generation.id}; ${generation.price} points returned.`
        : `Cancelling ${generation.id}: the generator is stopping and your ${generation.price} points will be returned.`;
    return { text, data: { generation }, generation };
  },
});
