import type { Logger } from '../logger.js';

/** How fast one chat may be written to. */
export interface ChatPolicy {
  /** Least time between two calls to this chat. */
  minIntervalMs: number;
  /** At most `count` calls in any `windowMs`. */
  window: { count: number; windowMs: number };
}

/** Thrown by a send when the platform asked us to wait (HTTP 429 with retry_after). */
export class RetryAfterError extends Error {
  override readonly name = 'RetryAfterError';
  constructor(
    readonly retryAfterMs: number,
    options?: { cause?: unknown },
  ) {
    super(`rate limited; retry after ${retryAfterMs} ms`, options);
  }
}

interface EditItem {
  kind: 'edit';
  messageKey: string;
  /** Sends the newest waiting state of the message. */
  write: () => Promise<unknown>;
  final: boolean;
  waiters: { resolve: () => void; reject: (e: unknown) => void }[];
  failures: number;
}

interface SendItem {
  kind: 'send';
  task: () => Promise<void>;
  waiters: { resolve: () => void; reject: (e: unknown) => void }[];
  failures: number;
}

type Item = EditItem | SendItem;

/** How long a message's final state is remembered, to drop progress that arrives after it. */
const FINAL_MEMORY_MS = 10 * 60_000;

interface ChatState {
  queue: Item[];
  /** Messages whose final state was scheduled, and when. */
  finals: Map<string, number>;
  /** Start times of recent calls, for the window. */
  recent: number[];
  last: number;
  pausedUntil: number;
  pumping: boolean;
}

export interface OutboxOptions {
  policyFor: (chatKey: string) => ChatPolicy;
  logger: Logger;
  /** Whether an error means the edit had nothing to change (not a failure). */
  isNotModified?: (error: unknown) => boolean;
  /** Whether an error can never succeed on a retry (the platform refused the request itself). */
  isPermanent?: (error: unknown) => boolean;
  /** How long the platform asked us to wait, when an error is its rate limit (HTTP 429). */
  retryAfterMs?: (error: unknown) => number | undefined;
  /** Tries for a send or a final edit that fails for another reason. */
  maxFailures?: number;
}

/**
 * Every message write to a chat goes through here. Edits of one message are coalesced
 * (only the newest waiting state is sent), calls keep to each chat's pace and window,
 * a `RetryAfterError` pauses that chat for as long as the platform asked, and a final state
 * is never dropped. Handlers never sleep or count requests themselves.
 */
export class Outbox {
  readonly #chats = new Map<string, ChatState>();
  #lastSweep = 0;
  readonly #options: OutboxOptions;
  #closed = false;

  constructor(options: OutboxOptions) {
    this.#options = options;
  }

  /**
   * Schedules `payload` as the next state of a message. Resolves when it, or a newer state
   * of the same message that replaced it, has been written.
   */
  edit<P>(
    chatKey: string,
    messageKey: string,
    payload: P,
    send: (payload: P) => Promise<unknown>,
    options: { final?: boolean } = {},
  ): Promise<void> {
    const chat = this.#chat(chatKey);
    const now = Date.now();
    for (const [key, at] of chat.finals) if (at < now - FINAL_MEMORY_MS) chat.finals.delete(key);
    if (chat.finals.has(messageKey) && options.final !== true) {
      // A late progress update must never overwrite the final state.
      return Promise.resolve();
    }
    if (options.final === true) chat.finals.set(messageKey, now);
    return new Promise<void>((resolve, reject) => {
      const waiting = chat.queue.find(
        (i): i is EditItem => i.kind === 'edit' && i.messageKey === messageKey,
      );
      if (waiting) {
        // Coalesce: the newest state replaces the waiting one.
        waiting.write = () => send(payload);
        waiting.final ||= options.final === true;
        waiting.waiters.push({ resolve, reject });
      } else {
        chat.queue.push({
          kind: 'edit',
          messageKey,
          write: () => send(payload),
          final: options.final === true,
          waiters: [{ resolve, reject }],
          failures: 0,
        });
      }
      this.#pump(chatKey, chat);
    });
  }

  /**
   * Schedules a new message (never coalesced), in order with the chat's other writes, and
   * resolves with what the task returned (the sent message, for its id).
   */
  send<T>(chatKey: string, task: () => Promise<T>): Promise<T> {
    const chat = this.#chat(chatKey);
    return new Promise<T>((resolve, reject) => {
      /** Set by the task that succeeded: hands its result to the caller. */
      let answer: (() => void) | undefined;
      chat.queue.push({
        kind: 'send',
        task: async () => {
          const result = await task();
          answer = () => resolve(result);
        },
        waiters: [{ resolve: () => answer?.(), reject }],
        failures: 0,
      });
      this.#pump(chatKey, chat);
    });
  }

  /** Chats the outbox still keeps state for (pace, window, finals). */
  chats(): number {
    return this.#chats.size;
  }

