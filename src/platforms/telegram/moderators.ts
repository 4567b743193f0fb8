import type { Api } from 'grammy';
import type { Logger } from '../../logger.js';

const CACHE_MS = 5 * 60_000;

/**
 * Who may grant and revoke on Telegram: user ids the operator named, and administrators of
 * the groups the operator named (asked with getChatMember, cached for five minutes).
 */
export class TelegramModerators {
  readonly #cache = new Map<string, { value: boolean; until: number }>();

  constructor(
    private readonly api: Api,
    private readonly userIds: readonly string[],
    private readonly adminGroups: readonly string[],
    private readonly logger: Logger,
  ) {}

  async isModerator(userId: number): Promise<boolean> {
    if (this.userIds.includes(String(userId))) return true;
    return this.isGroupAdmin(userId);
  }

  /** Whether the member administers one of the admin groups (their jobs also go first). */
  async isGroupAdmin(userId: number): Promise<boolean> {
    const id = String(userId);
    if (this.adminGroups.length === 0) return false;
    const cached = this.#cache.get(id);
    if (cached && cached.until > Date.now()) return cached.value;
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
    this.#cache.set(id, { value, until: Date.now() + CACHE_MS });
    return value;
  }
}
