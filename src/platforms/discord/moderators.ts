import { PermissionFlagsBits } from 'discord-api-types/v10';
import type { DiscordConfig } from '../../config.js';

export interface ModeratorCheck {
  userId: string;
  /** Role ids of the member in the guild where the interaction happened (none in a DM). */
  roles: readonly string[];
  /** The member's permission bit set in that channel, when in a guild. */
  permissions: bigint | undefined;
}

/**
 * Who may grant, revoke and cancel others' generations on Discord: user ids and role ids
 * the operator named, and members with Manage Server when the operator allows it. Everything
 * needed arrives with the interaction, so no extra API call is made.
 */
export function isDiscordModerator(
  config: Pick<DiscordConfig, 'moderators' | 'moderatorRoles' | 'manageGuildModerates'>,
  who: ModeratorCheck,
): boolean {
  if (config.moderators.includes(who.userId)) return true;
  if (who.roles.some((role) => config.moderatorRoles.includes(role))) return true;
  return (
    config.manageGuildModerates &&
    who.permissions !== undefined &&
    (who.permissions & PermissionFlagsBits.ManageGuild) === PermissionFlagsBits.ManageGuild
  );
}
