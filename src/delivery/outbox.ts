import type { Logger } from '../logger.js';

/** How fast one chat may be written to, and how much may wait for it. */
export interface ChatPolicy {
  /** Least time between two calls to this chat. */
  minIntervalMs: number;
  /** At most `count` calls in any `windowMs`. */
  window: { count: number; windowMs: number };
  /**
   * At most this many writes wait for the chat (`OUTBOX_DEFAULTS.maxQueued` when left out).
   * Past it chatter gives way; a write that must arrive waits regardless.
   */
  maxQueued?: number;
}

/** What a chat's policy may leave out. */
export const OUTBOX_DEFAULTS = {
  /**
   * A minute of a Telegram group's pace (20 messages a minute): an answer queued behind more
   * than that would come too late to be worth the wait.
   */
  maxQueued: 20,
} satisfies Required<Pick<ChatPolicy, 'maxQueued'>>;

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

/** Whoever waits for a write: told when it went out, failed, or was dropped. */
interface Waiter {
  resolve: () => void;
  reject: (e: unknown) => void;
  dropped: () => void;
}

interface EditItem {
  kind: 'edit';
  messageKey: string;
  /** Sends the newest waiting state of the message. */
  write: () => Promise<unknown>;
  final: boolean;
  waiters: Waiter[];
  failures: number;
}

interface SendItem {
  kind: 'send';
  task: () => Promise<void>;
  /** An answer the member can ask for again (/help): it may be dropped when the chat is full. */
  chatter: boolean;
  waiters: Waiter[];
  failures: number;
}

type Item = EditItem | SendItem;

/**
 * What may give way when a chat's queue is full: chatter, and a progress state (a newer one,
 * or the final state, follows). A final state, a result and a refusal never do.
 */
function isChatter(item: Item): boolean {
  return item.kind === 'edit' ? !item.final : item.chatter;
}

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
 * a `RetryAfterError` pauses that chat for as long as the platform asked, a chat's queue is
 * bounded (chatter gives way), and a final state is never dropped. Callers queue a write and
 * go on; handlers never sleep, count requests or wait for a paced write themselves.
 */
export class Outbox {
  readonly #chats = new Map<string, ChatState>();
  #lastSweep = 0;
  readonly #options: OutboxOptions;
  #closed = false;
  #peakQueued = 0;
  #dropped = 0;

  constructor(options: OutboxOptions) {
    this.#options = options;
  }

  /**
   * Schedules `payload` as the next state of a message. Resolves when it, or a newer state
   * of the same message that replaced it, has been written (or, for a progress state, when
   * a full queue dropped it).
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
      const waiter = { resolve, reject, dropped: resolve };
      const waiting = chat.queue.find(
        (i): i is EditItem => i.kind === 'edit' && i.messageKey === messageKey,
      );
      if (waiting) {
        // Coalesce: the newest state replaces the waiting one.
        waiting.write = () => send(payload);
        waiting.final ||= options.final === true;
        waiting.waiters.push(waiter);
        this.#pump(chatKey, chat);
        return;
      }
      this.#enqueue(chatKey, chat, {
        kind: 'edit',
        messageKey,
        write: () => send(payload),
        final: options.final === true,
        waiters: [waiter],
        failures: 0,
      });
    });
  }

  /**
   * Schedules a new message that must arrive (a status message, a result, a refusal): never
   * coalesced or dropped, in order with the chat's other writes. Resolves with what the
   * task returned (the sent message, for its id).
   */
  send<T>(chatKey: string, task: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      /** Set by the task that succeeded: hands its result to the caller. */
      let answer: (() => void) | undefined;
      this.#enqueue(chatKey, this.#chat(chatKey), {
        kind: 'send',
        chatter: false,
        task: async () => {
          const result = await task();
          answer = () => resolve(result);
        },
        waiters: [
          {
            resolve: () => answer?.(),
            reject,
            dropped: () =>
              reject(new Error(`outbox: a write to ${chatKey} that must arrive was dropped`)),
          },
        ],
        failures: 0,
      });
    });
  }

  /**
   * Schedules chatter: an answer the member can ask for again (/help, a pointer to a private
   * answer). It is sent in order like any message, but gives way when the chat's queue is
   * full. Resolves whether it was sent.
   */
  sendChatter(chatKey: string, task: () => Promise<unknown>): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.#enqueue(chatKey, this.#chat(chatKey), {
        kind: 'send',
        chatter: true,
        task: async () => {
          await task();
        },
        waiters: [{ resolve: () => resolve(true), reject, dropped: () => resolve(false) }],
        failures: 0,
      });
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

  /** Writes waiting for one chat. */
  queued(chatKey: string): number {
    return this.#chats.get(chatKey)?.queue.length ?? 0;
  }

  /** The most writes that ever waited for one chat at once, since this outbox was made. */
  peakQueued(): number {
    return this.#peakQueued;
  }

  /** Writes dropped because their chat's queue was full, since this outbox was made. */
  dropped(): number {
    return this.#dropped;
  }

  close(): void {
    this.#closed = true;
  }

  /**
   * Adds a write to its chat's queue within the chat's bound: when the queue is full the
   * oldest chatter waiting gives way, or the new write itself when it is chatter and nothing
   * else can. A write that must arrive waits even past the bound.
   */
  #enqueue(chatKey: string, chat: ChatState, item: Item): void {
    const bound = this.#options.policyFor(chatKey).maxQueued ?? OUTBOX_DEFAULTS.maxQueued;
    if (chat.queue.length >= bound) {
      const oldest = chat.queue.findIndex(isChatter);
      const [given] = oldest >= 0 ? chat.queue.splice(oldest, 1) : [];
      if (given) this.#drop(chatKey, given);
      else if (isChatter(item)) {
        this.#drop(chatKey, item);
        return;
      }
    }
    chat.queue.push(item);
    this.#peakQueued = Math.max(this.#peakQueued, chat.queue.length);
    this.#pump(chatKey, chat);
  }

  #drop(chatKey: string, item: Item): void {
    this.#dropped += 1;
    this.#options.logger.debug(
      { chat: chatKey, write: item.kind === 'edit' ? 'progress' : 'chatter' },
      'chat queue full; dropped a write that can be done without',
    );
    for (const w of item.waiters) w.dropped();
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
