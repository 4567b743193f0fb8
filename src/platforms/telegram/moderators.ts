import type { Api } from 'grammy';
import { LRUCache } from 'lru-cache';
import type { Logger } from '../../logger.js';

/**
 * How many members' admin status is remembered, and for how long. Every member who ever
 * sends a command is asked about once, so the memory is bounded: a busy bot forgets the
 * members it has not seen for a while instead of growing without end. Five minutes is how
 * late a promotion or demotion in an admin group may count.
 */
export const MODERATOR_CACHE = { max: 10_000, ttlMs: 5 * 60_000 };

export interface ModeratorCacheOptions {
  max: number;
  ttlMs: number;
}

/**
 * Who may grant and revoke on Telegram: user ids the operator named, and administrators of
 * the groups the operator named (asked with getChatMember, remembered in a bounded cache).
 */
export class TelegramModerators {
  readonly #cache: LRUCache<string, boolean>;

  constructor(
    private readonly api: Pick<Api, 'getChatMember'>,
    private readonly userIds: readonly string[],
    private readonly adminGroups: readonly string[],
    private readonly logger: Logger,
    cache: ModeratorCacheOptions = MODERATOR_CACHE,
  ) {
    this.#cache = new LRUCache<string, boolean>({ max: cache.max, ttl: cache.ttlMs });
  }

  async isModerator(userId: number): Promise<boolean> {
    if (this.userIds.includes(String(userId))) return true;
    return this.isGroupAdmin(userId);
  }

  /** Whether the member administers one of the admin groups (their jobs also go first). */
  async isGroupAdmin(userId: number): Promise<boolean> {
    const id = String(userId);
    if (this.adminGroups.length === 0) return false;
    const cached = this.#cache.get(id);
    if (cached !== undefined) return cached;
    let value = false;
    for (const group of this.adminGroups) {
      try {
        const member = await this.api.getChatMember(group, userId);
        if (member.status === 'creator' || member.status === 'administrator') {
          value = true;
          break;
        }
      } catch (error) {
        this.logger.warn({ err: error, group }, 'could not check group admins');
      }
    }
    this.#cache.set(id, value);
    return value;
  }

  /** How many members' status is remembered now. */
  get remembered(): number {
    return this.#cache.size;
  }
}
