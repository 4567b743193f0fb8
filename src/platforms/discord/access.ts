import { MessageFlags, type Interaction } from 'discord.js';
import type { DiscordConfig } from '../../config.js';
import { NO_MENTIONS } from './plain-text.js';

/** What an interaction from a server the operator did not name is answered. */
export const NOT_IN_THIS_SERVER = 'This bot is not available in this server.';

/** What an interaction in a direct message is answered when the operator turned them off. */
export const NOT_IN_DMS = 'This bot answers only in the servers it serves; use it there.';

/**
 * Why the bot does not answer here, or undefined when it does. With DISCORD_GUILD_IDS set,
 * only those guilds are served (a user-installed or stale global command can still arrive
 * from elsewhere); a direct message (no guild) is served unless DISCORD_ALLOW_DMS is false.
 */
export function placeRefusal(
  config: Pick<DiscordConfig, 'guildIds' | 'allowDms'>,
  guildId: string | null,
): string | undefined {
  if (guildId === null) return config.allowDms === false ? NOT_IN_DMS : undefined;
  if (config.guildIds.length > 0 && !config.guildIds.includes(guildId)) return NOT_IN_THIS_SERVER;
  return undefined;
}

/** The refusal as the first (and only) response: for the member alone; no choices to type. */
export async function refusePlace(interaction: Interaction, text: string): Promise<void> {
  if (interaction.isAutocomplete()) {
    await interaction.respond([]);
    return;
  }
  if (!interaction.isRepliable()) return;
  await interaction.reply({
    content: text,
    flags: MessageFlags.Ephemeral,
    allowedMentions: NO_MENTIONS,
  });
}
