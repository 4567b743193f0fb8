import { z } from 'zod';
import { statusOrigin, type ChatContext } from '../src/core/chat.js';
import { UserError } from '../src/core/errors.js';
import type { GenerationSummary } from '../src/generation/summary.js';
import type { ButtonRef } from '../src/core/buttons.js';
import { actionButton } from './actions.js';
import { defineAction, type CommandResult, type CommandServices } from './command.js';

const byId = z.object({
  id: z.string().regex(/^[a-z0-9]{8,32}$/, { error: 'not a generation id' }),
});

/** The generation a button names; a stale button says so in words. */
async function subject(
  { id }: z.output<typeof byId>,
  { generations }: CommandServices,
): Promise<GenerationSummary> {
  return generations.summary(id).catch((error: unknown) => {
    if (error instanceof UserError && error.code === 'not_found')
      throw new UserError('not_found', `There is no generation with the id ${id}.`, {
        cause: error,
      });
    throw error;
  });
}

/**
 * The buttons a generation's messages carry, and who may press them. Every surface runs a
 * press through `executeAction`, which checks `who` before `run`: a stranger's press is
 * refused the same way everywhere, before anything is posted, held or queued.
 */
export const cancelAction = defineAction({
  name: 'cancel',
  args: ['id'],
  schema: byId,
  // A moderator may stop anything.
  who: 'owner-or-moderator',
  answer: 'private',
  button: { label: 'Cancel', style: 'danger' },
  subject,
  run: (ctx, { id }, services) => cancelGeneration(ctx, id, services),
});

/**
 * The second press that cancels a running generation on a backend that cannot stop it,
 * offered with the answer that says so; the cancel is then charged in full.
 */
export const cancelAnywayAction = defineAction({
  name: 'stop',
  args: ['id'],
  schema: byId,
  who: 'owner-or-moderator',
  answer: 'private',
  button: { label: 'Cancel anyway', style: 'danger' },
  subject,
  run: (ctx, { id }, services) => cancelGeneration(ctx, id, services, { acceptCharge: true }),
});

export const rerollAction = defineAction({
  name: 'reroll',
  args: ['id'],
  schema: byId,
  // A reroll is charged to whoever presses it.
  who: 'owner',
  answer: 'public',
  button: { label: 'Reroll', emoji: '🎲', style: 'primary' },
  acknowledgement: 'Rerolling…',
  subject,
  async run(ctx, _args, { generations }, previous) {
    if (!previous) throw new Error('reroll runs with its subject');
    const origin = await statusOrigin(ctx, {
      generationId: generations.idFor(ctx.invocationKey),
      model: previous.model,
      prompt: previous.prompt,
      price: previous.price,
      count: previous.count,
    });
    const { generation, duplicate } = await generations.reroll(previous.id, {
      requester: ctx.actor,
      invocationKey: ctx.invocationKey,
      origin,
    });
    return {
      text: duplicate
        ? `Already rerolling this: ${generation.id}.`
        : `Rerolling as ${generation.id} on ${generation.model} for ${generation.price} points.`,
      data: { generation, duplicate },
      generation,
    };
  },
});

export const detailsAction = defineAction({
  name: 'details',
  args: ['id'],
  schema: byId,
  // The answer is private and shows what the public message already shows; a generation
  // made in a private chat was shown to nobody else.
  who: 'anyone-where-public',
  answer: 'private',
  button: { label: 'Details', style: 'secondary' },
  subject,
  async run(_ctx, _args, _services, g) {
    if (!g) throw new Error('details runs with its subject');
    return {
      text: [
        `Generation ${g.id}`,
        `Prompt: ${g.prompt}`,
        `Model: ${g.model} · ${g.width}x${g.height} · seed ${g.seed}`,
        `Status: ${g.status} · price ${g.price} · charged ${g.captured}`,
        `Outputs: ${g.outputs.length}/${g.count}${g.failedOutputs.length ? ` (${g.failedOutputs.length} failed)` : ''}`,
        `Created: ${g.createdAt.replace('T', ' ').slice(0, 19)} UTC`,
      ].join('\n'),
      data: { generation: g },
      generation: g,
      details: true,
      private: true,
    };
  },
});

export const GENERATION_ACTIONS = [
  cancelAction,
  cancelAnywayAction,
  rerollAction,
  detailsAction,
] as const;

/** The buttons a generation's status message offers now (the progress view names them). */
export function generationButtons(
  generationId: string,
  offered: readonly (typeof GENERATION_ACTIONS)[number]['name'][],
): ButtonRef[] {
  return GENERATION_ACTIONS.filter((a) => offered.includes(a.name)).flatMap(
    (a) => actionButton(a, [generationId]) ?? [],
  );
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
  options: { acceptCharge?: boolean } = {},
): Promise<CommandResult> {
  const accountId = await economy.findAccount(ctx.actor.identity);
  let asked: GenerationSummary;
  try {
    asked = await generations.cancel(
      generationId,
      { accountId, isModerator: ctx.actor.isModerator },
      options,
    );
  } catch (error) {
    if (!(error instanceof UserError) || error.code !== 'confirm_charge') throw error;
    // Told first: a cancel now is charged. The answer offers the press that does it anyway.
    const anyway = actionButton(cancelAnywayAction, [generationId]);
    return {
      text: `${error.message} (or /cancel ${generationId} --anyway yes)`,
      data: { generationId, confirm: true, ...error.details },
      private: true,
      ...(anyway ? { buttons: [anyway] } : {}),
    };
  }
  const generation =
    asked.status === 'cancelled' ? asked : await generations.awaitEnd(generationId);
  return { text: cancelOutcome(generation), data: { generation }, generation, private: true };
}

/** The sentence for how a cancel turned out. */
export function cancelOutcome(g: GenerationSummary): string {
  switch (g.status) {
    case 'cancelled':
      return g.captured > 0
        ? `Cancelled ${g.id}; its backend could not stop the run, so ${g.captured} points were charged.`
        : `Cancelled ${g.id}; ${g.price} points returned.`;
    case 'completed':
      return `${g.id} finished before it could be stopped; ${g.captured} points were charged for it.`;
    case 'failed':
      return `${g.id} failed before it could be stopped; its ${g.price} points were returned.`;
    default:
      return `Asked the generator to stop ${g.id}. It may still finish; its status message will show the outcome and what was charged.`;
  }
}
