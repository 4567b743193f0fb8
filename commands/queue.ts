import { z } from 'zod';
import { waitWords } from '../src/delivery/progress-view.js';
import type { OpenGeneration, ProviderLine } from '../src/generation/queue-board.js';
import type { LimitsLeft } from '../src/queue/member-limits.js';
import { actionButton } from './actions.js';
import { defineCommand } from './command.js';
import { cancelAction } from './generation-actions.js';

function providerLine(p: ProviderLine): string {
  const idle = p.running === 0 && p.waiting === 0;
  return `${p.provider}: ${idle ? 'idle' : `${p.running} running, ${p.waiting} waiting`} (${p.models.join(', ')})`;
}

function mineLine(g: OpenGeneration): string {
  const where =
    g.status === 'processing'
      ? 'running now'
      : g.position !== undefined
        ? `position ${g.position} of the ${g.provider} queue`
        : 'waiting to be retried';
  const wait =
    g.position === undefined
      ? ''
      : g.wait
        ? `, ${waitWords(g.wait.startsInSeconds, g.wait.doneInSeconds)}`
        : ', no estimate yet';
  return `${g.id}  ${g.model}  ${where}${wait}`;
}

/** How many waiting jobs per provider a moderator sees (each with a Cancel button). */
const MODERATOR_VIEW = 5;

function limitsLine(l: LimitsLeft): string {
  const parts = [
    l.maxQueued === undefined
      ? `${l.open} waiting or running (no limit)`
      : `${l.open} of ${l.maxQueued} waiting or running`,
    l.dailyLimit === undefined ? `${l.today} today` : `${l.today} of ${l.dailyLimit} today`,
  ];
  if (l.cooldownLeftMs > 0) parts.push(`next one in ${Math.ceil(l.cooldownLeftMs / 1000)} s`);
  return `Your limits: ${parts.join('; ')}.`;
}

export const queue = defineCommand({
  name: 'queue',
  description: 'What runs and waits on each generator, and where yours stand',
  options: z.object({}),
  syntax: {},
  role: 'member',
  private: true,
  examples: ['/queue'],
  async run(ctx, _input, { economy, queueBoard }) {
    const accountId = await economy.findAccount(ctx.actor.identity);
    const exempt = queueBoard.exemptsModerators && ctx.actor.isModerator;
    const overview = await queueBoard.overview(accountId, exempt);
    const mine =
      overview.mine.length === 0
        ? ['You have nothing waiting or running. Try /generate a red fox in the snow.']
        : [`Yours (${overview.mine.length}):`, ...overview.mine.map(mineLine)];
    const limits = overview.limits ? [limitsLine(overview.limits)] : [];
    // Moderators also see who waits, and can cancel any of those jobs from here.
    const waiting = ctx.actor.isModerator ? await queueBoard.waiting(MODERATOR_VIEW) : [];
    const lines = waiting.map(
      (w) => `${w.provider} #${w.position}: ${w.id}  ${w.model}  ${w.requester}`,
    );
    const buttons = waiting.flatMap(
      (w) =>
        actionButton(cancelAction, [w.id], {
          label: `Cancel ${w.id.slice(0, 6)}`,
          style: 'danger',
        }) ?? [],
    );
    return {
      text: [
        'Queues:',
        ...overview.providers.map(providerLine),
        ...mine,
        ...limits,
        ...(lines.length > 0 ? ['Waiting (moderators):', ...lines] : []),
      ].join('\n'),
      data: { ...overview, ...(ctx.actor.isModerator ? { waiting } : {}) },
      buttons,
      private: true,
    };
  },
});
