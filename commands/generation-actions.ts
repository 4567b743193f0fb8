import { originOf, type ChatContext } from '../src/core/chat.js';
import { UserError } from '../src/core/errors.js';
import { pendingView, type ProgressView } from '../src/delivery/progress-view.js';
import { notYours } from '../src/generation/generation-service.js';
import { generationIdFor } from '../src/generation/ids.js';
import type { GenerationSummary } from '../src/generation/summary.js';
import type { CommandResult, CommandServices } from './command.js';

/**
 * The buttons a generation's messages carry, and who may press them. This is the one place
 * the rule lives: every surface asks `prepareGenerationAction`, so a stranger's press is
 * refused the same way everywhere, before anything is posted, held or queued.
 */
export const GENERATION_ACTIONS = {
  /** The owner, or a moderator (who may stop anything). */
  cancel: { who: 'owner-or-moderator', verb: 'cancel' },
  /** The owner only: a reroll is charged to whoever presses it. */
  reroll: { who: 'owner', verb: 'reroll' },
  /** Anyone: the answer is private and shows what the public message already shows. */
  details: { who: 'anyone', verb: 'see' },
} as const;

export type GenerationActionName = keyof typeof GENERATION_ACTIONS;

export interface PreparedAction {
  /** For an action that starts a generation: its status message before it is submitted. */
  preview?: ProgressView;
  /** Runs it; `ctx` may carry an origin completed since (the status message's id). */
  run(ctx: ChatContext): Promise<CommandResult>;
}

/**
 * Looks the generation up, checks the action's ownership rule for the member pressing it,
 * and returns what to show first and how to run it. A refusal throws a UserError naming
 * whose generation it is.
 */
export async function prepareGenerationAction(
  name: GenerationActionName,
  ctx: ChatContext,
  generationId: string,
  services: CommandServices,
): Promise<PreparedAction> {
  const { generations, economy } = services;
  const generation = await generations.summary(generationId).catch((error: unknown) => {
    if (error instanceof UserError && error.code === 'not_found')
      throw new UserError('not_found', `There is no generation with the id ${generationId}.`, {
        cause: error,
      });
    throw error;
  });
  const rule = GENERATION_ACTIONS[name];
  if (rule.who !== 'anyone') {
    const accountId = await economy.findAccount(ctx.actor.identity);
    const owner = accountId !== undefined && accountId === generation.accountId;
    const allowed = owner || (rule.who === 'owner-or-moderator' && ctx.actor.isModerator);
    if (!allowed) throw notYours(generation, rule.verb, rule.who === 'owner-or-moderator');
  }
  switch (name) {
    case 'details':
      return { run: () => Promise.resolve(detailsResult(generation)) };
    case 'cancel':
      return { run: (c) => cancelGeneration(c, generation.id, services) };
    case 'reroll':
      return {
        preview: pendingView({
          generationId: generationIdFor(ctx.invocationKey),
          model: generation.model,
          prompt: generation.prompt,
          price: generation.price,
          count: generation.count,
        }),
        run: async (c) => {
          const { generation: next, duplicate } = await generations.reroll(generation.id, {
            requester: c.actor,
            invocationKey: c.invocationKey,
            origin: originOf(c),
          });
          return {
            text: duplicate
              ? `Already rerolling this: ${next.id}.`
              : `Rerolling as ${next.id} on ${next.model} for ${next.price} points.`,
            data: { generation: next, duplicate },
            generation: next,
          };
        },
      };
  }
}

function detailsResult(g: GenerationSummary): CommandResult {
  return {
    text: [
      `Generation ${g.id}`,
      `Prompt: ${g.prompt}`,
      `Model: ${g.model} · ${g.width}x${g.height} · seed ${g.seed}`,
      `Status: ${g.status} · price ${g.price} · charged ${g.captured}`,
    ].join('\n'),
    data: { generation: g },
    generation: g,
    private: true,
  };
}

/**
 * Cancels a generation and says what is true. A queued one ends at once. A running one is
 * asked to stop, and the answer waits briefly for the worker: the run may finish first (and
 * be charged) or fail, and the member is told which. If it is still running, the answer is
 * worded as a request, and the status message shows the outcome when it comes.
 */
export async function cancelGeneration(
  ctx: ChatContext,
  generationId: string,
  { economy, generations }: CommandServices,
): Promise<CommandResult> {
  const accountId = await economy.findAccount(ctx.actor.identity);
  const asked = await generations.cancel(generationId, {
    accountId,
    isModerator: ctx.actor.isModerator,
  });
  const generation =
    asked.status === 'cancelled' ? asked : await generations.awaitEnd(generationId);
  return { text: cancelOutcome(generation), data: { generation }, generation, private: true };
}

/** The sentence for how a cancel turned out. */
export function cancelOutcome(g: GenerationSummary): string {
  switch (g.status) {
    case 'cancelled':
      return `Cancelled ${g.id}; ${g.price} points returned.`;
    case 'completed':
      return `${g.id} finished before it could be stopped; ${g.captured} points were charged for it.`;
    case 'failed':
      return `${g.id} failed before it could be stopped; its ${g.price} points were returned.`;
    default:
      return `Asked the generator to stop ${g.id}. It may still finish; its status message will show the outcome and what was charged.`;
  }
}
