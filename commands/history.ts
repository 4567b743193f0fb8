import { z } from 'zod';
import type { ButtonLook, ButtonRef } from '../src/core/buttons.js';
import { actionButton } from './actions.js';
import type { ChatContext } from '../src/core/chat.js';
import { GENERATION_STATUSES } from '../src/core/status.js';
import type { HistoryPage } from '../src/generation/generation-service.js';
import {
  defineAction,
  defineCommand,
  type CommandResult,
  type CommandServices,
} from './command.js';
import { describeGeneration } from './format.js';

const page = z
  .int({ error: 'The page is a whole number from 1.' })
  .min(1, { error: 'The page is a whole number from 1.' });
const status = z.enum(GENERATION_STATUSES, {
  error: `The status is one of: ${GENERATION_STATUSES.join(', ')}.`,
});

async function historyPage(
  ctx: ChatContext,
  input: { page: number; status?: (typeof GENERATION_STATUSES)[number] | undefined },
  { economy, generations }: CommandServices,
): Promise<CommandResult> {
  const accountId = await economy.findAccount(ctx.actor.identity);
  const result = await generations.history(accountId, {
    page: input.page,
    ...(input.status ? { status: input.status } : {}),
  });
  const filter = input.status ? ` ${input.status}` : '';
  const text =
    result.total === 0
      ? `You have no${filter} generations yet. Try /generate a red fox in the snow.`
      : [
          `Your${filter} generations, page ${result.page} of ${result.pages} (${result.total} in all):`,
          ...result.items.map(describeGeneration),
        ].join('\n');
  return {
    text,
    data: { ...result },
    history: result,
    buttons: pageButtons(result, ctx.actor.identity.id),
    private: true,
  };
}

/** Newer and Older, for the member the page was made for. */
function pageButtons(result: HistoryPage, member: string): ButtonRef[] {
  const to = (page: number, look: ButtonLook): ButtonRef[] => {
    const button = actionButton(historyPageAction, [page, result.status, member], look);
    return button ? [button] : [];
  };
  return [
    ...(result.page > 1
      ? to(result.page - 1, { label: 'Newer', emoji: '◀', style: 'secondary' })
      : []),
    ...(result.page < result.pages
      ? to(result.page + 1, { label: 'Older', emoji: '▶', emojiLast: true, style: 'secondary' })
      : []),
  ];
}

/** A page button: the same answer, in place of the page it was pressed on. */
export const historyPageAction = defineAction({
  name: 'history',
  args: ['page', 'status', 'for'],
  schema: z.object({
    page: z.coerce.number().pipe(page.max(99_999)),
    status: status.optional(),
    for: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/),
  }),
  who: 'addressee',
  notForYou: "These buttons page through someone else's history. Ask /history for yours.",
  answer: 'update',
  run: (ctx, args, services) => historyPage(ctx, args, services),
});

export const history = defineCommand({
  name: 'history',
  description: 'Your generations, newest first',
  options: z.object({
    page: page.default(1).describe('Page number, 5 per page'),
    status: status.optional().describe('Only generations with this status'),
  }),
  syntax: {
    page: { positional: true, example: '2' },
    status: { flags: ['status'], example: 'failed', placeholder: 'completed|failed|cancelled' },
  },
  role: 'member',
  private: true,
  examples: ['/history', '/history 2', '/history --status failed'],
  actions: [historyPageAction],
  run: historyPage,
});
