import type { DiscordOrigin, Origin } from '../../core/origin.js';
import { DiscordAPIError, type REST, type RawFile } from 'discord.js';
import { RESTJSONErrorCodes, Routes } from 'discord-api-types/v10';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { extensionFor } from '../../core/media.js';
import type { Outbox } from '../../delivery/outbox.js';
import type { ProgressView } from '../../delivery/progress-view.js';
import type { DeliverySink } from '../../delivery/sink.js';
import type { GenerationSummary } from '../../generation/summary.js';
import type { Logger } from '../../logger.js';
import type { MediaStore } from '../../store/media-store.js';
import { fitAttachment } from './fit-attachment.js';
import { NO_MENTIONS } from './plain-text.js';
import { renderProgress, type DiscordView } from './render.js';
import type { RedisKeys } from '../../queue/keys.js';

/** Where a generation went on after its interaction token expired, as kept in Redis. */
const CONTINUED = z.object({ channelId: z.string(), messageId: z.string() });

/** The fields of Discord's reply to a posted message (an `APIMessage`) the sink keeps. */
const POSTED_MESSAGE = z.object({ id: z.string(), channel_id: z.string() });

/** The field of Discord's reply to opening a DM (an `APIDMChannel`) the sink posts to. */
const OPENED_DM = z.object({ id: z.string() });

/**
 * Where a generation's messages go, stored with the generation at submit time so any bot
 * process can post its progress. The interaction token is a short-lived credential (15
 * minutes); it is kept only in the origin and never logged.
 */
export type { DiscordOrigin };

/** The Discord origin of a generation, with the upload limit older documents lack. */
export function asDiscordOrigin(
  origin: Origin,
): (DiscordOrigin & { attachmentLimit: number }) | undefined {
  if (origin.platform !== 'discord') return undefined;
  return { ...origin, attachmentLimit: origin.attachmentLimit ?? DEFAULT_UPLOAD_LIMIT };
}

/** Discord's upload limit for a server without boosts. */
export const DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024;

/** A message payload: what to show and the files to attach. */
export interface DiscordPayload {
  view: DiscordView;
  files: RawFile[];
  /** The message's attachments become exactly `files` (else earlier ones are kept). */
  replaceFiles: boolean;
}

const PREVIEW_NAME = 'preview.jpg';
const GONE_MEMORY = 5000;
/** Generations whose reply shows a preview, remembered so later edits keep pointing at it. */
const PREVIEW_MEMORY = 5000;

function discordCode(error: unknown): number | undefined {
  return error instanceof DiscordAPIError && typeof error.code === 'number'
    ? error.code
    : undefined;
}

/** The interaction's token no longer works, or its reply is gone: continue elsewhere. */
function tokenGone(error: unknown): boolean {
  const code = discordCode(error);
  return (
    code === RESTJSONErrorCodes.InvalidWebhookToken ||
    code === RESTJSONErrorCodes.UnknownWebhook ||
    code === RESTJSONErrorCodes.UnknownMessage ||
    code === RESTJSONErrorCodes.UnknownInteraction
  );
}

/** The channel cannot be written to any more: deleted, or the bot lost access. */
function channelGone(error: unknown): boolean {
  const code = discordCode(error);
  return (
    code === RESTJSONErrorCodes.UnknownChannel ||
    code === RESTJSONErrorCodes.MissingAccess ||
    code === RESTJSONErrorCodes.MissingPermissions ||
    code === RESTJSONErrorCodes.CannotSendMessagesToThisUser
  );
}

export interface DiscordSinkDeps {
  rest: REST;
  outbox: Outbox;
  media: MediaStore;
  redis: Redis;
  keys: RedisKeys;
  logger: Logger;
  /** Stop using an interaction token this long before it expires. */
  tokenMarginMs: number;
}

const CONTINUED_TTL_SECONDS = 7 * 24 * 3600;

/**
 * Shows progress by editing the interaction's reply and delivers the result into it as
 * attachments. A generation that outlives its interaction token goes on in a channel message
 * edited with the bot token (a DM when the channel is gone); that message's id is kept in
 * Redis so every bot process edits the same one. All writes go through the outbox (pace,
 * coalescing, final state never dropped) and discord.js's REST queue (429s).
 */
export class DiscordSink implements DeliverySink {
  readonly platform = 'discord';

  constructor(private readonly deps: DiscordSinkDeps) {}

  /** Generations whose reply Discord refused to edit (deleted, token revoked) before expiry. */
  readonly #gone = new Set<string>();

