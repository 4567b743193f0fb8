import { z } from 'zod';
import { defineCommand } from './command.js';

export const balance = defineCommand({
  name: 'balance',
  description: 'Show your points',
  options: z.object({}),
  role: 'member',
  usage: '/balance',
  examples: ['/balance'],
  async run(ctx, _input, { economy }) {
    const accountId = await economy.ensureAccount(ctx.actor.identity, ctx.actor.displayName);
    const { available, held } = await economy.balance(accountId);
    const heldText = held > 0 ? ` (${held} more held for generations in progress)` : '';
    return {
      text: `You have ${available} points available${heldText}.`,
      data: { available, held },
      private: true,
    };
  },
});
