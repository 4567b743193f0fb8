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
 * operator named and of the admin groups' administrators (as they are at start-up), and for
 * those administrators in the groups themselves. A scope Telegram refuses (someone who never
 * opened a chat with the bot) is logged and skipped; the next start tries again.
 */
export async function publishCommands(
  api: Api,
  config: TelegramConfig,
  log: Logger,
): Promise<void> {
  await api.setMyCommands(menu(false));
  const people = new Set(config.moderators);
  for (const group of config.adminGroups) {
    try {
      for (const admin of await api.getChatAdministrators(group))
        if (!admin.user.is_bot) people.add(String(admin.user.id));
    } catch (error) {
      log.warn({ err: error, group }, 'could not list the administrators of an admin group');
    }
  }
  const scopes: BotCommandScope[] = [
    ...[...people].map((id): BotCommandScope => ({ type: 'chat', chat_id: Number(id) })),
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
      log.debug({ err: error, scope }, 'could not publish the moderator commands for this chat');
    }
  }
}