  /** The latest preview of each running generation, attached to every progress edit. */
  readonly #previews = new Map<string, RawFile>();

  async showProgress(rawOrigin: Origin, view: ProgressView): Promise<void> {
    const origin = asDiscordOrigin(rawOrigin);
    if (!origin) return;
    const id = view.generationId;
    if (view.final) {
      this.#previews.delete(id);
      await this.write(
        origin,
        id,
        { view: renderProgress(view), files: [], replaceFiles: true },
        true,
      );
      return;
    }
    if (view.preview) {
      this.#previews.delete(id);
      this.#previews.set(id, {
        name: PREVIEW_NAME,
        data: Buffer.from(view.preview, 'base64'),
        contentType: 'image/jpeg',
      });
      if (this.#previews.size > PREVIEW_MEMORY) {
        const oldest = this.#previews.keys().next().value;
        if (oldest !== undefined) this.#previews.delete(oldest);
      }
    }
    // Edits are coalesced, so each one carries the preview itself: whichever is sent shows it.
    const preview = this.#previews.get(id);
    await this.write(
      origin,
      id,
      preview
        ? { view: renderProgress(view, PREVIEW_NAME), files: [preview], replaceFiles: true }
        : { view: renderProgress(view), files: [], replaceFiles: false },
      false,
    );
  }

  async deliver(
    rawOrigin: Origin,
    generation: GenerationSummary,
    view: ProgressView,
  ): Promise<void> {
    const origin = asDiscordOrigin(rawOrigin);
    if (!origin) return;
    // The limit is for the whole upload: share it between the outputs.
    const budget = Math.floor(origin.attachmentLimit / Math.max(1, generation.outputs.length));
    const { files, notes } =
      generation.status === 'completed'
        ? await this.#files(generation, budget)
        : { files: [], notes: [] };
    const single = files.length === 1 && !generation.outputs[0]?.mime.startsWith('video/');
    const rendered = renderProgress(view, single ? files[0]?.name : undefined);
    const embed = rendered.embeds[0];
    if (embed && notes.length > 0)
      embed.description = `${embed.description ?? ''}\n\n${notes.join('\n')}`;
    this.#previews.delete(generation.id);
    await this.write(origin, generation.id, { view: rendered, files, replaceFiles: true }, true);
  }

  /** Schedules a state of a generation's message. */
  write(
    origin: DiscordOrigin,
    generationId: string,
    payload: DiscordPayload,
    final: boolean,
  ): Promise<void> {
    return this.deps.outbox.edit(
      `interaction:${origin.interactionId}`,
      generationId,
      payload,
      (p) => this.#send(origin, generationId, p),
      { final },
    );
  }

  async #files(
    generation: GenerationSummary,
    limit: number,
  ): Promise<{ files: RawFile[]; notes: string[] }> {
    const files: RawFile[] = [];
    const notes: string[] = [];
    for (const output of generation.outputs) {
      const data = await this.deps.media.get(output.fileId);
      const fitted = await fitAttachment(data, output.mime, limit);
      if (!fitted) {
        notes.push(
          `Output ${output.index + 1} is larger than this channel's upload limit; ask a moderator for the file (${generation.id}).`,
        );
        continue;
      }
      if (fitted.reencoded)
        notes.push(`Output ${output.index + 1} was re-encoded to fit the upload limit.`);
      files.push({
        name: `${generation.id}-${output.index + 1}.${extensionFor(fitted.mime)}`,
        data: fitted.data,
        contentType: fitted.mime,
      });
    }
    return { files, notes };
  }

  /** A message body; it mentions nobody unless the caller names who. */
  #body(p: DiscordPayload, content?: string): Record<string, unknown> {
    return {
      allowed_mentions: NO_MENTIONS,
      ...(content !== undefined ? { content } : {}),
      embeds: p.view.embeds,
      components: p.view.components,
      ...(p.replaceFiles
        ? { attachments: p.files.map((f, i) => ({ id: i, filename: f.name })) }
        : {}),
    };
  }

  /**
   * Writes one state. If Discord refuses the upload as too large (40005: the channel's limit
   * is lower than the interaction said, or the request as a whole is too big), the state goes
   * out without the files and says so, rather than being retried until it is dropped.
   */
  async #send(origin: DiscordOrigin, generationId: string, p: DiscordPayload): Promise<void> {
    try {
      await this.#sendOnce(origin, generationId, p);
    } catch (error) {
      if (discordCode(error) !== RESTJSONErrorCodes.RequestEntityTooLarge || p.files.length === 0)
        throw error;
      this.deps.logger.warn({ generationId }, 'upload refused as too large; sending without files');
      const embeds = p.view.embeds.map((embed, i) => {
        if (i !== 0) return embed;
        const { image: _image, ...rest } = embed;
        return {
          ...rest,
          description: `${embed.description ?? ''}\n\nThe files were too large for this channel; ask a moderator for them (${generationId}).`,
        };
      });
      await this.#sendOnce(origin, generationId, {
        view: { ...p.view, embeds },
        files: [],
        replaceFiles: true,
      });
    }
  }

  async #sendOnce(origin: DiscordOrigin, generationId: string, p: DiscordPayload): Promise<void> {
    const { rest, logger } = this.deps;
    // The reply is edited while the token lives. Every process reaches the same verdict (the
    // same expiry time, the same error from Discord), so Redis is read only once it is over.
    if (
      !this.#gone.has(generationId) &&
      Date.now() < origin.tokenExpiresAt - this.deps.tokenMarginMs
    ) {
      try {
        await rest.patch(
          Routes.webhookMessage(origin.applicationId, origin.interactionToken, '@original'),
          { auth: false, body: this.#body(p), files: p.files },
        );
        return;
      } catch (error) {
        if (!tokenGone(error)) throw error;
        this.#gone.add(generationId);
        if (this.#gone.size > GONE_MEMORY) {
          const oldest = this.#gone.values().next().value;
          if (oldest !== undefined) this.#gone.delete(oldest);
        }
        logger.info(
          { generationId, code: discordCode(error) },
          'interaction reply no longer editable; continuing in a channel message',
        );
      }
    }
    await this.#continue(origin, generationId, p, await this.#continued(generationId));
  }

  #continuedKey(generationId: string): string {
    return this.deps.keys.discordContinued(generationId);
  }

  async #continued(
    generationId: string,
  ): Promise<{ channelId: string; messageId: string } | undefined> {
    const known = await this.deps.redis.get(this.#continuedKey(generationId));
    return known ? CONTINUED.parse(JSON.parse(known)) : undefined;
  }

  async #continue(
    origin: DiscordOrigin,
    generationId: string,
    p: DiscordPayload,
    known: { channelId: string; messageId: string } | undefined,
  ): Promise<void> {
    const { rest, redis, logger } = this.deps;
    const key = this.#continuedKey(generationId);
    if (known) {
      const { channelId, messageId } = known;
      try {
        await rest.patch(Routes.channelMessage(channelId, messageId), {
          body: this.#body(p),
          files: p.files,
        });
        return;
      } catch (error) {
        const code = discordCode(error);
        if (code !== RESTJSONErrorCodes.UnknownMessage && !channelGone(error)) throw error;
        logger.info({ generationId, code }, 'continued message is gone; posting a new one');
      }
    }
    const reply = await this.#postAnew(origin, generationId, p);
    // The message is posted: a reply we cannot read only means the next state posts anew
    // (throwing would have the outbox post it again).
    const message = POSTED_MESSAGE.safeParse(reply);
    if (!message.success) {
      logger.warn({ generationId, err: message.error }, 'unreadable reply to a posted message');
      return;
    }
    await redis.set(
      key,
      JSON.stringify({ channelId: message.data.channel_id, messageId: message.data.id }),
      'EX',
      CONTINUED_TTL_SECONDS,
    );
  }

  /**
   * Posts the state as a new message in the channel, mentioning the member; in a direct
   * message when the channel is gone. Returns Discord's reply (the posted message).
   */
  async #postAnew(
    origin: DiscordOrigin,
    generationId: string,
    p: DiscordPayload,
  ): Promise<unknown> {
    const { rest, logger } = this.deps;
    const content = `<@${origin.userId}> your generation continues here (the original reply can no longer be edited).`;
    // The member who asked is pinged where their generation went on; nobody else is.
    const body = {
      ...this.#body(p, content),
      allowed_mentions: { ...NO_MENTIONS, users: [origin.userId] },
    };
    try {
      return await rest.post(Routes.channelMessages(origin.channelId), { body, files: p.files });
    } catch (error) {
      if (!channelGone(error)) throw error;
      logger.info(
        { generationId, code: discordCode(error) },
        'channel is gone; continuing in a DM',
      );
      const dm = OPENED_DM.parse(
        await rest.post(Routes.userChannels(), { body: { recipient_id: origin.userId } }),
      );
      return rest.post(Routes.channelMessages(dm.id), { body: this.#body(p), files: p.files });
    }
  }
}
