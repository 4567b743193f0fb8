import { PermissionFlagsBits } from 'discord-api-types/v10';
import type { DiscordConfig } from '../../config.js';

export interface ModeratorCheck {
  userId: string;
  /** Role ids of the member in the guild where the interaction happened (none in a DM). */
  roles: readonly string[];
  /** The member's permission bit set in that channel, when in a guild. */
  permissions: bigint | undefined;
  /** Where the interaction happened (undefined in a DM). */
  guildId: string | undefined;
}

/**
 * Who may grant, revoke and cancel others' generations on Discord: user ids and role ids
 * the operator named, and members with Manage Server in the operator's guilds (DISCORD_GUILD_IDS) when allowed. Everything
 * needed arrives with the interaction, so no extra API call is made.
 */
export function isDiscordModerator(
  config: Pick<
    DiscordConfig,
    'moderators' | 'moderatorRoles' | 'manageGuildModerates' | 'guildIds'
  >,
  who: ModeratorCheck,
): boolean {
  if (config.moderators.includes(who.userId)) return true;
  if (who.roles.some((role) => config.moderatorRoles.includes(role))) return true;
  // Manage Server counts only in the operator's own guilds: anyone owns some server.
  return (
    config.manageGuildModerates &&
    who.guildId !== undefined &&
    config.guildIds.includes(who.guildId) &&
    who.permissions !== undefined &&
    (who.permissions & PermissionFlagsBits.ManageGuild) === PermissionFlagsBits.ManageGuild
  );
}
