import { z } from 'zod';
import { defineCommand, type CommandDefinition } from './command.js';
import { typedUsage } from './options.js';

/** /help lists the other commands; it gets the list from the registry to avoid an import cycle. */
export function createHelp(list: () => readonly CommandDefinition[]) {
  return defineCommand({
    name: 'help',
    // Telegram sends /start when a member opens the bot.
    aliases: ['start'],
    description: 'What this bot can do',
    options: z.object({}),
    syntax: {},
    role: 'member',
    uses: [],
    private: true,
    examples: ['/help'],
    async run(ctx) {
      const visible = list().filter((c) => c.role === 'member' || ctx.actor.isModerator);
      const lines = visible.map((c) => `${typedUsage(c)} - ${c.description}`);
      return {
        text: [
          'Generate images and animations with points. Each generation holds its price while it runs; you pay only for what you get.',
          ...lines,
        ].join('\n'),
        data: {
          commands: visible.map((c) => ({
            name: c.name,
            description: c.description,
            usage: typedUsage(c),
            examples: c.examples,
          })),
        },
        private: true,
      };
    },
  });
}
