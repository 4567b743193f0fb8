import { z } from 'zod';
import { defineCommand } from './command.js';
import { cancelGeneration } from './generation-actions.js';

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
    anyway: z
      .boolean()
      .optional()
      .describe('Cancel a running generation even when its backend still charges for it'),
  }),
  syntax: {
    id: { positional: true, example: 'k3v9q2m7x1c8ab', placeholder: 'generation id' },
    anyway: { flags: ['anyway'], example: 'yes', inUsage: false },
  },
  role: 'member',
  private: true,
  examples: ['/cancel k3v9q2m7x1c8ab'],
  run(ctx, input, services) {
    return cancelGeneration(ctx, input.id, services, { acceptCharge: input.anyway === true });
  },
});
