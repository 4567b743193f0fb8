import { MessageFlags, type ButtonInteraction } from 'discord.js';
import { executeAction, findAction, quickRefusal } from '../../../commands/index.js';
import { memberMessage } from '../../core/errors.js';
import { DiscordInvocation } from './invocation.js';
import type { InteractionDeps } from './interactions.js';
import { asTyped, NO_MENTIONS } from './plain-text.js';

/**
 * A button press. The command layer resolves the custom id to an action and checks who may
 * press it; the press is acknowledged the way the action answers (a new public reply, a
 * private one, or an update of the message the button is on).
 */
export async function onButton(
  deps: InteractionDeps,
  interaction: ButtonInteraction,
): Promise<void> {
  const pressed = findAction(interaction.customId);
  if (!pressed) {
    await interaction.reply({
      content: 'This button is no longer valid. Run the command again.',
      flags: MessageFlags.Ephemeral,
      allowedMentions: NO_MENTIONS,
    });
    return;
  }
  const invocation = new DiscordInvocation(deps, interaction);
  const ctx = invocation.chatContext();
  // A refusal that needs no lookup is answered at once, leaving the message as it is.
  const refused = quickRefusal(pressed, ctx);
  if (refused) {
    await interaction.reply({
      content: asTyped(memberMessage(refused)),
      flags: MessageFlags.Ephemeral,
      allowedMentions: NO_MENTIONS,
    });
    return;
  }
  const answer = pressed.action.answer;
  if (answer === 'update') await interaction.deferUpdate();
  else await interaction.deferReply(answer === 'private' ? { flags: MessageFlags.Ephemeral } : {});
  try {
    const result = await executeAction(pressed, ctx, deps.services);
    await deps.replies.show(interaction, result, invocation.status);
  } catch (error) {
    await deps.replies.fail(interaction, error, answer);
  }
}