  /** Writes waiting, across all chats. */
  pending(): number {
    let n = 0;
    for (const chat of this.#chats.values()) n += chat.queue.length;
    return n;
  }

  close(): void {
    this.#closed = true;
  }

  #chat(chatKey: string): ChatState {
    this.#sweep(Date.now());
    let chat = this.#chats.get(chatKey);
    if (!chat) {
      chat = { queue: [], finals: new Map(), recent: [], last: 0, pausedUntil: 0, pumping: false };
      this.#chats.set(chatKey, chat);
    }
    return chat;
  }

  /**
   * Forgets idle chats, at most once a minute: nothing waiting, no call inside the pace
   * window, and every final older than the memory. Keys such as one per Discord interaction
   * would otherwise pile up for the life of the process.
   */
  #sweep(now: number): void {
    if (now - this.#lastSweep < 60_000) return;
    this.#lastSweep = now;
    for (const [key, chat] of this.#chats) {
      if (chat.pumping || chat.queue.length > 0) continue;
      const windowMs = this.#options.policyFor(key).window.windowMs;
      if (chat.recent.some((t) => t > now - windowMs) || chat.pausedUntil > now) continue;
      for (const [message, at] of chat.finals)
        if (at < now - FINAL_MEMORY_MS) chat.finals.delete(message);
      if (chat.finals.size === 0) this.#chats.delete(key);
    }
  }

  #waitMs(chat: ChatState, policy: ChatPolicy, now: number): number {
    chat.recent = chat.recent.filter((t) => t > now - policy.window.windowMs);
    let wait = Math.max(0, chat.pausedUntil - now, chat.last + policy.minIntervalMs - now);
    if (chat.recent.length >= policy.window.count) {
      const oldest = chat.recent[chat.recent.length - policy.window.count] ?? now;
      wait = Math.max(wait, oldest + policy.window.windowMs - now);
    }
    return wait;
  }

  #pump(chatKey: string, chat: ChatState): void {
    if (chat.pumping) return;
    chat.pumping = true;
    void this.#drain(chatKey, chat)
      .catch((error: unknown) =>
        this.#options.logger.error({ err: error, chat: chatKey }, 'outbox pump failed'),
      )
      .finally(() => {
        chat.pumping = false;
        if (chat.queue.length > 0 && !this.#closed) this.#pump(chatKey, chat);
        else if (chat.queue.length === 0 && chat.recent.length === 0 && chat.finals.size === 0) {
          this.#chats.delete(chatKey);
        }
      });
  }

  async #drain(chatKey: string, chat: ChatState): Promise<void> {
    const policy = this.#options.policyFor(chatKey);
    const maxFailures = this.#options.maxFailures ?? 5;
    while (chat.queue.length > 0 && !this.#closed) {
      const wait = this.#waitMs(chat, policy, Date.now());
      if (wait > 0) {
        await new Promise((r) => setTimeout(r, wait));
        continue;
      }
      const item = chat.queue.shift();
      if (!item) break;
      const waiters = item.waiters;
      item.waiters = [];
      const started = Date.now();
      chat.last = started;
      chat.recent.push(started);
      try {
        if (item.kind === 'edit') await item.write();
        else await item.task();
        for (const w of waiters) w.resolve();
      } catch (error) {
        if (item.kind === 'edit' && this.#options.isNotModified?.(error)) {
          for (const w of waiters) w.resolve();
          continue;
        }
        const retryAfter =
          error instanceof RetryAfterError
            ? error.retryAfterMs
            : this.#options.retryAfterMs?.(error);
        item.failures += 1;
        const permanent = retryAfter === undefined && this.#options.isPermanent?.(error) === true;
        const keep =
          retryAfter !== undefined ||
          (!permanent && (item.kind === 'send' || item.final) && item.failures < maxFailures);
        if (retryAfter !== undefined) {
          chat.pausedUntil = Date.now() + retryAfter;
          this.#options.logger.warn(
            { chat: chatKey, retryAfterMs: retryAfter },
            'rate limited; pausing this chat',
          );
        } else {
          this.#options.logger.warn(
            { err: error, chat: chatKey, failures: item.failures },
            'message write failed',
          );
          if (keep) chat.pausedUntil = Date.now() + Math.min(30_000, 500 * 2 ** item.failures);
        }
        if (keep) {
          // Back to the front, unless a newer state of the same message is already waiting.
          item.waiters = waiters;
          const newer =
            item.kind === 'edit'
              ? chat.queue.find(
                  (i): i is EditItem => i.kind === 'edit' && i.messageKey === item.messageKey,
                )
              : undefined;
          if (newer) {
            newer.waiters.push(...waiters);
            newer.final ||= item.kind === 'edit' && item.final;
          } else {
            chat.queue.unshift(item);
          }
        } else {
          for (const w of waiters) w.reject(error);
        }
      }
    }
  }
}
