import { z } from 'zod';
import { GENERATION_STATUSES } from '../src/core/status.js';
import { defineCommand } from './command.js';
import { describeGeneration } from './format.js';

export const history = defineCommand({
  name: 'history',
  description: 'Your generations, newest first',
  options: z.object({
    page: z
      .int({ error: 'The page is a whole number from 1.' })
      .min(1, { error: 'The page is a whole number from 1.' })
      .default(1)
      .describe('Page number, 5 per page'),
    status: z
      .enum(GENERATION_STATUSES, {
        error: `The status is one of: ${GENERATION_STATUSES.join(', ')}.`,
      })
      .optional()
      .describe('Only generations with this status'),
  }),
  role: 'member',
  private: true,
  usage: '/history [page] [--status completed|failed|cancelled|queued|processing]',
  examples: ['/history', '/history 2', '/history --status failed'],
  async run(ctx, input, { economy, generations }) {
    const accountId = await economy.findAccount(ctx.actor.identity);
    const page = await generations.history(accountId, {
      page: input.page,
      ...(input.status ? { status: input.status } : {}),
    });
    const filter = input.status ? ` ${input.status}` : '';
    const text =
      page.total === 0
        ? `You have no${filter} generations yet. Try /generate a red fox in the snow.`
        : [
            `Your${filter} generations, page ${page.page} of ${page.pages} (${page.total} in all):`,
            ...page.items.map(describeGeneration),
          ].join('\n');
    return { text, data: { ...page }, history: page, private: true };
  },
});
