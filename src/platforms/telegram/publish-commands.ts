import type { Api } from 'grammy';
import type { BotCommand, BotCommandScope } from 'grammy/types';
import { COMMANDS } from '../../../commands/index.js';
import type { TelegramConfig } from '../../config.js';
import type { Logger } from '../../logger.js';

/** Telegram's limit for a command's description in the menu. */
const DESCRIPTION_LIMIT = 256;

function menu(moderator: boolean): BotCommand[] {
  return COMMANDS.filter((c) => moderator || c.role === 'member').map((c) => ({
    command: c.name,
    description: c.description.slice(0, DESCRIPTION_LIMIT),
  }));
}

/**
 * Publishes the command menu with scopes, so members never see moderators' commands: the
 * member commands for everyone, and all of them in the private chats of the moderators the
 * operator named and for the administrators of the admin groups. A scope Telegram refuses
 * (a moderator who never opened a chat with the bot) is logged and skipped.
 */
export async function publishCommands(
  api: Api,
  config: TelegramConfig,
  log: Logger,
): Promise<void> {
  await api.setMyCommands(menu(false));
  const scopes: BotCommandScope[] = [
    ...config.moderators.map((id): BotCommandScope => ({ type: 'chat', chat_id: Number(id) })),
    ...config.adminGroups.map((id): BotCommandScope => ({
      type: 'chat_administrators',
      chat_id: id,
    })),
  ];
  const all = menu(true);
  for (const scope of scopes) {
    try {
      await api.setMyCommands(all, { scope });
    } catch (error) {
      log.warn({ err: error, scope }, 'could not publish the moderator commands for this chat');
    }
  }
}
