import type { Context } from 'grammy';
import type { TelegramConfig } from '../../config.js';
import type { AttachedImages, ChatContext, GenerationPreview } from '../../core/chat.js';
import { UserError } from '../../core/errors.js';
import { pendingView } from '../../delivery/progress-view.js';
import type { Outbox } from '../../delivery/outbox.js';
import type { MediaStore } from '../../store/media-store.js';
import { downloadInputImage, storeInputImage } from '../../store/input-images.js';
import {
  ANONYMOUS_COMMAND,
  ANONYMOUS_MEMBER,
  isStandIn,
  postedAsChat,
} from './anonymous-senders.js';
import type { TelegramModerators } from './moderators.js';
import { renderStatus } from './render.js';
import type { TelegramOrigin } from './telegram-sink.js';

export interface InvocationDeps {
  config: TelegramConfig;
  media: MediaStore;
  outbox: Outbox;
  moderators: TelegramModerators;
  /** When this process started, in Telegram's unit (seconds): older events may be redeliveries. */
  startedAt: number;
}

export function displayName(from: {
  first_name: string;
  last_name?: string;
  username?: string;
}): string {
  return [from.first_name, from.last_name].filter(Boolean).join(' ') || from.username || 'member';
}

/**
 * The idempotency key of an event: a message is its chat and message id, a button press
 * its callback query id. Both are unique and stable, unlike `update_id`, which Telegram may
 * start again after a week without updates. A message sent before this process started
 * may have reached an older release, which keyed it by `update_id`.
 */
export function invocationOf(
  ctx: Context,
  startedAt: number,
): Pick<ChatContext, 'invocationKey' | 'legacyInvocation'> {
  const bot = `telegram:${ctx.me.id}`;
  if (ctx.callbackQuery) return { invocationKey: `${bot}:callback:${ctx.callbackQuery.id}` };
  const msg = ctx.msg;
  if (!msg) return { invocationKey: `${bot}:update:${ctx.update.update_id}` };
  const key = `${bot}:message:${msg.chat.id}:${msg.message_id}`;
  if (msg.date >= startedAt) return { invocationKey: key };
  return {
    invocationKey: key,
    legacyInvocation: {
      keys: [`${bot}:update:${ctx.update.update_id}`],
      notBefore: new Date((msg.date - 300) * 1000),
    },
  };
}

/**
 * One Telegram event as the command layer sees it. A generation's status message is sent
 * when the command opens it (already showing the price, so every progress event can edit
 * it), replying to the command or to the message whose button was pressed; `status` then
 * says where it is, so a failure afterwards is shown in it.
 */
export class TelegramInvocation {
  status: TelegramOrigin | undefined;
  /** Runs once the command has decided to open a status message, before it is sent. */
  beforeStatus: (() => Promise<unknown>) | undefined;

  constructor(
    private readonly deps: InvocationDeps,
    private readonly ctx: Context,
  ) {}

  async chatContext(): Promise<ChatContext> {
    const { ctx, deps } = this;
    const from = ctx.from;
    if (!from) throw new UserError('invalid_input', 'This command needs a sender.');
    // A stand-in sender is shared by every anonymous poster: it is nobody's account.
    if (postedAsChat(ctx.message)) throw new UserError('forbidden', ANONYMOUS_COMMAND);
    return {
      platform: 'telegram',
      actor: {
        identity: { platform: 'telegram', id: String(from.id) },
        displayName: displayName(from),
        isModerator: await deps.moderators.isModerator(from.id),
        priority: await deps.moderators.isGroupAdmin(from.id),
      },
      ...invocationOf(ctx, deps.startedAt),
      resolveMember: async (reference) => {
        const id = reference.trim();
        if (!/^\d{1,20}$/.test(id)) return undefined;
        const replied = ctx.msg?.reply_to_message;
        const reply = replied?.from;
        const toStandIn = postedAsChat(replied) && String(reply?.id) === id;
        if (toStandIn || isStandIn(id)) throw new UserError('invalid_input', ANONYMOUS_MEMBER);
        const name = reply && String(reply.id) === id ? displayName(reply) : id;
        return { identity: { platform: 'telegram', id }, displayName: name };
      },
      attachments: this.#repliedPhoto(),
      openStatus: (preview) => this.#openStatus(preview),
    };
  }

  /** The photo the command replies to, taken from Telegram only when a command asks. */
  #repliedPhoto(): AttachedImages | undefined {
    const photo = this.ctx.msg?.reply_to_message?.photo;
    const fileId = photo?.at(-1)?.file_id;
    if (!fileId) return undefined;
    return { count: 1, store: async () => [await this.#storePhoto(fileId)] };
  }

  async #storePhoto(fileId: string) {
    const { config, media } = this.deps;
    const file = await this.ctx.api.getFile(fileId);
    if (!file.file_path)
      throw new UserError('invalid_input', 'That photo could not be downloaded from Telegram.');
    const root = config.apiRoot ?? 'https://api.telegram.org';
    const bytes = await downloadInputImage(`${root}/file/bot${config.token}/${file.file_path}`);
    return storeInputImage(media, bytes, { name: fileId, source: 'telegram' });
  }

  async #openStatus(preview: GenerationPreview): Promise<TelegramOrigin> {
    const { ctx } = this;
    const chatId = ctx.chat?.id;
    if (chatId === undefined) throw new Error('telegram: a generation started outside a chat');
    await this.beforeStatus?.();
    const replyTo = ctx.msg?.message_id ?? ctx.callbackQuery?.message?.message_id;
    const first = renderStatus(pendingView(preview));
    const sent = await this.deps.outbox.send(String(chatId), () =>
      ctx.api.sendMessage(
        chatId,
        first.text,
        replyTo
          ? { reply_parameters: { message_id: replyTo, allow_sending_without_reply: true } }
          : {},
      ),
    );
    this.status = {
      platform: 'telegram',
      chatId,
      messageId: sent.message_id,
      ...(replyTo ? { replyTo } : {}),
    };
    return { ...this.status };
  }
}
