import { z } from 'zod';

/**
 * Where a generation was asked for, stored with it so that any bot process can post its
 * progress and deliver its result: one shape per platform. It can hold credentials (Discord's
 * interaction token, valid 15 minutes), so it stays in MongoDB and in the bot's memory, never
 * in a job, an event or a log line.
 */
export const discordOriginSchema = z.object({
  platform: z.literal('discord'),
  applicationId: z.string(),
  interactionId: z.string(),
  interactionToken: z.string(),
  /** When Discord stops accepting the token, in ms since the epoch. */
  tokenExpiresAt: z.number(),
  channelId: z.string(),
  guildId: z.string().optional(),
  userId: z.string(),
  /** The interaction's `attachment_size_limit`, in bytes (older documents have none). */
  attachmentLimit: z.number().optional(),
});

export const telegramOriginSchema = z.object({
  platform: z.literal('telegram'),
  chatId: z.number(),
  /** The status message the bot edits. */
  messageId: z.number(),
  /** The member's command message, replied to with the result. */
  replyTo: z.number().optional(),
});

/** The console follows its own generations; its origin only names the member. */
export const consoleOriginSchema = z.object({
  platform: z.literal('console'),
  user: z.string().optional(),
});

export const originSchema = z.discriminatedUnion('platform', [
  discordOriginSchema,
  telegramOriginSchema,
  consoleOriginSchema,
]);

export type DiscordOrigin = z.output<typeof discordOriginSchema>;
export type TelegramOrigin = z.output<typeof telegramOriginSchema>;
export type ConsoleOrigin = z.output<typeof consoleOriginSchema>;
export type Origin = z.output<typeof originSchema>;

/**
 * Whether a generation was asked for where only its requester (and the bot) could see it: a
 * Telegram private chat (positive chat ids are users), a Discord direct message (no guild),
 * the console. What it shows is then not for strangers.
 */
export function isPrivateOrigin(origin: Origin | undefined): boolean {
  if (!origin) return false;
  switch (origin.platform) {
    case 'telegram':
      return origin.chatId > 0;
    case 'discord':
      return origin.guildId === undefined;
    case 'console':
      return true;
  }
}

/** A stored origin read back, or undefined when it is not one this release can deliver to. */
export function parseOrigin(raw: unknown): Origin | undefined {
  const parsed = originSchema.safeParse(raw);
  return parsed.success ? parsed.data : undefined;
}
