import { z } from 'zod';
import { defineCommand } from './command.js';

export const balance = defineCommand({
  name: 'balance',
  description: 'Show your points',
  options: z.object({}),
  syntax: {},
  role: 'member',
  private: true,
  examples: ['/balance'],
  async run(ctx, _input, { economy }) {
    const { available, held } = await economy.balanceOf(ctx.actor.identity);
    const heldText = held > 0 ? ` (${held} more held for generations in progress)` : '';
    return {
      text: `You have ${available} points available${heldText}.`,
      data: { available, held },
      private: true,
    };
  },
});
