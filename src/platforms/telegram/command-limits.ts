import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';

/** A number of commands in a window of time. */
export interface CommandLimit {
  commands: number;
  windowMs: number;
}

/**
 * How many commands one member, and one group chat, may send before the bot stops answering
 * until the window ends. Counted per bot process, in memory.
 */
export interface CommandLimits {
  member: CommandLimit;
  chat: CommandLimit;
}

/**
 * A member using the bot by hand sends a few commands a minute; ten leaves room for
 * mistakes and retries. A group may have many members at once, but Telegram lets the bot
 * post only 20 messages a minute there: past 30 commands a minute most answers could not
 * be posted anyway.
 */
export const COMMAND_LIMITS = {
  member: { commands: 10, windowMs: 60_000 },
  chat: { commands: 30, windowMs: 60_000 },
} satisfies CommandLimits;

/**
 * Whether a command may run. A refused one carries the one short answer the sender gets
 * for crossing the limit; every further command in the same window is refused silently.
 */
export type Admission = { admitted: true } | { admitted: false; answer: string | undefined };

/** "10 commands in a minute", "2 commands in 30 seconds": a limit as a member reads it. */
function limitText(limit: CommandLimit): string {
  const ms = limit.windowMs;
  const window =
    ms === 60_000
      ? 'a minute'
      : ms % 60_000 === 0
        ? `${ms / 60_000} minutes`
        : `${Math.ceil(ms / 1000)} seconds`;
  return `${limit.commands} command${limit.commands === 1 ? '' : 's'} in ${window}`;
}

function checked(name: string, limit: CommandLimit): CommandLimit {
  if (!Number.isInteger(limit.commands) || limit.commands < 1)
    throw new Error(`command limits: ${name}.commands must be a whole number of at least 1`);
  if (!Number.isFinite(limit.windowMs) || limit.windowMs < 1000)
    throw new Error(`command limits: ${name}.windowMs must be at least 1000`);
  return limit;
}

/**
 * Counts commands per member and per group chat (rate-limiter-flexible's in-memory fixed
 * window). A member over their limit is refused before the chat's count is touched, so one
 * member's flood does not use up everyone else's commands in the group.
 */
export class CommandThrottle {
  readonly #limits: CommandLimits;
  readonly #member: RateLimiterMemory;
  readonly #chat: RateLimiterMemory;

  constructor(limits: CommandLimits = COMMAND_LIMITS) {
    this.#limits = { member: checked('member', limits.member), chat: checked('chat', limits.chat) };
    this.#member = limiter(limits.member);
    this.#chat = limiter(limits.chat);
  }

  /** Counts a command from `member`, sent in the group `chat` (undefined: a private chat). */
  async admit(member: string, chat: string | undefined): Promise<Admission> {
    const { member: perMember, chat: perChat } = this.#limits;
    const over = await overLimit(this.#member, member);
    if (over)
      return refusal(
        over,
        perMember,
        (wait) =>
          `Slow down: you sent more than ${limitText(perMember)}. I will answer you again in ${wait} s.`,
      );
    if (chat === undefined) return { admitted: true };
    const chatOver = await overLimit(this.#chat, chat);
    if (!chatOver) return { admitted: true };
    return refusal(
      chatOver,
      perChat,
      (wait) =>
        `Slow down: this chat sent more than ${limitText(perChat)}. I will answer commands here again in ${wait} s.`,
    );
  }
}

function limiter(limit: CommandLimit): RateLimiterMemory {
  return new RateLimiterMemory({ points: limit.commands, duration: limit.windowMs / 1000 });
}

/** Takes one command from `key`'s allowance; what the limiter said when there was none left. */
async function overLimit(
  limiter: RateLimiterMemory,
  key: string,
): Promise<RateLimiterRes | undefined> {
  try {
    await limiter.consume(key);
    return undefined;
  } catch (rejection) {
    // The limiter rejects with its state when the allowance is used up, and with an Error
    // only when its store fails (never, in memory).
    if (rejection instanceof RateLimiterRes) return rejection;
    throw new Error('command limits: the limiter failed', { cause: rejection });
  }
}

/** Only the first command over the limit is answered; the rest of the window is silent. */
function refusal(
  state: RateLimiterRes,
  limit: CommandLimit,
  answer: (waitSeconds: number) => string,
): Admission {
  const first = state.consumedPoints === limit.commands + 1;
  return {
    admitted: false,
    answer: first ? answer(Math.max(1, Math.ceil(state.msBeforeNext / 1000))) : undefined,
  };
}
