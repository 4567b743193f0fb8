import {
  MessageFlags,
  type AutocompleteInteraction,
  type ChatInputCommandInteraction,
} from 'discord.js';
import { executeCommand, findCommand, type CommandServices } from '../../../commands/index.js';
import { UserError } from '../../core/errors.js';
import { quote } from '../../core/pricing.js';
import { clip } from '../../core/text.js';
import { DiscordInvocation, rawOptions, type InvocationDeps } from './invocation.js';
import { optionKey } from './slash-commands.js';
import type { DiscordReplies } from './replies.js';

export interface InteractionDeps extends InvocationDeps {
  services: CommandServices;
  replies: DiscordReplies;
}

/**
 * A slash command: acknowledged first, whatever else is going on (Discord drops an
 * interaction after 3 s), privately when the command's answers are private; then run by
 * the command layer and its answer shown in the reply.
 */
export async function onCommand(
  deps: InteractionDeps,
  interaction: ChatInputCommandInteraction,
): Promise<void> {
  const command = findCommand(interaction.commandName);
  const ephemeral = command?.private === true;
  try {
    await interaction.deferReply(ephemeral ? { flags: MessageFlags.Ephemeral } : {});
  } catch (error) {
    deps.log.warn(
      { err: error, command: interaction.commandName },
      'could not defer an interaction',
    );
    return;
  }
  const invocation = new DiscordInvocation(deps, interaction);
  try {
    if (!command)
      throw new UserError('unknown_command', `Unknown command /${interaction.commandName}.`);
    const raw = rawOptions(interaction, command);
    const result = await executeCommand(command, invocation.chatContext(), raw, deps.services);
    await deps.replies.show(interaction, result, invocation.status);
  } catch (error) {
    await deps.replies.fail(interaction, error, ephemeral ? 'private' : 'public');
  }
}

/** Model ids as the member types them, with their price at default settings. */
export async function onAutocomplete(
  deps: InteractionDeps,
  interaction: AutocompleteInteraction,
): Promise<void> {
  const focused = interaction.options.getFocused(true);
  const command = findCommand(interaction.commandName);
  const key = command ? optionKey(command, focused.name) : undefined;
  const option = command && key ? command.syntax[key] : undefined;
  if (option?.picks !== 'model') {
    await interaction.respond([]);
    return;
  }
  const typed = String(focused.value).toLowerCase();
  const choices = deps.services.catalog
    .list()
    .filter((m) => m.id.includes(typed) || m.name.toLowerCase().includes(typed))
    .slice(0, 25)
    .map((m) => {
      const price = quote(m, { ...m.defaults, count: 1, seconds: m.defaults.seconds }).total;
      const label = `${m.id} · ${m.name} · ${price} pts${m.capabilities.img2img ? ' · takes an image' : ''}`;
      return { name: clip(label, 100), value: m.id };
    });
  await interaction.respond(choices);
}
